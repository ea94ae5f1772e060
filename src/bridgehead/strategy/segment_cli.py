"""``bridgehead segments …``: list segments, evaluate them (and ICP fit) with progress and timing."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

segments_app = typer.Typer(help="Segments and ICP fit: list them, evaluate their rules.")
console = Console()


@segments_app.command("list")
def list_command() -> None:
    """List segments with stance, member count and rule."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings
    from bridgehead.strategy.segments import list_segments

    with _clean_failures(), _session(get_settings()) as session:
        items = list_segments(session)
        table = Table(title=f"{len(items)} segments")
        for column in ("id", "name", "stance", "active", "members", "evaluated", "rule"):
            table.add_column(column, justify="right" if column in ("id", "members") else "left")
        for item in items:
            table.add_row(
                str(item.id),
                item.name,
                item.stance.value,
                "yes" if item.is_active else "no",
                f"{item.member_count:,}",
                item.evaluated_at.strftime("%Y-%m-%d %H:%M UTC") if item.evaluated_at else "never",
                item.rule_text,
            )
        console.print(table)


@segments_app.command("evaluate")
def evaluate_command(
    segment_id: Annotated[
        list[int] | None,
        typer.Option("--id", help="Only these segments (repeatable); default every active one."),
    ] = None,
    skip_icp: Annotated[bool, typer.Option("--skip-icp", help="Do not rescore ICP fit.")] = False,
) -> None:
    """Re-evaluate segment members (and ICP fit) in the database; print counts and time taken."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings
    from bridgehead.strategy.icp import score_accounts
    from bridgehead.strategy.segments import evaluate_segments, get_segment

    with _clean_failures(), _session(get_settings()) as session:
        for wanted in segment_id or []:
            get_segment(session, segment_id=wanted)
        started = time.perf_counter()
        progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        with progress:
            task = progress.add_task("segments", total=None)

            def report(step: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            counts = evaluate_segments(session, segment_ids=segment_id or None, progress=report)
        segment_seconds = time.perf_counter() - started
        scored = None
        if not skip_icp:
            icp_started = time.perf_counter()
            scored = score_accounts(session)
            icp_seconds = time.perf_counter() - icp_started
        names = {item: get_segment(session, segment_id=item).name for item in counts}
        table = Table(title=f"{len(counts)} segments evaluated in {segment_seconds:.2f} s")
        table.add_column("id", justify="right")
        table.add_column("segment")
        table.add_column("members", justify="right")
        for item, members in counts.items():
            table.add_row(str(item), names[item], f"{members:,}")
        console.print(table)
        if scored is not None:
            console.print(f"ICP fit: {scored:,} accounts scored in {icp_seconds:.2f} s")
