"""Import and export use cases: who may run them, and the reports they leave behind."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import require_role
from bridgehead.connectors.after_import import run_after_import
from bridgehead.connectors.engine import (
    EntityBatch,
    ImportOptions,
    ImportReport,
    ProgressCallback,
    import_page_cache,
    run_import,
)
from bridgehead.connectors.mapping import Mapping, import_options, mapping_batches

IMPORT_ROLES = (Role.PLANNER, Role.ADMIN)
# Cells starting with these are formulas to a spreadsheet; exported text must never run.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def check_may_import(actor: User | None) -> None:
    """Only planners and admins import; ``None`` is the operator at the command line."""
    if actor is not None:
        require_role(actor, *IMPORT_ROLES)


def import_with_mapping(
    session: Session,
    *,
    actor: User | None,
    location: Path,
    mapping: Mapping,
    options: ImportOptions,
    progress: ProgressCallback | None = None,
    scan_gaps: bool = True,
) -> ImportReport:
    """Import a folder (paths relative to it) or a single file through a mapping.

    ``scan_gaps`` false leaves the gap scan to ``after_import.scan_after_import`` after the commit.
    """
    check_may_import(actor)
    single = location if location.is_file() else None
    directory = location.parent if single else location
    # The after-import steps read the records just written: the import's page cache stays.
    with import_page_cache(session):
        report = run_import(
            session,
            source="csv",
            location=str(location),
            batches=mapping_batches(mapping, directory, single_file=single),
            options=import_options(mapping, options),
            actor_id=actor.id if actor else None,
            progress=progress,
        )
        if progress is not None and not report.dry_run:
            progress("after the import: segments, fit scores and playbook checks", 0, None)
        run_after_import(session, report, scan_gaps=scan_gaps)
    return report


def import_batches(
    session: Session,
    *,
    actor: User | None,
    source: str,
    location: str,
    batches: Iterable[EntityBatch],
    options: ImportOptions,
    progress: ProgressCallback | None = None,
    scan_gaps: bool = True,
) -> ImportReport:
    """Import batches a source adapter produced (Salesforce, HubSpot).

    ``scan_gaps`` false leaves the gap scan to ``after_import.scan_after_import`` after the commit.
    """
    check_may_import(actor)
    # The after-import steps read the records just written: the import's page cache stays.
    with import_page_cache(session):
        report = run_import(
            session,
            source=source,
            location=location,
            batches=batches,
            options=options,
            actor_id=actor.id if actor else None,
            progress=progress,
        )
        if progress is not None and not report.dry_run:
            progress("after the import: segments, fit scores and playbook checks", 0, None)
        run_after_import(session, report, scan_gaps=scan_gaps)
    return report


def neutralise_formula(text: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate with ``'`` so it stays text (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_errors_csv(report: ImportReport, path: Path) -> int:
    """Write every kept problem as a CSV a person can fix rows from; returns the rows written."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "line", "field", "value", "reason"])
        for problem in report.problems:
            writer.writerow(
                [
                    neutralise_formula(problem.file),
                    problem.line,
                    neutralise_formula(problem.field or ""),
                    neutralise_formula(problem.value or ""),
                    neutralise_formula(problem.reason),
                ]
            )
    return len(report.problems)
