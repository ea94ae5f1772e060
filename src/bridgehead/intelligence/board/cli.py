"""``bridgehead board``: the three-gap board in the terminal (priorities x gaps at one org unit)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.auth.service import get_user_by_email
from bridgehead.intelligence.board import service, snapshot
from bridgehead.intelligence.board.describe import format_gap
from bridgehead.intelligence.board.schemas import GAP_TITLES, Board

console = Console()
_STYLES = {"ok": "green", "watch": "yellow", "high": "bold red", "unknown": "dim"}


def board_table(board: Board) -> Table:
    """The board as a Rich table: one row per priority, a column per gap with its trend."""
    table = Table(
        title=f"Three-gap board · {board.org_unit_name} · {board.period} (0 = no gap, 100 = all gap)",
        title_justify="left",
    )
    table.add_column("Priority", overflow="fold")
    for title in GAP_TITLES.values():
        table.add_column(title, justify="right")
    for row in board.rows:
        cells = []
        for cell in row.cells:
            trend = " → ".join(format_gap(point.value) for point in cell.trend)
            style = _STYLES[cell.severity]
            cells.append(f"[{style}]{format_gap(cell.value)}[/] ({cell.severity})\n[dim]{trend}[/]")
        table.add_row(row.title, *cells)
    return table


def as_of_line(board: Board) -> str:
    """When the figures were read, and whether they are a kept snapshot with changes recorded since."""
    line = f"Figures as of {board.as_of:%Y-%m-%d %H:%M} UTC"
    if board.from_snapshot:
        line += " (kept from an earlier reading"
        line += "; data changed since: --refresh reads afresh)" if board.changed_since else ")"
    return line


def _viewer(session: Session, email: str | None) -> User | None:
    return get_user_by_email(session, email) if email else None


def board_command(
    period: Annotated[
        str | None, typer.Option(help="2026, 2026-Q1 or 2026-03 (default: this quarter).")
    ] = None,
    unit: Annotated[
        int | None, typer.Option("--unit", min=1, help="Org unit id (default: the whole organisation).")
    ] = None,
    as_email: Annotated[
        str | None,
        typer.Option("--as", help="E-mail of the user whose view to use (default: sees everything)."),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Read the figures afresh and keep them as the board's snapshot.")
    ] = False,
) -> None:
    """Print the three-gap board: alignment, effects and knowledge gap of every active priority."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings

    settings = get_settings()
    with _clean_failures(), _session(settings) as session:
        result = service.board(
            session,
            viewer=_viewer(session, as_email),
            period=period,
            org_unit_id=unit,
            freshness=snapshot.freshness_for(settings.board_snapshot_minutes, refresh=refresh),
        )
        console.print(board_table(result))
        console.print(as_of_line(result), highlight=False)
        for row in result.rows:
            if row.quotas_against:
                console.print(
                    f"[red]{row.title}[/]: {row.quotas_against:,} quota{'s' if row.quotas_against != 1 else ''} "
                    f"(${row.quotas_against_amount:,.0f}) carried in a segment it deprioritises "
                    "(bridgehead plan quotas list)",
                    highlight=False,
                )
        for name, text in result.definitions.items():
            console.print(f"[bold]{name}[/]: {text}", highlight=False)
