"""``bridgehead plan quotas …``: the quota sheet from the command line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bridgehead.common.pagination import PageRequest
from bridgehead.config import get_settings
from bridgehead.errors import ValidationFailed, exit_code_for
from bridgehead.planning.models import QuotaBasis

plan_app = typer.Typer(help="The operating plan: quotas.", no_args_is_help=True)
quotas_app = typer.Typer(
    help="The quota sheet: who carries how much, for which period.", no_args_is_help=True
)
plan_app.add_typer(quotas_app, name="quotas")
console = Console()
MAX_LISTED = 500


def _basis(value: str | None) -> QuotaBasis | None:
    if value is None:
        return None
    from bridgehead.planning.service import parse_basis

    return parse_basis(value)


def _money(amount: Decimal) -> str:
    return f"${amount:,.0f}"


def _percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.0%}"


@quotas_app.command("list")
def list_command(
    period: Annotated[
        str | None, typer.Option(help="Only quotas inside this period: 2026, 2026-Q1 or 2026-03.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only this person's (e-mail).")] = None,
    basis: Annotated[str | None, typer.Option(help="bookings or pipeline_created.")] = None,
) -> None:
    """Quotas with the quota after ramp, what is attained and the attainment, then the total."""
    from bridgehead.auth.service import get_user_by_email
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.planning import service

    with _clean_failures(), _session(get_settings()) as session:
        filters = service.QuotaFilters(
            period=service.quota_period(period) if period else None,
            owner_id=get_user_by_email(session, owner).id if owner else None,
            basis=_basis(basis),
        )
        page = service.list_quotas(
            session, viewer=None, filters=filters, page=PageRequest(page=1, page_size=MAX_LISTED)
        )
        summary = service.summarise(session, viewer=None, filters=filters)
        shown = f" (first {MAX_LISTED})" if page.total > MAX_LISTED else ""
        table = Table(title=f"{page.total:,} quotas{shown}")
        for heading, justify in (
            ("id", "right"),
            ("period", "left"),
            ("basis", "left"),
            ("owner", "left"),
            ("unit", "left"),
            ("segment", "left"),
            ("quota", "right"),
            ("ramp", "right"),
            ("counts", "right"),
            ("attained", "right"),
            ("attainment", "right"),
        ):
            table.add_column(heading, justify=justify)  # type: ignore[arg-type]
        for row in page.items:
            table.add_row(
                str(row.id),
                row.period,
                row.basis.value,
                row.owner_name,
                row.org_unit_name or "—",
                row.segment_name or "—",
                _money(row.quota_amount),
                f"{row.ramp_percent}%",
                _money(row.effective_amount),
                _money(row.attained_amount),
                _percent(row.attainment),
            )
        console.print(table)
        console.print(
            f"{summary.people:,} people: quota {_money(summary.effective_amount)}, "
            f"attained {_money(summary.attained_amount)}, attainment {_percent(summary.attainment)}"
        )


@quotas_app.command("set")
def set_command(
    owner: Annotated[str, typer.Option(help="The person's e-mail.")],
    period: Annotated[str, typer.Option(help="2026, 2026-Q1 or 2026-03.")],
    amount: Annotated[str, typer.Option(help="The full quota in USD, before ramp.")],
    basis: Annotated[str, typer.Option(help="bookings or pipeline_created.")] = "bookings",
    ramp: Annotated[int, typer.Option(min=0, max=100, help="Share of the full quota that counts (%).")] = 100,
    segment: Annotated[str | None, typer.Option(help="The segment the quota is carried in (name).")] = None,
    note: Annotated[str, typer.Option(help="Why this quota.")] = "",
) -> None:
    """Set one quota; setting it again for the same person, basis and period updates it."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from bridgehead.auth.service import get_user_by_email
    from bridgehead.cli import _clean_failures, _fail, _session
    from bridgehead.connectors.values import parse_decimal
    from bridgehead.planning import service
    from bridgehead.planning.schemas import QuotaCreate
    from bridgehead.strategy.models import Segment

    with _clean_failures(), _session(get_settings()) as session:
        try:
            quota_amount = parse_decimal(amount)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="amount", value=amount) from None
        if quota_amount is None:
            raise ValidationFailed("a quota needs an amount", field="amount", value=amount)
        segment_id = None
        if segment:
            segment_id = session.scalar(select(Segment.id).where(Segment.name == segment))
            if segment_id is None:
                raise ValidationFailed("no segment has this name", field="segment", value=segment)
        try:
            data = QuotaCreate(
                owner_id=get_user_by_email(session, owner).id,
                period=period,
                basis=_basis(basis) or QuotaBasis.BOOKINGS,
                quota_amount=quota_amount,
                ramp_percent=ramp,
                segment_id=segment_id,
                note=note,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            _fail(f"{'.'.join(str(part) for part in first.get('loc', ()))}: {first.get('msg')}", 2)
        quota, outcome = service.set_quota(session, actor=None, data=data)
        row = service.quota_rows(session, [quota])[0]
        console.print(
            f"{outcome.capitalize()} quota {row.id}: {row.owner_name}, {row.period} {row.basis.value} "
            f"{_money(row.effective_amount)} ({row.ramp_percent}% of {_money(row.quota_amount)}), "
            f"attained {_money(row.attained_amount)} = {_percent(row.attainment)}"
        )


@quotas_app.command("delete")
def delete_command(quota_id: Annotated[int, typer.Argument(min=1, help="The quota's id.")]) -> None:
    """Remove one quota."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.planning import service

    with _clean_failures(), _session(get_settings()) as session:
        service.delete_quota(session, actor=None, quota_id=quota_id)
        console.print(f"Deleted quota {quota_id}")


@quotas_app.command("load")
def load_command(
    path: Annotated[Path, typer.Argument(help="A CSV or XLSX quota sheet.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count; store nothing.")] = False,
) -> None:
    """Set every quota of a sheet, all or nothing (columns: owner, period, quota_amount, and optionally
    basis, ramp_percent, segment, note, external_id)."""
    from bridgehead.cli import _clean_failures, _session, error_console
    from bridgehead.planning.sheet import QuotaSheetRejected, load_quota_sheet

    with _clean_failures(), _session(get_settings()) as session:
        try:
            result = load_quota_sheet(session, actor=None, path=path, dry_run=dry_run)
        except QuotaSheetRejected as exc:
            error_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
            for problem in exc.context.get("problems", []):
                where = f"line {problem['line']}"
                if problem["field"]:
                    where += f", {problem['field']}={problem['value']!r}"
                error_console.print(f"  {where}: {problem['reason']}", highlight=False, soft_wrap=True)
            raise typer.Exit(exit_code_for(exc)) from None
        verb = "Would set" if dry_run else "Set"
        console.print(
            f"{verb} {result.rows:,} quotas from {path.name}: {result.created:,} created, "
            f"{result.updated:,} updated, {result.unchanged:,} unchanged"
            + (" (dry run: nothing stored)" if dry_run else "")
        )
