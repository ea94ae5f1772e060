"""What runs after an import has written its rows.

Segments, ICP fit and deal checks derive from CRM records, so an import refreshes them before it
commits; otherwise a page would show segments computed from yesterday's accounts. The domains
above the CRM records own these steps; connectors only calls them, in the order of the chain.

The gap scan may run in a transaction of its own once the records are committed
(the command line does so; imports from the web and the API run every step in the request's
transaction). On SQLite a large import is one transaction whose pages spill into the write-ahead
log, and every page the scan reads is then looked up in the log's index, which grows with the log;
after the commit the scan reads the database file, and its detectors can run in two processes
(``gaps.helper``), which read committed rows only. Full Salesforce benchmark import (10.4 million
rows): the scan took 36.7 s inside the import's transaction and 21.3 s after its commit, and the
one large commit became two that took about as long together as the one. Signals are derived data
the scan can always recompute, so an import whose scan failed is still whole: ``bridgehead gaps
scan`` finishes the job.

After the scan the company's three-gap board is read afresh and kept as its snapshot, so the
executive's landing page shows the imported records without reading every deal on the first view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bridgehead.connectors.report import ImportReport

if TYPE_CHECKING:
    from bridgehead.intelligence.gaps.scan import ScanResult

AfterImportStep = Callable[[Session, ImportReport], None]


def records_steps() -> list[AfterImportStep]:
    """The steps that belong in the import's own transaction, in chain order (strategy before deals)."""
    steps: list[AfterImportStep] = []
    from bridgehead.strategy.segments import after_import as segments_after_import

    steps.append(segments_after_import)
    from bridgehead.deals.compliance import after_import as deals_after_import

    steps.append(deals_after_import)
    return steps


def run_after_import(session: Session, report: ImportReport, *, scan_gaps: bool = True) -> None:
    """Run the after-import steps for a committed (not dry-run) import; the caller commits.

    With ``scan_gaps`` false the gap scan is left out, and the gap rules' defaults are written
    instead, so that ``scan_after_import``, run after the caller's commit, may use a helper process.
    """
    if report.dry_run:
        return
    for step in records_steps():
        step(session, report)
    from bridgehead.intelligence.gaps.scan import after_import as gaps_after_import
    from bridgehead.intelligence.gaps.scan import store_defaults

    if scan_gaps:
        gaps_after_import(session, report)
        refresh_board(session)
    else:
        store_defaults(session)
    session.flush()


def scan_after_import(session: Session, report: ImportReport, *, helper_engine: Engine | None) -> ScanResult:
    """The gap scan of a committed (not dry-run) import run with ``scan_gaps`` false, in a
    transaction begun after its commit (``helper_engine``: an engine on the same database, for a
    helper process); the caller commits."""
    from bridgehead.intelligence.gaps.scan import after_import as gaps_after_import

    result = gaps_after_import(session, report, helper_engine=helper_engine)
    refresh_board(session)
    return result


def refresh_board(session: Session) -> None:
    """The last step: the company's three-gap board read afresh from the imported records and kept
    as its snapshot (the executive's landing page then answers at once)."""
    from bridgehead.intelligence.board.service import refresh_company_board

    refresh_company_board(session)
