"""Exports: any list as CSV or XLSX (the page's filters and the viewer's visibility), and territory
assignments and quotas as Salesforce Data Loader files.

Rows are read with SQL in chunks and written as they come, so an export of a million deals never
holds them all in memory. Every text cell goes through ``neutralise_formula``: a name such as
``=HYPERLINK(…)`` reaches the spreadsheet as text, never as a formula.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import User
from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import Period
from bridgehead.connectors.schemas import ExportFormat
from bridgehead.connectors.service import check_may_import, neutralise_formula
from bridgehead.connectors.values import salesforce_id
from bridgehead.crm.models import Account, Opportunity
from bridgehead.crm.schemas import AccountFilters, OpportunityFilters
from bridgehead.crm.service import account_list_criteria, opportunity_list_criteria
from bridgehead.errors import ValidationFailed
from bridgehead.planning.models import Quota, QuotaBasis
from bridgehead.planning.service import QuotaFilters, effective_amount, list_quotas

Cell = str | int | Decimal | dt.date | dt.datetime | bool | None
CHUNK_ROWS = 2_000
XLSX_MAX_ROWS = 1_048_575  # a worksheet holds 1,048,576 rows, one of them the header
MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DATA_LOADER_HEADER = ["Id", "OwnerId"]


@dataclass
class ExportTable:
    """A table to write: its name (for the file and sheet), header, and a stream of rows."""

    name: str
    header: list[str]
    rows: Iterator[list[Cell]]


def export_filename(name: str, export_format: ExportFormat, today: dt.date | None = None) -> str:
    """``opportunities-2026-03-04.csv``."""
    return f"{name}-{(today or dt.date.today()).isoformat()}.{export_format.value}"


def _stream(
    session: Session, statement: Any, convert: Callable[[Any], list[Cell]], chunk: int
) -> Iterator[list[Cell]]:
    result = session.execute(statement.execution_options(yield_per=chunk))
    try:
        for partition in result.partitions():
            for row in partition:
                yield convert(row)
    finally:
        result.close()


# --- lists -------------------------------------------------------------------------------------

OPPORTUNITY_HEADER = [
    "Id",
    "External id",
    "Opportunity",
    "Account",
    "Owner",
    "Stage",
    "Status",
    "Amount",
    "Currency",
    "Probability %",
    "Close date",
    "Created",
    "Forecast category",
    "Type",
    "Lead source",
    "Product",
    "Competitor",
    "Loss reason",
]


def opportunity_export(
    session: Session, *, viewer: User | None, filters: OpportunityFilters, chunk_size: int = CHUNK_ROWS
) -> ExportTable:
    """The opportunity list as the page shows it (same filters, visibility and order), every page.

    ``viewer`` None is the operator at the command line, who sees every deal.
    """
    criteria = opportunity_list_criteria(viewer, filters)
    status = case(
        (Opportunity.is_won.is_(True), "won"),
        (Opportunity.is_closed.is_(True), "lost"),
        else_="open",
    )
    statement = (
        select(
            Opportunity.id,
            Opportunity.external_id,
            Opportunity.name,
            Account.name,
            User.full_name,
            Opportunity.stage,
            status,
            Opportunity.amount,
            Opportunity.currency_code,
            Opportunity.probability,
            Opportunity.close_date,
            Opportunity.created_at,
            Opportunity.forecast_category,
            Opportunity.type,
            Opportunity.lead_source,
            Opportunity.product,
            Opportunity.primary_competitor,
            Opportunity.loss_reason,
        )
        .outerjoin(Account, Account.id == Opportunity.account_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
        .where(*criteria.conditions)
        .order_by(*criteria.order)
    )

    def convert(row: Any) -> list[Cell]:
        values = list(row)
        category = values[12]
        values[12] = category.value if category is not None else None
        return values

    return ExportTable("opportunities", OPPORTUNITY_HEADER, _stream(session, statement, convert, chunk_size))


ACCOUNT_HEADER = [
    "Id",
    "External id",
    "Account",
    "Industry",
    "Employees",
    "Annual revenue",
    "Currency",
    "Country",
    "State",
    "Owner",
    "Parent account",
]


def account_export(
    session: Session, *, viewer: User | None, filters: AccountFilters, chunk_size: int = CHUNK_ROWS
) -> ExportTable:
    """The account list as the page shows it (same filters, visibility and order), every page."""
    criteria = account_list_criteria(viewer, filters)
    parent = aliased(Account)
    statement = (
        select(
            Account.id,
            Account.external_id,
            Account.name,
            Account.industry,
            Account.employees,
            Account.annual_revenue_amount,
            Account.currency_code,
            Account.country,
            Account.state,
            User.full_name,
            parent.name,
        )
        .outerjoin(User, User.id == Account.owner_id)
        .outerjoin(parent, parent.id == Account.parent_account_id)
        .where(*criteria.conditions)
        .order_by(*criteria.order)
    )
    return ExportTable("accounts", ACCOUNT_HEADER, _stream(session, statement, list, chunk_size))


# --- territory assignments ---------------------------------------------------------------------


def _owner_changed_since(since: dt.date) -> ColumnElement[bool]:
    start = dt.datetime(since.year, since.month, since.day, tzinfo=dt.UTC)
    audited = exists().where(
        AuditEntry.object_type == "account",
        AuditEntry.object_id == cast(Account.id, String),
        AuditEntry.occurred_at >= start,
        AuditEntry.after["owner_id"].as_string().is_not(None),
    )
    # Imports do not write one audit entry per record; they stamp updated_at on what they change.
    return or_(audited, Account.updated_at >= start)


def account_owner_export(
    session: Session, *, actor: User | None, since: dt.date | None = None, chunk_size: int = CHUNK_ROWS
) -> ExportTable:
    """Account owners as a Salesforce Data Loader update file: ``Id,OwnerId``.

    Salesforce ids are the records' external ids; accounts or owners without one cannot be sent
    (see ``account_owner_gaps``). With ``since``, only accounts whose owner changed on or after
    that date per the audit log, or which an import changed since (a superset: sending an
    unchanged owner back is harmless). Planners and admins only.
    """
    check_may_import(actor)
    owner = aliased(User)
    conditions: list[ColumnElement[bool]] = [
        Account.external_id.is_not(None),
        owner.external_id.is_not(None),
    ]
    if since is not None:
        conditions.append(_owner_changed_since(since))
    statement = (
        select(Account.external_id, owner.external_id)
        .join(owner, owner.id == Account.owner_id)
        .where(*conditions)
        .order_by(Account.external_id)
    )
    return ExportTable(
        "account-owners", list(DATA_LOADER_HEADER), _stream(session, statement, list, chunk_size)
    )


def account_owner_gaps(
    session: Session, *, actor: User | None, since: dt.date | None = None
) -> dict[str, int]:
    """Accounts the Data Loader file leaves out: no Salesforce id, no owner, or an owner without one."""
    check_may_import(actor)
    owner = aliased(User)
    scope: list[ColumnElement[bool]] = [_owner_changed_since(since)] if since is not None else []
    row = session.execute(
        select(
            func.count().filter(Account.external_id.is_(None)),
            func.count().filter(and_(Account.external_id.is_not(None), Account.owner_id.is_(None))),
            func.count().filter(
                and_(
                    Account.external_id.is_not(None),
                    Account.owner_id.is_not(None),
                    owner.external_id.is_(None),
                )
            ),
        )
        .select_from(Account)
        .outerjoin(owner, owner.id == Account.owner_id)
        .where(*scope)
    ).one()
    return {"without_id": row[0], "without_owner": row[1], "owner_without_id": row[2]}


# --- quotas ------------------------------------------------------------------------------------

QUOTA_HEADER = [
    "quota_id",
    "owner",
    "person",
    "org_unit",
    "period",
    "basis",
    "segment",
    "quota_amount",
    "ramp_percent",
    "effective_amount",
    "attained_amount",
    "attainment_percent",
    "external_id",
    "note",
]
SALESFORCE_QUOTA_HEADER = ["Id", "QuotaOwnerId", "StartDate", "QuotaAmount", "IsAmount", "ForecastingTypeId"]
QUOTA_PAGE = 500


def quota_export(session: Session, *, viewer: User | None, filters: QuotaFilters) -> ExportTable:
    """The quota list as the page shows it (what the viewer may see, with attainment).

    Its first columns are a quota sheet's (owner e-mail, period, basis, amount, ramp, segment, note,
    external id), so an exported list, edited, loads back with ``bridgehead plan quotas load``.
    """

    def rows() -> Iterator[list[Cell]]:
        page_number = 1
        while True:
            page = list_quotas(
                session,
                viewer=viewer,
                filters=filters,
                page=PageRequest(page=page_number, page_size=QUOTA_PAGE),
            )
            for row in page.items:
                yield [
                    row.id,
                    row.owner_email,
                    row.owner_name,
                    row.org_unit_name,
                    row.period,
                    row.basis.value,
                    row.segment_name,
                    row.quota_amount,
                    row.ramp_percent,
                    row.effective_amount,
                    row.attained_amount,
                    None if row.attainment is None else Decimal(str(round(row.attainment * 100, 1))),
                    row.external_id,
                    row.note,
                ]
            if not page.has_next:
                return
            page_number += 1

    return ExportTable("quotas", list(QUOTA_HEADER), rows())


def _salesforce_quota_conditions(period: Period | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if period is not None:
        conditions += [Quota.period_start_date >= period.start, Quota.period_end_date <= period.end]
    return conditions


def _by_month_or_quarter() -> ColumnElement[bool]:
    # Salesforce forecasts run by month or by quarter; it holds no quota for a whole year ("2026").
    return Quota.period.contains("-")


def salesforce_quota_export(
    session: Session, *, actor: User | None, forecasting_type_id: str, period: Period | None = None
) -> ExportTable:
    """Quotas as a Data Loader upsert file for Salesforce's ForecastingQuota object (match on ``Id``).

    One row per bookings quota of a month or a quarter whose owner has a Salesforce id:
    ``QuotaOwnerId``, ``StartDate`` (the period's first day), ``QuotaAmount`` (the quota after
    ramp), ``IsAmount`` true and the forecast type. ``Id`` is the quota's Salesforce id when it
    has one (an update), else empty (an insert). Other quotas cannot be sent (see
    ``salesforce_quota_gaps``). Planners and admins only.
    """
    check_may_import(actor)
    try:
        type_id = salesforce_id(forecasting_type_id)
    except ValueError as exc:
        raise ValidationFailed(
            f"{exc}: give the id of the ForecastingType record the quotas belong to",
            field="forecasting_type_id",
            value=forecasting_type_id,
        ) from None
    if type_id is None:
        raise ValidationFailed(
            "Salesforce needs the forecast type of every quota: give the id of its ForecastingType record",
            field="forecasting_type_id",
            value=forecasting_type_id,
        )
    owner = aliased(User)
    statement = (
        select(
            Quota.external_id,
            owner.external_id,
            Quota.period_start_date,
            Quota.quota_amount,
            Quota.ramp_percent,
        )
        .join(owner, owner.id == Quota.owner_id)
        .where(
            Quota.basis == QuotaBasis.BOOKINGS,
            _by_month_or_quarter(),
            owner.external_id.is_not(None),
            *_salesforce_quota_conditions(period),
        )
        .order_by(Quota.period_start_date, owner.external_id)
    )

    def convert(row: Any) -> list[Cell]:
        quota_id, owner_id, start, amount, ramp = row
        return [quota_id, owner_id, start, effective_amount(amount, ramp), True, type_id]

    return ExportTable(
        "quotas-salesforce", list(SALESFORCE_QUOTA_HEADER), _stream(session, statement, convert, CHUNK_ROWS)
    )


def salesforce_quota_gaps(
    session: Session, *, actor: User | None, period: Period | None = None
) -> dict[str, int]:
    """Quotas the Salesforce file leaves out: not bookings, a whole year, or an owner without a Salesforce id."""
    check_may_import(actor)
    owner = aliased(User)
    yearly = ~_by_month_or_quarter()
    row = session.execute(
        select(
            func.count().filter(Quota.basis != QuotaBasis.BOOKINGS),
            func.count().filter(and_(Quota.basis == QuotaBasis.BOOKINGS, yearly)),
            func.count().filter(
                and_(Quota.basis == QuotaBasis.BOOKINGS, ~yearly, owner.external_id.is_(None))
            ),
        )
        .select_from(Quota)
        .join(owner, owner.id == Quota.owner_id)
        .where(*_salesforce_quota_conditions(period))
    ).one()
    return {"not_bookings": row[0], "yearly": row[1], "owner_without_id": row[2]}


# --- writers -----------------------------------------------------------------------------------


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    return neutralise_formula(str(value))


def csv_chunks(table: ExportTable, *, bom: bool = True, rows_per_chunk: int = 1_000) -> Iterator[str]:
    """The table as CSV text in pieces, for a streaming response or a file.

    ``bom`` starts the text with a UTF-8 byte-order mark so Excel reads accents right; Data
    Loader files go without one.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write("\ufeff")
    writer.writerow([neutralise_formula(name) for name in table.header])
    for count, row in enumerate(table.rows, start=1):
        writer.writerow([_csv_text(value) for value in row])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
    yield buffer.getvalue()


def write_csv(table: ExportTable, target: IO[str], *, bom: bool = True) -> int:
    """Write the table to an open text file; returns the data rows written."""
    rows = 0

    def counted() -> Iterator[list[Cell]]:
        nonlocal rows
        for row in table.rows:
            rows += 1
            yield row

    for piece in csv_chunks(ExportTable(table.name, table.header, counted()), bom=bom):
        target.write(piece)
    return rows


def write_xlsx(table: ExportTable, target: IO[bytes] | Path) -> int:
    """Write the table as a one-sheet workbook (openpyxl's streaming write-only mode)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=table.name[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for name in table.header:
        cell = WriteOnlyCell(sheet, value=neutralise_formula(name))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    rows = 0
    try:
        for row in table.rows:
            if rows >= XLSX_MAX_ROWS:
                raise ValidationFailed(
                    f"more than {XLSX_MAX_ROWS:,} rows do not fit in a worksheet; export as CSV",
                    field="format",
                )
            sheet.append([_xlsx_value(sheet, value, WriteOnlyCell) for value in row])
            rows += 1
    except BaseException:
        # Finish the half-written sheet's temporary file now rather than when it is collected.
        with contextlib.suppress(Exception):
            sheet.close()
        raise
    workbook.save(target)
    return rows


def _xlsx_value(sheet: Any, value: Cell, cell_type: Any) -> Any:
    if value is None or isinstance(value, bool | int | Decimal):
        return value
    if isinstance(value, dt.datetime):
        cell = cell_type(sheet, value=value.astimezone(dt.UTC).replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, dt.date):
        cell = cell_type(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return neutralise_formula(str(value))


def write_table(table: ExportTable, path: Path, export_format: ExportFormat, *, bom: bool = True) -> int:
    """Write the table to ``path`` through a temporary file beside it, so a failure leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(temporary_name)
    try:
        if export_format == ExportFormat.XLSX:
            os.close(handle)
            rows = write_xlsx(table, temporary)
        else:
            with open(handle, "w", encoding="utf-8", newline="") as text:
                rows = write_csv(table, text, bom=bom)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return rows
