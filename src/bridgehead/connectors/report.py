"""What an import is given and what it reports: options, source rows, batches, counts, failures."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bridgehead.connectors.entities import EntitySpec
from bridgehead.connectors.files import RowProblem
from bridgehead.errors import ValidationFailed

Policy = Literal["all_or_nothing", "quarantine"]
ProgressCallback = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class ImportOptions:
    """How to treat bad rows, whether to write, and how the source writes dates and numbers."""

    policy: Policy = "all_or_nothing"
    dry_run: bool = False
    date_formats: tuple[str, ...] = ()
    datetime_formats: tuple[str, ...] = ()
    decimal_comma: bool = False
    batch_size: int = 20_000
    max_kept_problems: int = 5_000


@dataclass
class SourceRow:
    """One row of a source file, already named in Bridgehead's fields (values still raw text)."""

    line: int
    external_id: str
    values: dict[str, str]
    custom: dict[str, str] | None = None
    cells: dict[str, str] | None = None


@dataclass
class ColumnChunk:
    """Consecutive rows of a source file, column-wise: Arrow text columns named in Bridgehead's fields.

    ``external_ids`` and ``values`` hold raw text (``""`` for empty); the engine parses them
    column-wise (``vectorised.py``). ``custom_json`` is each row's custom fields as the JSON text
    the row-wise path writes. ``cells(i)`` gives row ``i``'s cells for reports and quarantine.
    """

    lines: Any
    external_ids: Any
    values: dict[str, Any]
    cells: Callable[[int], dict[str, str]]
    custom_json: Any = None

    def __len__(self) -> int:
        return len(self.lines)


@dataclass
class EntityBatch:
    """All rows of one file for one entity; ``fields`` names the fields the file carries."""

    entity: EntitySpec
    file: str
    fields: tuple[str, ...]
    rows: Iterable[SourceRow]
    has_custom_fields: bool = False
    # Problems found before the engine saw the rows (wrong row width, unreadable cells).
    early_problems: Callable[[], list[RowProblem]] | None = None
    # The same rows column-wise; when given, the engine reads these instead of ``rows``.
    chunks: Iterable[ColumnChunk] | None = None


@dataclass
class EntityCounts:
    """What happened to one entity's rows."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        """Rows seen."""
        return self.created + self.updated + self.unchanged + self.rejected


@dataclass
class ImportReport:
    """The outcome of an import: counts per entity and every rejected row (up to a limit)."""

    source: str
    location: str
    policy: Policy
    dry_run: bool
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0
    rejected_rows: int = 0
    run_id: int | None = None
    status: str = "pending"

    @property
    def ok(self) -> bool:
        """No row was rejected."""
        return self.problem_count == 0

    def add_problem(self, problem: RowProblem, limit: int) -> None:
        """Keep the problem (up to ``limit`` in memory) and count it."""
        self.problem_count += 1
        if len(self.problems) < limit:
            self.problems.append(problem)


class ImportFailed(ValidationFailed):
    """An all-or-nothing import found bad rows; nothing was written. Carries the full report."""

    def __init__(self, report: ImportReport) -> None:
        first = report.problems[0].describe() if report.problems else "see the report"
        # A link that cannot be resolved (parent account, manager) is a problem without a rejected row.
        found = (
            f"{report.rejected_rows} row(s) rejected"
            if report.rejected_rows
            else f"{report.problem_count} problem(s) found"
        )
        super().__init__(f"import refused: {found}, nothing was written; first: {first}")
        self.report = report
