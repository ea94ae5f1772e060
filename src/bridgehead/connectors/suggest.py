"""Mapping one uploaded file from the web: column suggestions by name similarity, the mapping form's
choices turned into a mapping (and back), and a mapping written out as TOML."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

from bridgehead.connectors.entities import ENTITIES, FieldSpec, Kind
from bridgehead.connectors.mapping import LINE_PLACEHOLDER, parse_mapping
from bridgehead.errors import ValidationFailed

MAPPABLE_ENTITIES = ("opportunity", "account", "contact", "user", "activity", "org_unit")
DATE_FORMATS = {
    "": "Automatic (YYYY-MM-DD, ISO 8601)",
    "%d/%m/%Y": "Day/month/year (31/12/2026)",
    "%m/%d/%Y": "Month/day/year (12/31/2026)",
    "%d.%m.%Y": "Day.month.year (31.12.2026)",
    "%Y/%m/%d": "Year/month/day (2026/12/31)",
}
ROW_NUMBER = "__row_number__"
SUGGESTION_THRESHOLD = 0.8
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

# What columns are usually called, per entity and field (besides the field's own name).
_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "opportunity": {
        "id": ("opportunity id", "deal id", "record id", "id", "external id", "deal number"),
        "name": ("opportunity name", "deal name", "name", "opportunity", "deal", "title"),
        "amount": ("amount", "deal value", "value", "close value", "deal amount", "price", "revenue"),
        "currency_code": ("currency", "currency code", "currency iso code"),
        "stage": ("stage", "deal stage", "stage name", "status", "sales stage", "phase"),
        "probability": ("probability", "win probability", "probability percent"),
        "close_date": ("close date", "expected close date", "closing date", "closed date"),
        "created_at": ("created date", "create date", "created", "created at", "engage date"),
        "is_closed": ("is closed", "closed"),
        "is_won": ("is won", "won"),
        "forecast_category": ("forecast category", "forecast category name", "forecast"),
        "type": ("type", "deal type", "opportunity type"),
        "lead_source": ("lead source", "source", "deal source"),
        "loss_reason": ("loss reason", "lost reason", "closed lost reason"),
        "primary_competitor": ("competitor", "competitors", "primary competitor"),
        "product": ("product", "product name"),
        "account": (
            "account",
            "account id",
            "account name",
            "company",
            "associated company",
            "client",
            "customer",
        ),
        "owner": (
            "owner",
            "owner id",
            "deal owner",
            "opportunity owner",
            "sales agent",
            "seller",
            "sales rep",
            "rep",
            "salesperson",
        ),
    },
    "account": {
        "id": ("account id", "company id", "record id", "id", "external id"),
        "name": ("account name", "company name", "name", "account", "company"),
        "industry": ("industry", "sector", "vertical"),
        "employees": ("employees", "number of employees", "headcount", "employee count"),
        "annual_revenue": ("annual revenue", "revenue"),
        "currency_code": ("currency", "currency code"),
        "country": ("country", "billing country", "office location", "country region"),
        "state": ("state", "billing state", "state region", "province"),
        "owner": ("owner", "account owner", "owner id", "company owner", "sales agent"),
        "parent_account": ("parent account", "parent id", "parent", "subsidiary of"),
    },
    "contact": {
        "id": ("contact id", "record id", "id", "external id"),
        "first_name": ("first name", "given name", "firstname"),
        "last_name": ("last name", "surname", "family name", "lastname"),
        "email": ("email", "e mail", "email address"),
        "title": ("title", "job title"),
        "department": ("department",),
        "account": ("account", "account id", "company", "associated company"),
        "reports_to": ("reports to", "reports to id", "manager"),
        "owner": ("owner", "contact owner", "owner id"),
    },
    "user": {
        "id": ("user id", "id", "external id", "employee id"),
        "full_name": ("full name", "name", "user", "sales agent", "employee"),
        "email": ("email", "e mail", "email address"),
        "role": ("role",),
        "is_active": ("is active", "active"),
        "manager": ("manager", "manager id", "reports to"),
        "org_unit": ("team", "org unit", "unit", "region"),
    },
    "activity": {
        "id": ("activity id", "task id", "event id", "id"),
        "kind": ("kind", "type", "activity type"),
        "direction": ("direction",),
        "subject": ("subject", "title"),
        "occurred_at": ("occurred at", "date", "activity date", "start", "start date time", "timestamp"),
        "duration_minutes": ("duration", "duration minutes", "duration in minutes"),
        "owner": ("owner", "owner id", "assigned to"),
        "account": ("account", "account id", "company"),
        "contact": ("contact", "contact id", "who id"),
        "opportunity": ("opportunity", "opportunity id", "deal", "what id"),
    },
    "org_unit": {
        "id": ("id", "unit id", "team id"),
        "name": ("name", "team", "unit", "region"),
        "kind": ("kind", "type", "level"),
        "parent": ("parent", "parent id", "region"),
    },
}


@dataclasses.dataclass(frozen=True)
class FieldChoice:
    """One row of the mapping form: a field, what it takes, and the suggested column."""

    name: str
    label: str
    kind: str
    required: bool
    suggested: str | None
    score: float
    help: str


def _normalise(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def _score(column: str, candidates: tuple[str, ...]) -> float:
    normalised = _normalise(column)
    if not normalised:
        return 0.0
    best = 0.0
    for candidate in candidates:
        target = _normalise(candidate)
        if normalised == target:
            return 1.0
        best = max(best, difflib.SequenceMatcher(None, normalised, target).ratio())
    return best


def _candidates(entity: str, field_name: str) -> tuple[str, ...]:
    own = field_name.replace("_", " ")
    return (own, *_SYNONYMS.get(entity, {}).get(field_name, ()))


def suggest_columns(header: list[str], entity: str) -> dict[str, tuple[str, float]]:
    """For each field of ``entity``, the best matching column and its similarity (0 to 1).

    Columns are matched by normalised name against the field name and the names CRMs commonly use
    (``Deal Stage`` → stage, ``Seller`` → owner); each column is suggested for at most one field,
    the strongest matches first.
    """
    spec = ENTITIES[entity]
    fields = ["id", *spec.field_names]
    scored = sorted(
        (
            (_score(column, _candidates(entity, field_name)), index, field_name, column)
            for index, field_name in enumerate(fields)
            for column in header
            if column
        ),
        key=lambda item: (-item[0], item[1]),
    )
    chosen: dict[str, tuple[str, float]] = {}
    used: set[str] = set()
    for score, _, field_name, column in scored:
        if score < SUGGESTION_THRESHOLD:
            break
        if field_name in chosen or column in used:
            continue
        chosen[field_name] = (column, round(score, 2))
        used.add(column)
    return chosen


def guess_entity(header: list[str]) -> str:
    """The entity whose fields the columns match best (opportunities on a tie)."""
    best, best_score = MAPPABLE_ENTITIES[0], 0.0
    for entity in MAPPABLE_ENTITIES:
        total = sum(score for _, score in suggest_columns(header, entity).values())
        if total > best_score + 1e-9:
            best, best_score = entity, total
    return best


def _field_help(spec: FieldSpec) -> str:
    if spec.kind == Kind.REF:
        assert spec.ref_entity is not None
        noun = spec.ref_entity.replace("_", " ")
        return f"the id of {'an' if noun[0] in 'aeio' else 'a'} {noun}"
    if spec.kind == Kind.CHOICE and spec.choices is not None:
        return "one of " + ", ".join(member.value for member in spec.choices)
    return {
        Kind.TEXT: "text",
        Kind.EMAIL: "an e-mail address",
        Kind.INT: "a whole number",
        Kind.MONEY: "an amount",
        Kind.PERCENT: "a percentage (0 to 100)",
        Kind.BOOL: "true or false",
        Kind.DATE: "a date",
        Kind.DATETIME: "a date and time",
    }.get(spec.kind, spec.kind.value)


def field_choices(header: list[str], entity: str) -> list[FieldChoice]:
    """The mapping form's rows for ``entity``, the id first, with suggestions."""
    if entity not in ENTITIES:
        raise ValidationFailed("no such entity", field="entity", value=entity)
    suggestions = suggest_columns(header, entity)
    spec = ENTITIES[entity]
    id_column, id_score = suggestions.get("id", (None, 0.0))
    rows = [
        FieldChoice(
            "id",
            "Id",
            "id",
            True,
            id_column,
            id_score,
            "a unique id per record; re-importing updates the record with the same id",
        )
    ]
    for field_spec in spec.fields:
        column, score = suggestions.get(field_spec.name, (None, 0.0))
        rows.append(
            FieldChoice(
                field_spec.name,
                field_spec.name.replace("_", " ").capitalize(),
                field_spec.kind.value,
                field_spec.required,
                column,
                score,
                _field_help(field_spec),
            )
        )
    return rows


def mapping_from_choices(
    *,
    file_name: str,
    header: list[str],
    entity: str,
    columns: Mapping[str, str],
    defaults: Mapping[str, str],
    date_format: str = "",
    decimal_comma: bool = False,
    keep_other_columns: bool = True,
) -> dict[str, Any]:
    """A mapping (as TOML-shaped data) for one file from the mapping form's choices.

    ``columns`` names a column (or ``ROW_NUMBER`` for the id) per field; ``defaults`` a fixed
    value used when the column is empty or not chosen. Every mistake names the field.
    """
    if entity not in MAPPABLE_ENTITIES:
        raise ValidationFailed("choose what the rows are", field="entity", value=entity)
    if date_format not in DATE_FORMATS:
        raise ValidationFailed("unknown date format", field="date_format", value=date_format)
    spec = ENTITIES[entity]
    known = set(header)
    fields: dict[str, Any] = {}
    stem = file_name.rsplit(".", 1)[0]
    for field_name in ["id", *spec.field_names]:
        column = (columns.get(field_name) or "").strip()
        default = (defaults.get(field_name) or "").strip()
        if field_name == "id" and column == ROW_NUMBER:
            fields["id"] = {"template": f"{stem}-{{{LINE_PLACEHOLDER}}}"}
            continue
        if column and column not in known:
            raise ValidationFailed("the file has no such column", field=field_name, value=column)
        if column:
            fields[field_name] = {"column": column, "default": default} if default else column
        elif default:
            fields[field_name] = {"value": default}
    if "id" not in fields:
        raise ValidationFailed(
            "choose the column that identifies each record (or the row number)", field="id"
        )
    missing = [
        field_spec.name for field_spec in spec.fields if field_spec.required and field_spec.name not in fields
    ]
    if missing:
        raise ValidationFailed(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required: choose a column "
            "or give a fixed value",
            field=missing[0],
        )
    data: dict[str, Any] = {
        "name": f"{stem} ({entity})",
        "files": [
            {
                "path": file_name,
                "entity": entity,
                "custom": "*" if keep_other_columns and entity in _HAS_CUSTOM else [],
                "fields": fields,
            }
        ],
    }
    if date_format:
        data["date_formats"] = [date_format]
        data["datetime_formats"] = [date_format, date_format + " %H:%M", date_format + " %H:%M:%S"]
    if decimal_comma:
        data["decimal_comma"] = True
    parse_mapping(data, name=stem)  # the same checks a TOML mapping gets
    return data


@dataclasses.dataclass(frozen=True)
class FormChoices:
    """The mapping form as a person left it, read back from the mapping it produced."""

    entity: str
    columns: dict[str, str]
    defaults: dict[str, str]
    date_format: str
    decimal_comma: bool
    keep_other: bool


def choices_from_mapping(data: Mapping[str, Any]) -> FormChoices | None:
    """The form choices behind a mapping made by ``mapping_from_choices`` (None for other mappings)."""
    files = data.get("files")
    if not isinstance(files, list) or len(files) != 1 or not isinstance(files[0], dict):
        return None
    entry = files[0]
    columns: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for name, rule in (entry.get("fields") or {}).items():
        if isinstance(rule, str):
            columns[name] = rule
        elif isinstance(rule, dict):
            if "template" in rule and name == "id":
                columns[name] = ROW_NUMBER
            if "column" in rule:
                columns[name] = str(rule["column"])
            if "default" in rule or "value" in rule:
                defaults[name] = str(rule.get("default", rule.get("value", "")))
    formats = data.get("date_formats") or [""]
    return FormChoices(
        entity=str(entry.get("entity", "")),
        columns=columns,
        defaults=defaults,
        date_format=str(formats[0]) if str(formats[0]) in DATE_FORMATS else "",
        decimal_comma=bool(data.get("decimal_comma", False)),
        keep_other=entry.get("custom") == "*",
    )


_HAS_CUSTOM = frozenset(name for name, spec in ENTITIES.items() if "custom_fields" in spec.table.c)


def mapping_to_toml(data: Mapping[str, Any]) -> str:
    """A mapping as TOML text, to download and reuse with ``bridgehead import csv --mapping``."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return str(item)
        if isinstance(item, str):
            return json.dumps(item, ensure_ascii=False)
        if isinstance(item, list):
            return "[" + ", ".join(value(element) for element in item) + "]"
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{_key(key)} = {value(element)}" for key, element in item.items()) + " }"
        return json.dumps(str(item), ensure_ascii=False)

    lines = ["# Made by the Bridgehead import wizard."]
    for key, item in data.items():
        if key != "files":
            lines.append(f"{_key(key)} = {value(item)}")
    for entry in data.get("files", []):
        lines += ["", "[[files]]"]
        for key, item in entry.items():
            if key != "fields":
                lines.append(f"{_key(key)} = {value(item)}")
        lines.append("[files.fields]")
        for key, item in entry.get("fields", {}).items():
            lines.append(f"{_key(key)} = {value(item)}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)
