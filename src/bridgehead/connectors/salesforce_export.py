"""Bridgehead's CRM records back out as a Salesforce export folder (the files the importer reads).

``export_salesforce(session, directory)`` writes ``User.csv``, ``Account.csv``, ``Contact.csv``,
``Opportunity.csv``, ``OpportunityHistory.csv``, ``OpportunityContactRole.csv``, ``Task.csv`` and
``Event.csv`` in Salesforce's field names, so the folder imports back with
``bridgehead import salesforce`` without changing anything, and loads into Salesforce with Data
Loader (upsert on ``Id``).

* Ids are the records' external ids. Only records whose external id is a Salesforce id (18
  letters and digits, as the importer stores them) are written: records made in Bridgehead, or
  imported from HubSpot or a CSV mapping, have no Salesforce id, and a made-up one would either be
  refused by Salesforce or create duplicates on re-import. A reference to such a record is
  written empty. Each file's row count is returned, so the caller can tell what went out.
* Activities whose id is an Event id (``00U…``) go to ``Event.csv``, all others to ``Task.csv``.
* Custom fields: every ``…__c`` key of ``custom_fields`` becomes a column (keys of other shapes,
  from non-Salesforce sources, are not Salesforce fields and are left out).
* Rows are streamed from the database (``yield_per``) and written as they come.
* Text cells a spreadsheet would evaluate (leading ``=``, ``+``, ``-``, ``@``, tab, CR) are
  neutralised with a leading ``'`` (the importer reads them back without it).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeGuard

from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.connectors.salesforce import OPPORTUNITY_CUSTOM_COLUMNS, UNSPECIFIED_ROLE
from bridgehead.connectors.service import neutralise_formula
from bridgehead.crm.models import (
    Account,
    Activity,
    Contact,
    ContactRole,
    Opportunity,
    OpportunityHistory,
)

YIELD_PER = 10_000
PLACEHOLDER_EMAIL_DOMAIN = "@imported.invalid"
FORECAST_LABELS = {
    "pipeline": "Pipeline",
    "best_case": "Best Case",
    "commit": "Commit",
    "closed": "Closed",
    "omitted": "Omitted",
}
# OpportunityHistory.ForecastCategory holds API names, not labels.
FORECAST_API_NAMES = {
    "pipeline": "Pipeline",
    "best_case": "BestCase",
    "commit": "Forecast",
    "closed": "Closed",
    "omitted": "Omitted",
}
EVENT_PREFIX = "00U"

Row = Any
Cell = Callable[[Row], str]


def export_salesforce(session: Session, directory: Path) -> dict[str, int]:
    """Write the export files into ``directory`` (created if missing); returns rows per file."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for name, export in (
        ("User.csv", _users),
        ("Account.csv", _accounts),
        ("Contact.csv", _contacts),
        ("Opportunity.csv", _opportunities),
        ("OpportunityHistory.csv", _history),
        ("OpportunityContactRole.csv", _contact_roles),
        ("Task.csv", _tasks),
        ("Event.csv", _events),
    ):
        written[name] = export(session, directory / name)
    return written


# --- cell formats --------------------------------------------------------------------------------


def is_salesforce_id(value: str | None) -> TypeGuard[str]:
    """An id as the importer stores it: 18 ASCII letters and digits."""
    return value is not None and len(value) == 18 and value.isascii() and value.isalnum()


def _id(value: str | None) -> str:
    return value if is_salesforce_id(value) else ""


def _text(value: Any) -> str:
    return "" if value is None else neutralise_formula(str(value))


def _enum_value(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def _number(value: int | Decimal | None) -> str:
    return "" if value is None else str(value)


def _bool(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _date(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def datetime_text(value: dt.datetime | None) -> str:
    """Salesforce's ``2026-03-04T10:11:12.000Z`` (microseconds kept when there are any)."""
    if value is None:
        return ""
    value = value.astimezone(dt.UTC) if value.tzinfo else value
    if value.microsecond % 1000:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _is_midnight(value: dt.datetime) -> bool:
    return value.time() == dt.time() and value.microsecond == 0


# --- streaming -----------------------------------------------------------------------------------


def _stream(session: Session, statement: Select[Any]) -> Iterator[Row]:
    result = session.execute(statement, execution_options={"yield_per": YIELD_PER})
    for partition in result.partitions():
        yield from partition


def _custom_keys(session: Session, table: Table, where: Sequence[Any] = ()) -> list[str]:
    """Every ``…__c`` key any exported record of ``table`` holds, sorted (one streaming pass)."""
    keys: set[str] = set()
    statement = select(table.c.external_id, table.c.custom_fields).where(*where)
    for external_id, custom in _stream(session, statement):
        if custom and is_salesforce_id(external_id):
            keys.update(key for key in custom if key.endswith("__c"))
    return sorted(keys)


def _write(
    path: Path,
    columns: list[tuple[str, Cell]],
    rows: Iterable[Row],
    custom: Sequence[str] = (),
) -> int:
    header = [name for name, _ in columns] + list(custom)
    cells = [cell for _, cell in columns]
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            if not is_salesforce_id(row.external_id):
                continue
            line = [cell(row) for cell in cells]
            if custom:
                values = row.custom_fields or {}
                line.extend(_text(values.get(key)) for key in custom)
            writer.writerow(line)
            count += 1
    return count


# --- the files -----------------------------------------------------------------------------------


def _users(session: Session, path: Path) -> int:
    user = User.__table__
    manager = user.alias("manager")
    statement = (
        select(user, manager.c.external_id.label("manager_ext"))
        .outerjoin(manager, manager.c.id == user.c.manager_id)
        .order_by(user.c.id)
    )

    def first_last(row: Row) -> tuple[str, str]:
        first, _, last = str(row.full_name).rpartition(" ")
        return first, last

    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("Name", lambda row: _text(row.full_name)),
        ("FirstName", lambda row: _text(first_last(row)[0])),
        ("LastName", lambda row: _text(first_last(row)[1])),
        ("Email", lambda row: "" if row.email.endswith(PLACEHOLDER_EMAIL_DOMAIN) else _text(row.email)),
        ("IsActive", lambda row: _bool(row.is_active)),
        ("ManagerId", lambda row: _id(row.manager_ext)),
    ]
    return _write(path, columns, _stream(session, statement))


def _accounts(session: Session, path: Path) -> int:
    account = Account.__table__
    owner = User.__table__.alias("owner")
    parent = account.alias("parent")
    statement = (
        select(account, owner.c.external_id.label("owner_ext"), parent.c.external_id.label("parent_ext"))
        .outerjoin(owner, owner.c.id == account.c.owner_id)
        .outerjoin(parent, parent.c.id == account.c.parent_account_id)
        .order_by(account.c.id)
    )
    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("Name", lambda row: _text(row.name)),
        ("Industry", lambda row: _text(row.industry)),
        ("NumberOfEmployees", lambda row: _number(row.employees)),
        ("AnnualRevenue", lambda row: _number(row.annual_revenue_amount)),
        ("CurrencyIsoCode", lambda row: _text(row.currency_code)),
        ("BillingCountry", lambda row: _text(row.country)),
        ("BillingState", lambda row: _text(row.state)),
        ("OwnerId", lambda row: _id(row.owner_ext)),
        ("ParentId", lambda row: _id(row.parent_ext)),
    ]
    custom = _custom_keys(session, account)  # type: ignore[arg-type]
    return _write(path, columns, _stream(session, statement), custom)


def _contacts(session: Session, path: Path) -> int:
    contact = Contact.__table__
    account = Account.__table__
    owner = User.__table__.alias("owner")
    boss = contact.alias("boss")
    statement = (
        select(
            contact,
            account.c.external_id.label("account_ext"),
            boss.c.external_id.label("reports_to_ext"),
            owner.c.external_id.label("owner_ext"),
        )
        .outerjoin(account, account.c.id == contact.c.account_id)
        .outerjoin(boss, boss.c.id == contact.c.reports_to_id)
        .outerjoin(owner, owner.c.id == contact.c.owner_id)
        .order_by(contact.c.id)
    )
    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("AccountId", lambda row: _id(row.account_ext)),
        ("FirstName", lambda row: _text(row.first_name)),
        ("LastName", lambda row: _text(row.last_name)),
        ("Email", lambda row: _text(row.email)),
        ("Title", lambda row: _text(row.title)),
        ("Department", lambda row: _text(row.department)),
        ("ReportsToId", lambda row: _id(row.reports_to_ext)),
        ("OwnerId", lambda row: _id(row.owner_ext)),
    ]
    custom = _custom_keys(session, contact)  # type: ignore[arg-type]
    return _write(path, columns, _stream(session, statement), custom)


def _opportunities(session: Session, path: Path) -> int:
    opportunity = Opportunity.__table__
    account = Account.__table__
    owner = User.__table__.alias("owner")
    statement = (
        select(
            opportunity, account.c.external_id.label("account_ext"), owner.c.external_id.label("owner_ext")
        )
        .outerjoin(account, account.c.id == opportunity.c.account_id)
        .outerjoin(owner, owner.c.id == opportunity.c.owner_id)
        .order_by(opportunity.c.id)
    )

    def mapped(column: str, key: str) -> Cell:
        # The column is the truth; the custom field of the same name is what the CRM last sent.
        return lambda row: _text(
            getattr(row, column) if getattr(row, column) is not None else (row.custom_fields or {}).get(key)
        )

    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("AccountId", lambda row: _id(row.account_ext)),
        ("Name", lambda row: _text(row.name)),
        ("StageName", lambda row: _text(row.stage)),
        ("Amount", lambda row: _number(row.amount)),
        ("Probability", lambda row: _number(row.probability)),
        ("CloseDate", lambda row: _date(row.close_date)),
        ("CreatedDate", lambda row: datetime_text(row.created_at)),
        ("IsClosed", lambda row: _bool(row.is_closed)),
        ("IsWon", lambda row: _bool(row.is_won)),
        ("ForecastCategoryName", lambda row: FORECAST_LABELS.get(_enum_value(row.forecast_category), "")),
        ("CurrencyIsoCode", lambda row: _text(row.currency_code)),
        ("Type", lambda row: _text(row.type)),
        ("LeadSource", lambda row: _text(row.lead_source)),
        ("OwnerId", lambda row: _id(row.owner_ext)),
        *((key, mapped(column, key)) for column, key in OPPORTUNITY_CUSTOM_COLUMNS.items()),
    ]
    mapped_keys = set(OPPORTUNITY_CUSTOM_COLUMNS.values())
    custom = [key for key in _custom_keys(session, opportunity) if key not in mapped_keys]  # type: ignore[arg-type]
    return _write(path, columns, _stream(session, statement), custom)


def _history(session: Session, path: Path) -> int:
    history = OpportunityHistory.__table__
    opportunity = Opportunity.__table__
    changed_by = User.__table__.alias("changed_by")
    statement = (
        select(
            history,
            opportunity.c.external_id.label("opportunity_ext"),
            changed_by.c.external_id.label("changed_by_ext"),
        )
        .join(opportunity, opportunity.c.id == history.c.opportunity_id)
        .outerjoin(changed_by, changed_by.c.id == history.c.changed_by_id)
        .order_by(history.c.opportunity_id, history.c.changed_at, history.c.id)
    )
    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("OpportunityId", lambda row: _id(row.opportunity_ext)),
        ("CreatedById", lambda row: _id(row.changed_by_ext)),
        ("CreatedDate", lambda row: datetime_text(row.changed_at)),
        ("StageName", lambda row: _text(row.stage)),
        ("Amount", lambda row: _number(row.amount)),
        ("CloseDate", lambda row: _date(row.close_date)),
        ("Probability", lambda row: _number(row.probability)),
        ("ForecastCategory", lambda row: FORECAST_API_NAMES.get(_enum_value(row.forecast_category), "")),
    ]
    # A history row of a deal that has no Salesforce id cannot be loaded: its OpportunityId is empty.
    rows = (row for row in _stream(session, statement) if is_salesforce_id(row.opportunity_ext))
    return _write(path, columns, rows)


def _contact_roles(session: Session, path: Path) -> int:
    role = ContactRole.__table__
    opportunity = Opportunity.__table__
    contact = Contact.__table__
    statement = (
        select(
            role,
            opportunity.c.external_id.label("opportunity_ext"),
            contact.c.external_id.label("contact_ext"),
        )
        .join(opportunity, opportunity.c.id == role.c.opportunity_id)
        .join(contact, contact.c.id == role.c.contact_id)
        .order_by(role.c.id)
    )
    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("OpportunityId", lambda row: _id(row.opportunity_ext)),
        ("ContactId", lambda row: _id(row.contact_ext)),
        ("Role", lambda row: "" if row.role == UNSPECIFIED_ROLE else _text(row.role)),
        ("IsPrimary", lambda row: _bool(row.is_primary)),
    ]
    rows = (
        row
        for row in _stream(session, statement)
        if is_salesforce_id(row.opportunity_ext) and is_salesforce_id(row.contact_ext)
    )
    return _write(path, columns, rows)


def _activity_statement(events: bool) -> tuple[Select[Any], list[Any]]:
    activity = Activity.__table__
    owner = User.__table__.alias("owner")
    account = Account.__table__
    contact = Contact.__table__
    opportunity = Opportunity.__table__
    is_event = activity.c.external_id.like(f"{EVENT_PREFIX}%")
    where = [is_event if events else ~is_event]
    statement = (
        select(
            activity,
            owner.c.external_id.label("owner_ext"),
            account.c.external_id.label("account_ext"),
            contact.c.external_id.label("contact_ext"),
            opportunity.c.external_id.label("opportunity_ext"),
        )
        .outerjoin(owner, owner.c.id == activity.c.owner_id)
        .outerjoin(account, account.c.id == activity.c.account_id)
        .outerjoin(contact, contact.c.id == activity.c.contact_id)
        .outerjoin(opportunity, opportunity.c.id == activity.c.opportunity_id)
        .where(*where)
        .order_by(activity.c.id)
    )
    return statement, where


def _what(row: Row) -> str:
    return _id(row.opportunity_ext) or _id(row.account_ext)


_TASK_SUBTYPES = {"call": "Call", "email": "Email"}


def _tasks(session: Session, path: Path) -> int:
    statement, where = _activity_statement(events=False)

    def kind(row: Row) -> str:
        return _enum_value(row.kind)

    def task_date(row: Row) -> str:
        # A task's day is midnight UTC on import; any other time was its creation time.
        return row.occurred_at.date().isoformat() if _is_midnight(row.occurred_at) else ""

    def created(row: Row) -> str:
        return "" if _is_midnight(row.occurred_at) else datetime_text(row.occurred_at)

    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("WhoId", lambda row: _id(row.contact_ext)),
        ("WhatId", _what),
        ("AccountId", lambda row: _id(row.account_ext)),
        ("Subject", lambda row: _text(row.subject)),
        ("ActivityDate", task_date),
        ("CreatedDate", created),
        ("OwnerId", lambda row: _id(row.owner_ext)),
        ("TaskSubtype", lambda row: _TASK_SUBTYPES.get(kind(row), "Task")),
        ("Type", lambda row: "Meeting" if kind(row) == "meeting" else ""),
        ("CallType", lambda row: _enum_value(row.direction).capitalize()),
        (
            "CallDurationInSeconds",
            lambda row: "" if row.duration_minutes is None else str(row.duration_minutes * 60),
        ),
    ]
    custom = _custom_keys(session, Activity.__table__, where)  # type: ignore[arg-type]
    return _write(path, columns, _stream(session, statement), custom)


def _events(session: Session, path: Path) -> int:
    statement, where = _activity_statement(events=True)
    columns: list[tuple[str, Cell]] = [
        ("Id", lambda row: row.external_id),
        ("WhoId", lambda row: _id(row.contact_ext)),
        ("WhatId", _what),
        ("AccountId", lambda row: _id(row.account_ext)),
        ("Subject", lambda row: _text(row.subject)),
        ("StartDateTime", lambda row: datetime_text(row.occurred_at)),
        ("DurationInMinutes", lambda row: _number(row.duration_minutes)),
        ("ActivityDate", lambda row: row.occurred_at.date().isoformat()),
        ("OwnerId", lambda row: _id(row.owner_ext)),
    ]
    custom = _custom_keys(session, Activity.__table__, where)  # type: ignore[arg-type]
    return _write(path, columns, _stream(session, statement), custom)


__all__ = ["datetime_text", "export_salesforce", "is_salesforce_id"]
