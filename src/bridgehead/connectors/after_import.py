"""What runs after an import has written its rows, in the same transaction.

Segments, ICP fit and deal checks derive from CRM records, so an import must refresh them before
it commits; otherwise a page would show segments computed from yesterday's accounts. The domains
above the CRM records own these steps; connectors only calls them, in the order of the chain.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from bridgehead.connectors.report import ImportReport

AfterImportStep = Callable[[Session, ImportReport], None]


def after_import_steps() -> list[AfterImportStep]:
    """The derived-data steps, in chain order (strategy before deals before intelligence)."""
    steps: list[AfterImportStep] = []
    from bridgehead.strategy.segments import after_import as segments_after_import

    steps.append(segments_after_import)
    from bridgehead.deals.compliance import after_import as deals_after_import

    steps.append(deals_after_import)
    from bridgehead.intelligence.gaps.scan import after_import as gaps_after_import

    steps.append(gaps_after_import)
    return steps


def run_after_import(session: Session, report: ImportReport) -> None:
    """Run every after-import step for a committed (not dry-run) import; the caller commits."""
    if report.dry_run:
        return
    for step in after_import_steps():
        step(session, report)
    session.flush()
