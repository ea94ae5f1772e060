"""``bridgehead import …``: CSV/XLSX through a mapping, Salesforce and HubSpot exports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from bridgehead.connectors.engine import (
    EntityBatch,
    ImportFailed,
    ImportOptions,
    ImportReport,
    ProgressCallback,
)

import_app = typer.Typer(help="Import CRM data: Salesforce, HubSpot, or any CSV/XLSX through a mapping.")
console = Console()

DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")]
Quarantine = Annotated[
    bool,
    typer.Option(
        "--quarantine", help="Import the good rows; set the bad ones aside (default: all or nothing)."
    ),
]
ErrorsFile = Annotated[
    Path | None, typer.Option("--errors", help="Write rejected rows with their reasons to this CSV.")
]


# Exit code of an import that was committed while the gap scan after it failed.
SCAN_AFTER_IMPORT_FAILED = 13


def _options(dry_run: bool, quarantine: bool) -> ImportOptions:
    return ImportOptions(policy="quarantine" if quarantine else "all_or_nothing", dry_run=dry_run)


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<40}"),
        TextColumn("{task.completed:>12,} rows"),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=None)
        progress.update(tasks[step], completed=done)

    with progress:
        yield report


def print_report(report: ImportReport, errors_file: Path | None) -> None:
    """The counts per entity and the first rejected rows."""
    from bridgehead.connectors.service import write_errors_csv

    verb = "would be" if report.dry_run else "were"
    table = Table(title=f"Import {report.status} ({report.source}: {report.location}) — rows that {verb}:")
    for column in ("records", "created", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="left" if column == "records" else "right")
    for name, counts in report.counts.items():
        table.add_row(
            name,
            f"{counts.created:,}",
            f"{counts.updated:,}",
            f"{counts.unchanged:,}",
            f"{counts.rejected:,}",
        )
    console.print(table)
    for problem in report.problems[:20]:
        console.print(f"  [red]rejected[/] {problem.describe()}", highlight=False)
    if report.problem_count > 20:
        console.print(f"  … and {report.problem_count - 20:,} more")
    if errors_file is not None and report.problem_count:
        written = write_errors_csv(report, errors_file)
        console.print(f"Wrote {written:,} rejected rows with reasons to {errors_file}")


def run_cli_import(
    run: Callable[[Session, ProgressCallback], ImportReport], errors_file: Path | None, dry_run: bool
) -> None:
    """Run an import in one transaction and commit it unless dry run (on refusal print the report
    and exit 2); then scan for gaps in a second transaction.

    ``run`` imports with ``scan_gaps=False``: the records, segments and deal checks commit together,
    and the gap scan reads them from the committed file (see ``after_import``). If the scan fails
    the import stands; the report says so and names the command that finishes the scan.
    """
    from bridgehead.cli import _clean_failures, _fail, _session
    from bridgehead.config import get_settings
    from bridgehead.connectors.after_import import scan_after_import
    from bridgehead.db import begin_trusted_bulk_write

    settings = get_settings()
    with _clean_failures():
        try:
            with _session(settings) as session, _progress() as progress:
                # The engine stores only references it has looked up in this transaction.
                begin_trusted_bulk_write(session)
                report = run(session, progress)
                if dry_run:
                    session.rollback()
        except ImportFailed as exc:
            print_report(exc.report, errors_file)
            _fail(exc.message, 2)
    if report.dry_run:
        print_report(report, errors_file)
        return
    scan_error: str | None = None
    scanned = None
    try:
        with _session(settings) as session, console.status("scanning for execution gaps"):
            # This transaction has written nothing yet: the scan may use a helper process.
            scanned = scan_after_import(session, report, helper_engine=session.get_bind().engine)
    except (Exception, KeyboardInterrupt) as exc:
        scan_error = "interrupted" if isinstance(exc, KeyboardInterrupt) else _describe(exc)
    print_report(report, errors_file)
    if scanned is not None:
        console.print(
            f"Gap scan after the import: {scanned.raised:,} signals raised, {scanned.still_open:,} "
            f"still open, {scanned.resolved:,} resolved ('bridgehead gaps list' prints the inbox)."
        )
        if scanned.helper_error:
            console.print(
                f"[yellow]{scanned.helper_error}; its detectors ran on the scan's own connection.[/]"
            )
    if scan_error is not None:
        _fail(
            f"the import was committed, but the gap scan after it did not finish ({scan_error}); "
            "run 'bridgehead gaps scan' to bring the gap signals up to date",
            SCAN_AFTER_IMPORT_FAILED,
        )


def _describe(exc: BaseException) -> str:
    """One line naming what failed, never a traceback."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        lines = str(exc.orig).strip().splitlines()
        return f"database error: {lines[0] if lines else type(exc.orig).__name__}"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@import_app.command("csv")
def import_csv(
    path: Annotated[
        Path, typer.Argument(help="A CSV/XLSX file, or a folder holding the files the mapping names.")
    ],
    mapping: Annotated[Path, typer.Option("--mapping", help="TOML mapping (see examples/mappings/).")],
    dry_run: DryRun = False,
    quarantine: Quarantine = False,
    errors: ErrorsFile = None,
) -> None:
    """Import any CSV or XLSX through a mapping of columns to fields."""
    from bridgehead.connectors.mapping import load_mapping
    from bridgehead.connectors.service import import_with_mapping

    def run(session: Session, progress: ProgressCallback) -> ImportReport:
        return import_with_mapping(
            session,
            actor=None,
            location=path,
            mapping=load_mapping(mapping),
            options=_options(dry_run, quarantine),
            progress=progress,
            scan_gaps=False,
        )

    run_cli_import(run, errors, dry_run)


def _import_source(
    source: str,
    directory: Path,
    batches: Callable[[Path], Iterable[EntityBatch]],
    dry_run: bool,
    quarantine: bool,
    errors: Path | None,
) -> None:
    from bridgehead.connectors.service import import_batches

    options = _options(dry_run, quarantine)

    def run(session: Session, progress: ProgressCallback) -> ImportReport:
        return import_batches(
            session,
            actor=None,
            source=source,
            location=str(directory),
            batches=batches(directory),
            options=options,
            progress=progress,
            scan_gaps=False,
        )

    run_cli_import(run, errors, dry_run)


@import_app.command("salesforce")
def import_salesforce(
    directory: Annotated[
        Path, typer.Argument(help="A Data Loader or weekly Data Export folder of CSV files.")
    ],
    dry_run: DryRun = False,
    quarantine: Quarantine = False,
    errors: ErrorsFile = None,
) -> None:
    """Import a Salesforce export: users, accounts, contacts, opportunities, history, roles, tasks, events."""
    from bridgehead.connectors.salesforce import salesforce_batches

    _import_source("salesforce", directory, salesforce_batches, dry_run, quarantine, errors)


@import_app.command("hubspot")
def import_hubspot(
    directory: Annotated[
        Path, typer.Argument(help="A folder of HubSpot exports (companies, contacts, deals).")
    ],
    dry_run: DryRun = False,
    quarantine: Quarantine = False,
    errors: ErrorsFile = None,
) -> None:
    """Import HubSpot CRM exports of companies, contacts and deals."""
    from bridgehead.connectors.hubspot import hubspot_batches

    _import_source("hubspot", directory, hubspot_batches, dry_run, quarantine, errors)
