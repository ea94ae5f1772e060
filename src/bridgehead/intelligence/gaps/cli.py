"""``bridgehead gaps …``: run the detectors, list the inbox in the terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridgehead.config import get_settings
from bridgehead.intelligence.gaps.models import GapKind

gaps_app = typer.Typer(help="Execution gaps: run the detectors, read the gap inbox.", no_args_is_help=True)
console = Console()


@gaps_app.command("scan")
def scan_command(
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Run only this detector (repeatable); default: all.")
    ] = None,
) -> None:
    """Run every detector (or those named) set-wise and print raised / still open / resolved per kind."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.intelligence.gaps.rules import check_kind
    from bridgehead.intelligence.gaps.scan import DETECTORS, KindResult, scan, store_defaults

    with _clean_failures():
        kinds = [check_kind(name) for name in kind] if kind else None
        settings = get_settings()
        # Committed first, so the scan's helper connection (which reads committed rows) sees them.
        with _session(settings) as session:
            store_defaults(session)
        with _session(settings) as session:
            todo = kinds or list(DETECTORS)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("detecting", total=len(todo))

                def advance(item: KindResult) -> None:
                    progress.update(task, advance=1, description=f"detecting: {item.kind.value} done")

                # This transaction has written nothing yet: a helper connection may run detectors.
                result = scan(session, kinds=kinds, progress=advance, helper_engine=session.get_bind().engine)
        if result.helper_error:
            console.print(
                f"[yellow]{result.helper_error}; its detectors ran on the scan's own connection.[/]"
            )
        table = Table(title="Gap scan", title_justify="left")
        for column in ("Detector", "Raised", "Still open", "Resolved"):
            table.add_column(column, justify="left" if column == "Detector" else "right")
        for item in result.kinds:
            label = item.kind.value if item.enabled else f"{item.kind.value} (off)"
            table.add_row(label, f"{item.raised:,}", f"{item.still_open:,}", f"{item.resolved:,}")
        table.add_section()
        table.add_row("total", f"{result.raised:,}", f"{result.still_open:,}", f"{result.resolved:,}")
        console.print(table)


@gaps_app.command("list")
def list_command(
    as_email: Annotated[
        str | None, typer.Option("--as", help="Show the inbox as this user sees it (default: everything).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind of gap.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many signals to print.")] = 20,
) -> None:
    """Print the inbox, largest money at risk first."""
    from bridgehead.auth.models import Role, User
    from bridgehead.auth.service import get_user_by_email
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.common.pagination import PageRequest
    from bridgehead.intelligence.gaps.rules import check_kind
    from bridgehead.intelligence.gaps.schemas import SignalFilters
    from bridgehead.intelligence.gaps.service import list_signals

    with _clean_failures(), _session(get_settings()) as session:
        parsed: GapKind | None = check_kind(kind) if kind else None
        # The operator at the terminal sees everything, as an administrator would.
        viewer = (
            get_user_by_email(session, as_email) if as_email else User(id=0, role=Role.ADMIN, full_name="")
        )
        page = list_signals(
            session,
            viewer=viewer,
            filters=SignalFilters(kind=parsed),
            page=PageRequest(page=1, page_size=limit),
        )
        table = Table(title=f"Gap inbox: {page.total:,} signals", title_justify="left")
        for column in ("Id", "Severity", "Gap", "Deal or account", "Owner", "At risk", "Explanation"):
            table.add_column(
                column, justify="right" if column in ("Id", "At risk") else "left", overflow="fold"
            )
        for item in page.items:
            table.add_row(
                str(item.id),
                item.severity.value,
                item.kind.value,
                item.opportunity_name or item.account_name or "—",
                item.owner_name or "—",
                f"{item.amount_at_risk or 0:,.0f}",
                item.explanation,
            )
        console.print(table)
