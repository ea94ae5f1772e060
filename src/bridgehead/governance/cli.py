"""``bridgehead initiatives …``: the initiative portfolio from the command line."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bridgehead.common.pagination import PageRequest
from bridgehead.config import get_settings
from bridgehead.errors import ValidationFailed
from bridgehead.governance.models import InitiativeStage

initiatives_app = typer.Typer(help="Change initiatives and their stage gates.", no_args_is_help=True)
console = Console()
MAX_LISTED = 500


def _money(amount: Decimal | None) -> str:
    return "—" if amount is None else f"${amount:,.0f}"


def _stage(value: str) -> InitiativeStage:
    try:
        return InitiativeStage(value.strip().lower())
    except ValueError:
        valid = ", ".join(stage.value for stage in InitiativeStage)
        raise ValidationFailed(f"no such stage; use one of {valid}", field="stage", value=value) from None


@initiatives_app.command("list")
def list_command(
    stage: Annotated[str | None, typer.Option(help="Only this stage (identified, detailed, …).")] = None,
    priority: Annotated[
        int | None, typer.Option(min=1, help="Only initiatives serving this priority id.")
    ] = None,
) -> None:
    """List initiatives with stage, owner and expected value."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.governance import detail, initiatives

    with _clean_failures(), _session(get_settings()) as session:
        page = initiatives.list_initiatives(
            session,
            stage=_stage(stage) if stage else None,
            priority_id=priority,
            page=PageRequest(page=1, page_size=MAX_LISTED),
        )
        names = detail.user_names(session, [item.owner_id for item in page.items])
        table = Table(
            title=f"{page.total} initiatives" + (f" (first {MAX_LISTED})" if page.total > MAX_LISTED else "")
        )
        table.add_column("id", justify="right")
        table.add_column("title")
        table.add_column("stage")
        table.add_column("priority", justify="right")
        table.add_column("owner")
        table.add_column("expected", justify="right")
        table.add_column("next gate due")
        for item in page.items:
            table.add_row(
                str(item.id),
                item.title,
                item.stage.value,
                str(item.priority_id or "—"),
                names.get(item.owner_id, "—"),
                _money(item.expected_value_amount),
                item.next_gate_due_date.isoformat() if item.next_gate_due_date else "—",
            )
        console.print(table)


@initiatives_app.command("show")
def show_command(initiative_id: Annotated[int, typer.Argument(min=1, help="The initiative's id.")]) -> None:
    """Show one initiative: business case, next gate and what it lacks, milestones, value."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.governance import detail, initiatives, value

    with _clean_failures(), _session(get_settings()) as session:
        info = detail.initiative_detail(session, initiative_id=initiative_id)
        measured = value.measure_value(
            session, initiative=initiatives.get_initiative(session, initiative_id=info.id)
        )
        names = detail.user_names(session, [info.owner_id, info.sponsor_id, info.controller_id])
        console.print(
            f"[bold]#{info.id} {info.title}[/]  stage: [bold]{info.stage.value}[/]", highlight=False
        )
        facts = Table(show_header=False, box=None)
        facts.add_column("field", style="dim")
        facts.add_column("value")
        latest = info.confirmations[-1] if info.confirmations else None
        for label, text in (
            ("owner", names.get(info.owner_id, "—")),
            ("sponsor", names.get(info.sponsor_id, "—")),
            ("controller", names.get(info.controller_id, "—") if info.controller_id else "—"),
            ("priority", str(info.priority_id or "—")),
            ("window", f"{info.start_date or '—'} → {info.end_date or '—'}"),
            ("claimed value", _money(info.expected_value_amount)),
            (
                "measured uplift",
                _money(measured.bookings_uplift_amount)
                if measured.measurable
                else f"not measurable: {measured.reason}",
            ),
            ("confirmed value", _money(latest.realised_value_amount) if latest else "not confirmed"),
            ("cost", _money(info.cost_amount)),
        ):
            facts.add_row(label, text)
        console.print(facts)
        if info.next_gate.next_stage:
            missing = "; ".join(info.next_gate.missing) or "nothing: the gate is met"
            console.print(
                f"Next gate [bold]{info.next_gate.next_stage.value}[/] — missing: {missing}", highlight=False
            )
        milestones = Table(title="Milestones")
        milestones.add_column("due")
        milestones.add_column("milestone")
        milestones.add_column("done")
        for milestone in info.milestones:
            done = milestone.done_at.date().isoformat() if milestone.done_at else "open"
            milestones.add_row(milestone.due_date.isoformat(), milestone.title, done)
        console.print(milestones)
        for step in info.gate_history:
            console.print(
                f"{step.occurred_at:%Y-%m-%d} {step.from_stage.value if step.from_stage else '—'} → {step.to_stage.value}",
                highlight=False,
            )
