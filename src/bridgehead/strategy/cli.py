"""``bridgehead priorities …`` and ``bridgehead trace …``: the strategy tree and trace at the command line.

The command line acts for the operator, who sees every record: traces are computed with the
organisation-wide view of an admin, or of the user named with ``--as``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import get_user_by_email
from bridgehead.common.types import MAX_ID
from bridgehead.errors import NotFound
from bridgehead.strategy import backbriefs, service, statements, trace
from bridgehead.strategy.schemas import PriorityFilters, PriorityRead, RecordTrace

priorities_app = typer.Typer(help="Strategic priorities and their back-briefs.", no_args_is_help=True)
trace_app = typer.Typer(
    help="Trace a record up to the priority it serves, or a priority down.", no_args_is_help=True
)
console = Console()

IdArgument = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The record's id.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="E-mail of the user whose view to use (default: an admin's, sees all)."),
]


def _viewer(session: Session, email: str | None) -> User:
    if email:
        return get_user_by_email(session, email)
    admin = session.scalars(
        select(User)
        .where(User.role.in_([Role.ADMIN, Role.EXECUTIVE]), User.is_active.is_(True))
        .order_by(User.id)
    ).first()
    if admin is None:
        raise NotFound("no admin or executive user to trace as; pass --as EMAIL")
    return admin


def _target(item: PriorityRead) -> str:
    return statements.format_target(item.target_metric, item.target_value)


def _counts_text(item: PriorityRead) -> str:
    counts = item.back_briefs
    parts = [
        f"{getattr(counts, key)} {key}"
        for key in ("missing", "returned", "draft", "submitted", "accepted")
        if getattr(counts, key)
    ]
    return ", ".join(parts) or "-"


@priorities_app.command("list")
def list_command(
    status: Annotated[
        str | None, typer.Option(help="Only this status: draft, active, achieved, dropped.")
    ] = None,
) -> None:
    """The priority tree: restatements indented under their parent, with targets and back-brief status."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings

    with _clean_failures(), _session(get_settings()) as session:
        listed = service.list_priorities(session, filters=PriorityFilters(status=status))
        counts = backbriefs.status_counts(session)
        for item in listed:
            item.back_briefs = counts.get(item.id, item.back_briefs)
        if not listed:
            console.print(
                "No priorities yet. An executive states them on the Strategy page or through the API."
            )
            return
        table = Table(title=f"{len(listed)} priorities")
        table.add_column("id", justify="right")
        table.add_column("priority")
        table.add_column("unit")
        table.add_column("target", justify="right")
        table.add_column("period")
        table.add_column("status")
        table.add_column("v", justify="right")
        table.add_column("back-briefs below")
        for item in listed:
            table.add_row(
                str(item.id),
                "  " * item.depth + ("↳ " if item.depth else "") + item.title,
                item.org_unit.name,
                _target(item),
                item.target_period,
                item.status,
                str(item.version),
                _counts_text(item),
            )
        console.print(table)


def _print_record(traced: RecordTrace) -> None:
    tree = Tree(f"[bold]{traced.kind} {traced.id}[/]: {traced.name}")
    for chain in traced.serves:
        links = [f"segment {link.name} ({link.stance})" for link in chain.via_segments]
        links += [f"pipeline definition {ref.name}" for ref in chain.via_definitions]
        branch = tree.add(
            f"serves [green]{chain.priority.title}[/] ({chain.priority.org_unit.name}) via {', '.join(links)}"
        )
        for ancestor in chain.ancestors:
            branch = branch.add(f"restates {ancestor.title} ({ancestor.org_unit.name})")
    for chain in traced.deprioritised_by:
        tree.add(f"[red]deprioritised by {chain.priority.title}[/]")
    console.print(tree)
    console.print(
        ("[red]" if traced.in_deprioritised_segment or traced.serves_no_priority else "[green]")
        + traced.summary
    )


@trace_app.command("account")
def trace_account_command(account_id: IdArgument, as_user: AsOption = None) -> None:
    """The chain from an account up to the priorities it serves."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings

    with _clean_failures(), _session(get_settings()) as session:
        _print_record(trace.trace_account(session, viewer=_viewer(session, as_user), account_id=account_id))


@trace_app.command("opportunity")
def trace_opportunity_command(opportunity_id: IdArgument, as_user: AsOption = None) -> None:
    """The chain from an opportunity up to the priorities it serves."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings

    with _clean_failures(), _session(get_settings()) as session:
        _print_record(
            trace.trace_opportunity(session, viewer=_viewer(session, as_user), opportunity_id=opportunity_id)
        )


@trace_app.command("quota")
def trace_quota_command(quota_id: IdArgument, as_user: AsOption = None) -> None:
    """The chain from a quota up to the priorities its segment serves."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings

    with _clean_failures(), _session(get_settings()) as session:
        _print_record(trace.trace_quota(session, viewer=_viewer(session, as_user), quota_id=quota_id))


@trace_app.command("priority")
def trace_priority_command(priority_id: IdArgument, as_user: AsOption = None) -> None:
    """What executes a priority in its period, its chain, restatements and back-brief status."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings

    with _clean_failures(), _session(get_settings()) as session:
        traced = trace.trace_priority(session, viewer=_viewer(session, as_user), priority_id=priority_id)
        item = traced.priority
        console.print(f"[bold]{item.title}[/] ({item.org_unit.name}, {item.status}, v{item.version})")
        for ancestor in traced.ancestors:
            console.print(f"  restates {ancestor.title} ({ancestor.org_unit.name})")
        ex = traced.execution
        figures = Table(title=f"What executes it, {ex.period_start} to {ex.period_end}")
        figures.add_column("measure")
        figures.add_column("value", justify="right")
        actual = statements.format_target(item.target_metric, ex.actual) if ex.actual is not None else "-"
        for label, value in (
            (f"{ex.actual_label} (target {_target(item)})", actual),
            ("accounts", f"{ex.accounts:,}"),
            ("open pipeline", f"${ex.open_amount:,.0f} in {ex.open_count:,} deals"),
            ("won in period", f"${ex.won_amount:,.0f} in {ex.won_count:,} deals"),
            ("activities in period", f"{ex.activities:,}"),
            (
                "open deals in deprioritised segments",
                f"${ex.deprioritised_open_amount:,.0f} in {ex.deprioritised_open_count:,}",
            ),
        ):
            figures.add_row(label, value)
        console.print(figures)
        if traced.segments:
            console.print(
                "segments: " + ", ".join(f"{link.name} ({link.stance})" for link in traced.segments)
            )
        briefs = Table(title="Back-briefs")
        briefs.add_column("unit")
        briefs.add_column("status")
        for slot in traced.back_briefs:
            briefs.add_row("  " * (slot.depth - 1) + slot.org_unit.name, slot.status)
        console.print(briefs)
