"""The quota sheet as a file: a CSV or XLSX with one quota per row, set all or nothing.

Columns (names compared without case, spaces or underscores):

- ``owner``: the person's e-mail or Salesforce user id (also ``email``, ``owner_email``, ``QuotaOwnerId``);
- ``period``: ``2026``, ``2026-Q1`` or ``2026-03``;
- ``quota_amount``: the full quota (also ``amount``, ``quota``, ``QuotaAmount``);
- optional: ``basis`` (bookings or pipeline_created, default bookings), ``ramp_percent`` (also
  ``ramp``, default 100), ``segment`` (a segment's name), ``note``, ``external_id`` (also ``Id``:
  the Salesforce ForecastingQuota id).

Every row is checked first; one bad row refuses the whole sheet and names every problem with its
line, column and value, and nothing is stored. A row that sets a quota already there with the same
figures counts as unchanged, so loading the same sheet twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.auth.service import require_role
from bridgehead.connectors.files import RowProblem, open_table
from bridgehead.connectors.values import parse_decimal, parse_int, parse_text, salesforce_id
from bridgehead.errors import BridgeheadError, ValidationFailed
from bridgehead.planning.schemas import QuotaCreate, QuotaSheetResult
from bridgehead.planning.service import EDIT_ROLES, parse_basis, quota_period, set_quotas
from bridgehead.strategy.models import Segment

MAX_SHEET_ROWS = 50_000
PROBLEMS_LISTED = 100

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "owner": ("owner", "email", "owneremail", "quotaownerid", "ownerid"),
    "period": ("period",),
    "quota_amount": ("quotaamount", "amount", "quota"),
    "basis": ("basis",),
    "ramp_percent": ("ramppercent", "ramp"),
    "segment": ("segment", "segmentname"),
    "note": ("note", "notes", "comment"),
    "external_id": ("externalid", "id"),
}
REQUIRED = ("owner", "period", "quota_amount")


def parse_sheet_amount(text: str) -> Decimal | None:
    """An amount written either way people write them: ``1,250,000.50`` or ``1.250.000,50``.

    The separator that comes last is the decimal one when both appear; a lone comma followed by
    one or two digits (``1000,5``) is a decimal comma, by three (``1,250``) a thousands separator;
    several dots (``1.250.000``) are thousands separators.
    """
    value = text.strip().replace("\u00a0", "").replace(" ", "").replace("$", "").replace("€", "")
    comma, dot = value.rfind(","), value.rfind(".")
    decimal_comma = False
    if comma >= 0 and dot >= 0:
        decimal_comma = comma > dot
    elif comma >= 0:
        decimal_comma = value.count(",") == 1 and 1 <= len(value) - comma - 1 <= 2
    elif value.count(".") > 1:
        value = value.replace(".", "")
    return parse_decimal(value, decimal_comma=decimal_comma)


class QuotaSheetRejected(ValidationFailed):
    """The sheet has rows that cannot be set; ``problems`` names each (file, line, field, value, reason)."""


@dataclass(frozen=True)
class _Columns:
    index: dict[str, int]
    header: list[str]

    def cell(self, cells: list[str], name: str) -> str:
        position = self.index.get(name)
        return cells[position] if position is not None else ""

    def heading(self, name: str) -> str:
        position = self.index.get(name)
        return self.header[position] if position is not None else name


def _normalise(name: str) -> str:
    return "".join(character for character in name.lower() if character.isalnum())


def _columns(file_name: str, header: list[str]) -> _Columns:
    found: dict[str, int] = {}
    for position, heading in enumerate(header):
        key = _normalise(heading)
        for field, aliases in COLUMN_ALIASES.items():
            if key in aliases and field not in found:
                found[field] = position
    missing = [field for field in REQUIRED if field not in found]
    if missing:
        raise ValidationFailed(
            f"{file_name}: the sheet needs the columns {', '.join(missing)} "
            f"(found: {', '.join(header) or 'none'})",
            field="header",
            value=", ".join(header),
        )
    return _Columns(found, header)


def _owner_lookup(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    by_email = {email.lower(): user_id for user_id, email in session.execute(select(User.id, User.email))}
    by_salesforce_id = {
        str(external_id): user_id
        for user_id, external_id in session.execute(
            select(User.id, User.external_id).where(User.external_id.is_not(None))
        )
    }
    return by_email, by_salesforce_id


def _segment_lookup(session: Session) -> dict[str, int]:
    return {
        name.lower(): segment_id for segment_id, name in session.execute(select(Segment.id, Segment.name))
    }


def _parse_row(
    cells: list[str],
    columns: _Columns,
    owners: tuple[dict[str, int], dict[str, int]],
    segments: dict[str, int],
    problem: Any,
) -> QuotaCreate | None:
    """One row as a ``QuotaCreate``, or ``None`` after reporting each bad cell through ``problem``."""
    values: dict[str, Any] = {}
    before = problem.count

    owner_text = columns.cell(cells, "owner").strip()
    if not owner_text:
        problem("owner", owner_text, "a quota needs its owner (e-mail or Salesforce user id)")
    elif "@" in owner_text:
        owner_id = owners[0].get(owner_text.lower())
        if owner_id is None:
            problem("owner", owner_text, "no user has this e-mail")
        values["owner_id"] = owner_id
    else:
        try:
            normalised = salesforce_id(owner_text)
        except ValueError as exc:
            problem("owner", owner_text, f"neither an e-mail nor a Salesforce user id: {exc}")
        else:
            owner_id = owners[1].get(normalised or "")
            if owner_id is None:
                problem("owner", owner_text, "no user has this Salesforce id")
            values["owner_id"] = owner_id

    period_text = columns.cell(cells, "period").strip()
    try:
        values["period"] = quota_period(period_text).label
    except BridgeheadError as exc:
        problem("period", period_text, exc.message)

    amount_text = columns.cell(cells, "quota_amount")
    try:
        amount = parse_sheet_amount(amount_text)
    except ValueError as exc:
        problem("quota_amount", amount_text, str(exc))
    else:
        if amount is None:
            problem("quota_amount", amount_text, "a quota needs an amount")
        values["quota_amount"] = amount

    basis_text = columns.cell(cells, "basis").strip()
    if basis_text:
        try:
            values["basis"] = parse_basis(basis_text)
        except BridgeheadError as exc:
            problem("basis", basis_text, exc.message)

    ramp_text = columns.cell(cells, "ramp_percent").replace("%", "")
    try:
        ramp = parse_int(ramp_text, minimum=0, maximum=100)
    except ValueError as exc:
        problem("ramp_percent", ramp_text, f"{exc}; a ramp is a percentage from 0 to 100")
    else:
        if ramp is not None:
            values["ramp_percent"] = ramp

    segment_text = columns.cell(cells, "segment").strip()
    if segment_text:
        segment_id = segments.get(segment_text.lower())
        if segment_id is None:
            problem("segment", segment_text, "no segment has this name")
        values["segment_id"] = segment_id

    for field, limit in (("note", 2_000), ("external_id", 64)):
        text = columns.cell(cells, field)
        try:
            parsed = parse_text(text, max_length=limit)
        except ValueError as exc:
            problem(field, text, str(exc))
        else:
            if parsed is not None:
                values[field] = parsed
    if problem.count > before:
        return None
    try:
        return QuotaCreate.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error.get("loc") else "row"
            problem(field, str(values.get(field, "")), error.get("msg", "invalid"))
        return None


class _Problems:
    """Collects the problems of one file; callable as ``problem(field, value, reason)`` for the current line."""

    def __init__(self, file_name: str, columns: _Columns | None = None) -> None:
        self.file_name = file_name
        self.columns = columns
        self.line = 0
        self.found: list[RowProblem] = []

    @property
    def count(self) -> int:
        return len(self.found)

    def __call__(self, field: str, value: str, reason: str) -> None:
        heading = self.columns.heading(field) if self.columns else field
        self.found.append(RowProblem(self.file_name, self.line, heading, value, reason))


def load_quota_sheet(
    session: Session, *, actor: User | None, path: Path, dry_run: bool = False, file_name: str | None = None
) -> QuotaSheetResult:
    """Set every quota of the sheet at ``path``, all or nothing; ``dry_run`` counts without storing.

    Every row is parsed first; then ``set_quotas`` checks them all against what is stored and
    against each other, set-wise, and writes only if none is refused. Raises ``QuotaSheetRejected``
    naming every bad row (up to ``PROBLEMS_LISTED``); the database is then as it was.
    """
    if actor is not None:
        require_role(actor, *EDIT_ROLES)
    table = open_table(path)
    name = file_name or path.name
    try:
        columns = _columns(name, table.header)
        problems = _Problems(name, columns)
        owners = _owner_lookup(session)
        segments = _segment_lookup(session)
        parsed: list[tuple[int, QuotaCreate]] = []
        rows = 0
        for line, cells in table.rows():
            rows += 1
            problems.line = line
            if rows > MAX_SHEET_ROWS:
                problems("owner", "", f"a quota sheet holds at most {MAX_SHEET_ROWS:,} rows")
                break
            data = _parse_row(cells, columns, owners, segments, problems)
            if data is not None:
                parsed.append((line, data))
        problems.found.extend(table.problems)
    finally:
        if table.close is not None:
            table.close()
    if rows == 0 and not problems.found:
        problems.found.append(RowProblem(name, 1, None, None, "the sheet has a header but no quotas"))
    result = set_quotas(session, actor=actor, rows=parsed, write=not (problems.found or dry_run))
    for refusal in result.refusals:
        problems.found.append(
            RowProblem(name, refusal.line, columns.heading(refusal.field), refusal.value, refusal.reason)
        )
    if problems.found:
        found = sorted(problems.found, key=lambda item: item.line)
        raise QuotaSheetRejected(
            f"{len(found):,} problem{'s' if len(found) != 1 else ''} in {name}; nothing was stored. "
            f"First: {found[0].describe()}",
            field="file",
            value=name,
            problems=[
                {
                    "file": item.file,
                    "line": item.line,
                    "field": item.field,
                    "value": item.value,
                    "reason": item.reason,
                }
                for item in found[:PROBLEMS_LISTED]
            ],
            problem_count=len(found),
        )
    return QuotaSheetResult(
        rows=rows,
        dry_run=dry_run,
        created=result.count("created"),
        updated=result.count("updated"),
        unchanged=result.count("unchanged"),
    )
