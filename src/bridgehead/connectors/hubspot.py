"""HubSpot CRM exports (companies, contacts, deals) into Bridgehead.

A HubSpot export folder holds one CSV or XLSX per object, named after it
(``hubspot-crm-exports-all-companies-2026-03-04.csv``, ``contacts.xlsx``, ``deals.csv``), with
HubSpot's property labels as column names. This module turns them into engine batches:

- owners (``Company owner``, ``Contact owner``, ``Deal owner``: names or e-mails) → users
  ``hubspot-owner:<owner>``;
- companies → accounts ``hubspot-company:<Record ID>`` (parent company kept);
- contacts → contacts ``hubspot-contact:<Record ID>``, linked to their (first) associated company;
- deals → opportunities ``hubspot-deal:<Record ID>``: the stage is kept as HubSpot names it, and a
  ``closedwon``/``closedlost`` stage (id or label) closes the deal; the pipeline and every column
  not mapped go to ``custom_fields``;
- deal ↔ contact associations → contact roles (role ``Other``).

Record ids are prefixed so they cannot collide with records from another source.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bridgehead.connectors.engine import EntityBatch, SourceRow
from bridgehead.connectors.entities import ACCOUNT, CONTACT, CONTACT_ROLE, OPPORTUNITY, USER, EntitySpec
from bridgehead.connectors.files import FileRejected, TableFile, open_table

OWNER_PREFIX = "hubspot-owner:"
COMPANY_PREFIX = "hubspot-company:"
CONTACT_PREFIX = "hubspot-contact:"
DEAL_PREFIX = "hubspot-deal:"
ROLE_PREFIX = "hubspot-deal-contact:"
DEFAULT_ROLE = "Other"
SUFFIXES = (".csv", ".xlsx", ".xlsm", ".txt", ".tsv")
# Which object a file holds, by a word in its name; checked in this order.
KINDS = (("companies", ("compan",)), ("contacts", ("contact",)), ("deals", ("deal",)))

_EMAIL = re.compile(r"^[^@\s<>()]+@[^@\s<>()]+\.[^@\s<>()]+$")
_NAME_AND_EMAIL = re.compile(r"^(?P<name>.*?)\s*[<(](?P<email>[^<>()\s]+@[^<>()\s]+)[>)]$")
_LIST_SEPARATOR = re.compile(r"[;,]")
_MAX_EXTERNAL_ID = 64

ID_COLUMNS = {
    "companies": ("Record ID", "Company ID", "Company Record ID"),
    "contacts": ("Record ID", "Contact ID", "Contact Record ID"),
    "deals": ("Record ID", "Deal ID", "Deal Record ID"),
}
OWNER_COLUMNS = {
    "companies": ("Company owner", "Owner", "HubSpot Owner"),
    "contacts": ("Contact owner", "Owner", "HubSpot Owner"),
    "deals": ("Deal owner", "Owner", "HubSpot Owner"),
}
# Bridgehead field → HubSpot column labels (the first the file has is used).
COMPANY_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("Company name", "Name"),
    "industry": ("Industry",),
    "employees": ("Number of Employees",),
    "annual_revenue": ("Annual Revenue",),
    "country": ("Country/Region", "Country"),
    "state": ("State/Region", "State"),
    "parent_account": ("Parent Company ID", "Parent Company"),
}
COMPANY_NAME_FALLBACK = ("Company Domain Name", "Website URL")
CONTACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "first_name": ("First Name",),
    "last_name": ("Last Name",),
    "email": ("Email",),
    "title": ("Job Title",),
}
CONTACT_COMPANY_COLUMNS = (
    "Associated Company IDs (Primary)",
    "Primary Associated Company ID",
    "Associated Company IDs",
    "Associated Company ID",
    "Company ID",
    "Associated Company",
)
DEAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("Deal Name",),
    "stage": ("Deal Stage",),
    "amount": ("Amount",),
    "close_date": ("Close Date",),
    "created_at": ("Create Date",),
    "type": ("Deal Type",),
    "loss_reason": ("Closed Lost Reason",),
    "currency_code": ("Currency", "Deal Currency Code"),
}
DEAL_COMPANY_COLUMNS = (
    "Associated Company IDs (Primary)",
    "Associated Company IDs",
    "Associated Company ID",
    "Associated Company",
)
DEAL_CONTACT_COLUMNS = ("Associated Contact IDs", "Associated Contact ID")
PIPELINE_COLUMNS = ("Pipeline",)


@dataclass
class _Export:
    """The files of one export folder and what a first pass over them learnt."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    company_ids_by_name: dict[str, str | None] = field(default_factory=dict)


def hubspot_batches(directory: Path) -> Iterator[EntityBatch]:
    """Engine batches for a folder of HubSpot exports: owners, companies, contacts, deals, roles."""
    export = _find_files(directory)
    seen_owners: set[str] = set()
    for kind in ("companies", "contacts", "deals"):
        for path in export.files.get(kind, []):
            yield from _owner_batches(kind, open_table(path), seen_owners, export)
    for path in export.files.get("companies", []):
        yield _company_batch(open_table(path))
    for path in export.files.get("contacts", []):
        yield _contact_batch(open_table(path), export)
    for path in export.files.get("deals", []):
        yield _deal_batch(open_table(path), export)
    for path in export.files.get("deals", []):
        batch = _contact_role_batch(open_table(path))
        if batch is not None:
            yield batch


def _find_files(directory: Path) -> _Export:
    if not directory.is_dir():
        raise FileRejected("not a folder of HubSpot exports", field="directory", value=str(directory))
    export = _Export()
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix.lower() not in SUFFIXES:
            continue
        name = path.stem.lower()
        for kind, words in KINDS:
            if any(word in name for word in words):
                export.files.setdefault(kind, []).append(path)
                break
    if not export.files:
        raise FileRejected(
            "no HubSpot export found: expected files named after companies, contacts or deals",
            field="directory",
            value=str(directory),
        )
    return export


def _column(table: TableFile, candidates: tuple[str, ...]) -> str | None:
    """The file's column among ``candidates`` (case and spacing ignored), or ``None``."""
    by_key = {_key(column): column for column in table.header}
    for candidate in candidates:
        if _key(candidate) in by_key:
            return by_key[_key(candidate)]
    return None


def _key(label: str) -> str:
    return " ".join(label.lower().split())


def _id_column(kind: str, table: TableFile) -> str:
    column = _column(table, ID_COLUMNS[kind])
    if column is None:
        raise FileRejected(
            f"a HubSpot {kind} export needs a {ID_COLUMNS[kind][0]!r} column (columns: {', '.join(table.header)})",
            field="file",
            value=table.name,
        )
    return column


def _external(prefix: str, value: str) -> str:
    """``prefix + value``, shortened with a digest when it would not fit an external id."""
    value = value.strip()
    if not value:
        return ""
    text = prefix + value
    if len(text) <= _MAX_EXTERNAL_ID:
        return text
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"{text[: _MAX_EXTERNAL_ID - 13]}~{digest}"


def _first(text: str) -> str:
    """The first of a HubSpot multi-value cell (``123;456``)."""
    return next((part.strip() for part in _LIST_SEPARATOR.split(text) if part.strip()), "")


def _all(text: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in _LIST_SEPARATOR.split(text) if part.strip()))


# --- owners ------------------------------------------------------------------------------------


def _owner_parts(owner: str) -> tuple[str, str | None]:
    """A display name and an e-mail (when the owner is, or carries, one)."""
    owner = owner.strip()
    match = _NAME_AND_EMAIL.match(owner)
    if match:
        email = match.group("email").lower()
        return (match.group("name").strip() or _name_from_email(email)), email
    if _EMAIL.match(owner):
        return _name_from_email(owner.lower()), owner.lower()
    return owner, None


def _name_from_email(email: str) -> str:
    local = email.split("@", 1)[0]
    words = [word for word in re.split(r"[._\-+]+", local) if word]
    return " ".join(word.capitalize() for word in words) or email


def owner_external_id(owner: str) -> str:
    """The external id of the user a HubSpot owner cell names (e-mails compared in lower case)."""
    owner = owner.strip()
    if not owner:
        return ""
    _, email = _owner_parts(owner)
    return _external(OWNER_PREFIX, email or owner)


def _owner_batches(kind: str, table: TableFile, seen: set[str], export: _Export) -> Iterator[EntityBatch]:
    """The owners this file names for the first time, as users; also notes company names."""
    owner_column = _column(table, OWNER_COLUMNS[kind])
    name_column = _column(table, COMPANY_COLUMNS["name"]) if kind == "companies" else None
    id_column = _id_column(kind, table) if kind == "companies" else None
    named: list[SourceRow] = []
    mailed: list[SourceRow] = []
    for line, cells in table.records():
        if name_column and id_column:
            _note_company_name(export, cells.get(name_column, ""), cells.get(id_column, ""))
        owner = cells.get(owner_column, "").strip() if owner_column else ""
        external_id = owner_external_id(owner)
        if not external_id or external_id in seen:
            continue
        seen.add(external_id)
        full_name, email = _owner_parts(owner)
        if email:
            values = {"full_name": full_name, "email": email}
            mailed.append(SourceRow(line, external_id, values, cells={owner_column or "": owner}))
        else:
            named.append(
                SourceRow(line, external_id, {"full_name": full_name}, cells={owner_column or "": owner})
            )
    # Owners known only by name get a placeholder e-mail on creation, which a re-import must not
    # overwrite; owners with an e-mail carry it (and are linked to an existing user with it).
    if named:
        yield EntityBatch(USER, table.name, ("full_name",), named)
    if mailed:
        yield EntityBatch(USER, table.name, ("full_name", "email"), mailed)


def _note_company_name(export: _Export, name: str, record_id: str) -> None:
    key = _key(name)
    if not key or not record_id.strip():
        return
    known = export.company_ids_by_name
    # A name two companies share cannot identify either: remember it as ambiguous.
    known[key] = record_id.strip() if key not in known or known[key] == record_id.strip() else None


def _company_reference(text: str, export: _Export | None) -> str:
    """A company's external id from an id cell, or from a company name the export knows."""
    value = _first(text)
    if not value:
        return ""
    if value.isdigit() or export is None:
        return _external(COMPANY_PREFIX, value)
    record_id = export.company_ids_by_name.get(_key(text))
    # An unknown or ambiguous name is kept as given, so the engine reports it as unknown.
    return _external(COMPANY_PREFIX, record_id or text.strip())


# --- records -----------------------------------------------------------------------------------


def _mapped_columns(table: TableFile, spec: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {name: column for name, candidates in spec.items() if (column := _column(table, candidates))}


def _custom(cells: dict[str, str], used: set[str]) -> dict[str, str]:
    return {column: value for column, value in cells.items() if column and column not in used}


def _company_batch(table: TableFile) -> EntityBatch:
    id_column = _id_column("companies", table)
    owner_column = _column(table, OWNER_COLUMNS["companies"])
    columns = _mapped_columns(table, COMPANY_COLUMNS)
    fallback = [column for candidate in COMPANY_NAME_FALLBACK if (column := _column(table, (candidate,)))]
    fields = ["name", *(name for name in columns if name != "name")]
    if owner_column:
        fields.append("owner")
    used = {id_column, *columns.values(), *([owner_column] if owner_column else [])}

    def rows() -> Iterator[SourceRow]:
        for line, cells in table.records():
            record_id = cells[id_column].strip()
            values = {name: cells[column] for name, column in columns.items()}
            # HubSpot makes companies from e-mail domains without a name; the domain names them.
            name = values.get("name", "").strip() or next(
                (cells[column].strip() for column in fallback if cells[column].strip()), ""
            )
            values["name"] = name or (f"HubSpot company {record_id}" if record_id else "")
            if "parent_account" in values:
                values["parent_account"] = _external(COMPANY_PREFIX, _first(values["parent_account"]))
            if owner_column:
                values["owner"] = owner_external_id(cells[owner_column])
            yield SourceRow(line, _external(COMPANY_PREFIX, record_id), values, _custom(cells, used), cells)

    return _batch(ACCOUNT, table, tuple(fields), rows())


def _contact_batch(table: TableFile, export: _Export) -> EntityBatch:
    id_column = _id_column("contacts", table)
    owner_column = _column(table, OWNER_COLUMNS["contacts"])
    company_column = _column(table, CONTACT_COMPANY_COLUMNS)
    columns = _mapped_columns(table, CONTACT_COLUMNS)
    fields = ["last_name", *(name for name in columns if name != "last_name")]
    if company_column:
        fields.append("account")
    if owner_column:
        fields.append("owner")
    used = {id_column, *columns.values(), *(column for column in (owner_column, company_column) if column)}

    def rows() -> Iterator[SourceRow]:
        for line, cells in table.records():
            values = {name: cells[column] for name, column in columns.items()}
            values.setdefault("last_name", "")
            if not values["last_name"].strip():
                # HubSpot contacts often have only a first name or only an e-mail.
                first = values.get("first_name", "").strip()
                values["last_name"] = first or values.get("email", "").strip()
                if first:
                    values["first_name"] = ""
            if company_column:
                values["account"] = _company_reference(cells[company_column], export)
            if owner_column:
                values["owner"] = owner_external_id(cells[owner_column])
            yield SourceRow(
                line, _external(CONTACT_PREFIX, cells[id_column]), values, _custom(cells, used), cells
            )

    return _batch(CONTACT, table, tuple(fields), rows())


def stage_outcome(stage: str) -> tuple[bool, bool]:
    """``(is_closed, is_won)`` for a HubSpot stage id (``closedwon``) or label (``Closed Won``)."""
    key = re.sub(r"[\s_\-]+", "", stage.lower())
    if key == "closedwon":
        return True, True
    if key == "closedlost":
        return True, False
    return False, False


def _deal_batch(table: TableFile, export: _Export) -> EntityBatch:
    id_column = _id_column("deals", table)
    owner_column = _column(table, OWNER_COLUMNS["deals"])
    company_column = _column(table, DEAL_COMPANY_COLUMNS)
    contact_column = _column(table, DEAL_CONTACT_COLUMNS)
    columns = _mapped_columns(table, DEAL_COLUMNS)
    fields = ["name", *(name for name in columns if name != "name")]
    if "stage" in columns:
        fields += ["is_closed", "is_won"]
    if company_column:
        fields.append("account")
    if owner_column:
        fields.append("owner")
    # The pipeline stays a custom field (with every other column not mapped).
    used = {
        id_column,
        *columns.values(),
        *(column for column in (owner_column, company_column, contact_column) if column),
    }

    def rows() -> Iterator[SourceRow]:
        for line, cells in table.records():
            values = {name: cells[column] for name, column in columns.items()}
            values.setdefault("name", "")
            if "stage" in columns:
                is_closed, is_won = stage_outcome(values["stage"])
                values["is_closed"] = "true" if is_closed else "false"
                values["is_won"] = "true" if is_won else "false"
            if company_column:
                values["account"] = _company_reference(cells[company_column], export)
            if owner_column:
                values["owner"] = owner_external_id(cells[owner_column])
            yield SourceRow(
                line, _external(DEAL_PREFIX, cells[id_column]), values, _custom(cells, used), cells
            )

    return _batch(OPPORTUNITY, table, tuple(fields), rows())


def _contact_role_batch(table: TableFile) -> EntityBatch | None:
    id_column = _id_column("deals", table)
    contact_column = _column(table, DEAL_CONTACT_COLUMNS)
    role_column = _column(table, ("Contact Role", "Associated Contact Role"))
    if contact_column is None:
        return None

    def rows() -> Iterator[SourceRow]:
        for line, cells in table.records():
            deal_id = cells[id_column].strip()
            role = (cells[role_column].strip() if role_column else "") or DEFAULT_ROLE
            for contact_id in _all(cells[contact_column]):
                yield SourceRow(
                    line,
                    _external(ROLE_PREFIX, f"{deal_id}:{contact_id}"),
                    {
                        "opportunity": _external(DEAL_PREFIX, deal_id),
                        "contact": _external(CONTACT_PREFIX, contact_id),
                        "role": role,
                    },
                    cells=cells,
                )

    # Rows of the wrong width are reported once, with the deals themselves.
    return EntityBatch(CONTACT_ROLE, table.name, ("opportunity", "contact", "role"), rows())


def _batch(
    entity: EntitySpec, table: TableFile, fields: tuple[str, ...], rows: Iterator[SourceRow]
) -> EntityBatch:
    return EntityBatch(
        entity=entity,
        file=table.name,
        fields=fields,
        rows=rows,
        has_custom_fields=True,
        early_problems=lambda: list(table.problems),
    )
