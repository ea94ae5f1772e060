"""The segment rule language: validation (``check_rule``) and compilation to one SQL condition over ``Account``.

A rule is JSON. Groups nest: ``{"all": [...]}`` (every part holds), ``{"any": [...]}`` (at least
one holds), ``{"not": {...}}``. A condition is ``{"field": F, "op": OP, "value": V}``.

Fields: ``industry``, ``country``, ``state``, ``name`` (text); ``employees``; ``annual_revenue``
(major currency units, stored in cents); ``won_deals`` (how many won opportunities the account
has: ``won_deals gte 1`` is the installed base); ``owner`` (a user's e-mail or id); ``parent_account``
(only ``is_empty`` / ``is_not_empty``); and ``custom.<key>`` for any column an import kept in
``Account.custom_fields``.

Semantics, chosen so that a rule reads the same in SQL and in a spreadsheet:

* Text comparisons ignore case (``industry eq "banking"`` matches "Banking"). SQLite folds case
  for ASCII letters only.
* A condition on a missing value is false, ``ne`` and ``not_in`` included: "industry ne Retail"
  does not match accounts without an industry. Ask for those with ``is_empty``. ``not`` negates
  what matched: ``not (industry eq Retail)`` does match accounts without an industry. (In SQL the
  condition is NULL, which a WHERE treats as false; ``not`` coalesces it to false before negating.)
* ``is_empty`` matches NULL and the empty string.
* ``won_deals`` counts won opportunities; an account without any has 0 (never missing).
* A custom field compares as a number for ``gt``/``gte``/``lt``/``lte``/``between`` and for
  ``eq``/``ne``/``in``/``not_in`` with numeric values; otherwise as text. A stored value that is
  not a plain number is missing for numeric comparisons. (Imports store custom values as text and
  never store an empty one; on SQLite a value made only of signs and dots reads as 0.)
* ``{"all": []}`` matches every account; ``{"any": []}`` matches none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Float, String, and_, false, func, not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bridgehead.auth.models import User
from bridgehead.common.types import MAX_ID
from bridgehead.crm.models import Account, Opportunity
from bridgehead.errors import ValidationFailed

OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "contains",
    "starts_with",
    "is_empty",
    "is_not_empty",
)
TEXT_FIELDS = ("industry", "country", "state", "name")
NUMBER_FIELDS = ("employees", "annual_revenue", "won_deals")
FIELDS = (*TEXT_FIELDS, *NUMBER_FIELDS, "owner", "parent_account")
CUSTOM_PREFIX = "custom."
_EMPTINESS_OPS = ("is_empty", "is_not_empty")
_TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "starts_with", *_EMPTINESS_OPS)
_NUMBER_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", *_EMPTINESS_OPS)
_OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": _TEXT_OPS,
    "number": _NUMBER_OPS,
    "owner": ("eq", "ne", "in", "not_in", *_EMPTINESS_OPS),
    "parent": _EMPTINESS_OPS,
    "custom": OPS,
}
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ \-]{0,63}$")
# Bounds that keep a rule small enough to compile and run quickly; real rules are far smaller.
MAX_DEPTH = 8
MAX_NODES = 200
MAX_LIST_VALUES = 1000
MAX_TEXT_LENGTH = 200
MAX_NUMBER = 10**15

_TEXT_COLUMNS: dict[str, Any] = {
    "industry": Account.industry,
    "country": Account.country,
    "state": Account.state,
    "name": Account.name,
}


@dataclass(frozen=True)
class FieldInfo:
    """What the editor needs to know about a field: its name, kind and the ops it accepts."""

    name: str
    kind: str
    ops: tuple[str, ...]


def field_kind(field: str) -> str | None:
    """``text``, ``number``, ``owner``, ``parent`` or ``custom``; None for an unknown field."""
    if field in TEXT_FIELDS:
        return "text"
    if field in NUMBER_FIELDS:
        return "number"
    if field == "owner":
        return "owner"
    if field == "parent_account":
        return "parent"
    if field.startswith(CUSTOM_PREFIX) and _CUSTOM_KEY.match(field[len(CUSTOM_PREFIX) :]):
        return "custom"
    return None


def field_catalogue(custom_keys: Sequence[str] = ()) -> list[FieldInfo]:
    """Every built-in field, then ``custom.<key>`` for the given keys, with the ops each accepts."""
    names = [*FIELDS, *(CUSTOM_PREFIX + key for key in custom_keys if _CUSTOM_KEY.match(key))]
    infos = []
    for name in names:
        kind = field_kind(name)
        if kind is not None:
            infos.append(FieldInfo(name=name, kind=kind, ops=_OPS_BY_KIND[kind]))
    return infos


# --- validation --------------------------------------------------------------------------------


def _join(path: str, part: str) -> str:
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def _fail(path: str, message: str, value: Any, rule_field: str | None = None) -> ValidationFailed:
    where = path or "rule"
    return ValidationFailed(f"{where}: {message}", field=where, value=_short(value), rule_field=rule_field)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_NUMBER
    )


def _is_text(value: Any) -> bool:
    # NUL cannot be sent to PostgreSQL; refused like any other malformed value.
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT_LENGTH and "\x00" not in value


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind == "number":
        return _is_number(value)
    if kind == "text":
        return _is_text(value)
    if kind == "owner":
        return _is_text(value) or (
            isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
        )
    return _is_text(value) or _is_number(value)  # custom


_EXPECTED = {
    "number": "a number",
    "text": "a non-empty text",
    "owner": "a user's e-mail or id",
    "custom": "a text or a number",
}


def _check_value(path: str, field: str, kind: str, op: str, node: Mapping[str, Any]) -> None:
    value_path = _join(path, "value")
    value = node.get("value")
    if op in _EMPTINESS_OPS:
        if value is not None:
            raise _fail(value_path, f"{op} takes no value", value, field)
        return
    if "value" not in node:
        raise _fail(value_path, f"{field} {op} needs a value", None, field)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _fail(value_path, f"{op} needs a non-empty list of values", value, field)
        if len(value) > MAX_LIST_VALUES:
            raise _fail(value_path, f"{op} takes at most {MAX_LIST_VALUES} values", len(value), field)
        for index, item in enumerate(value):
            if not _scalar_ok(kind, item):
                raise _fail(f"{value_path}[{index}]", f"{field} needs {_EXPECTED[kind]}", item, field)
        return
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(item) for item in value)):
            raise _fail(value_path, "between needs a list of two numbers [low, high]", value, field)
        if value[0] > value[1]:
            raise _fail(value_path, "between needs low <= high", value, field)
        return
    if op in ("gt", "gte", "lt", "lte"):
        if not _is_number(value):
            raise _fail(value_path, f"{op} needs a number", value, field)
        return
    if op in ("contains", "starts_with"):
        if not _is_text(value):
            raise _fail(value_path, f"{op} needs a non-empty text", value, field)
        return
    if not _scalar_ok(kind, value):  # eq, ne
        raise _fail(value_path, f"{field} needs {_EXPECTED[kind]}", value, field)


def _check_condition(path: str, node: Mapping[str, Any]) -> None:
    unknown_keys = set(node) - {"field", "op", "value"}
    if unknown_keys:
        key = sorted(unknown_keys)[0]
        raise _fail(_join(path, key), "unknown key in a condition (use field, op, value)", key)
    field = node.get("field")
    if not isinstance(field, str) or (kind := field_kind(field)) is None:
        known = ", ".join(FIELDS)
        raise _fail(_join(path, "field"), f"unknown field (use {known} or custom.<key>)", field, None)
    op = node.get("op")
    if op not in OPS:
        raise _fail(_join(path, "op"), f"unknown op (use {', '.join(OPS)})", op, field)
    if op not in _OPS_BY_KIND[kind]:
        allowed = ", ".join(_OPS_BY_KIND[kind])
        raise _fail(_join(path, "op"), f"{field} does not take {op} (use {allowed})", op, field)
    _check_value(path, field, kind, op, node)


def _check_node(path: str, node: Any, depth: int, counter: list[int]) -> None:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _fail(path, f"a rule may have at most {MAX_NODES} parts", counter[0])
    if depth > MAX_DEPTH:
        raise _fail(path, f"groups nest at most {MAX_DEPTH} deep", depth)
    if not isinstance(node, Mapping):
        raise _fail(path, "expected a group {all|any|not} or a condition {field, op, value}", node)
    group_keys = [key for key in ("all", "any", "not") if key in node]
    if not group_keys:
        if "field" in node or "op" in node:
            _check_condition(path, node)
            return
        raise _fail(path, "expected a group {all|any|not} or a condition {field, op, value}", dict(node))
    if len(node) != 1:
        raise _fail(path, "a group has exactly one key: all, any or not", sorted(node))
    key = group_keys[0]
    child_path = _join(path, key)
    if key == "not":
        _check_node(child_path, node["not"], depth + 1, counter)
        return
    parts = node[key]
    if not isinstance(parts, list):
        raise _fail(child_path, f"{key} needs a list", parts)
    for index, part in enumerate(parts):
        _check_node(f"{child_path}[{index}]", part, depth + 1, counter)


def _fields(node: Mapping[str, Any]) -> set[str]:
    for key in ("all", "any"):
        if key in node:
            return set().union(*(_fields(part) for part in node[key]))
    if "not" in node:
        return _fields(node["not"])
    return {str(node["field"])}


# Fields read from the account row itself; ``won_deals`` reads opportunities and ``owner`` users.
_ACCOUNT_ROW_FIELDS = frozenset((*TEXT_FIELDS, "employees", "annual_revenue", "parent_account"))


def reads_only_account_row(rule: Mapping[str, Any]) -> bool:
    """Whether a (valid) rule's outcome for an account depends on that account's row alone.

    Such a rule can be re-evaluated for just the accounts an import changed; a rule on won deals
    or owners can change for accounts the import never touched.
    """
    return all(field in _ACCOUNT_ROW_FIELDS or field.startswith(CUSTOM_PREFIX) for field in _fields(rule))


def check_rule(rule: Any, *, path: str = "") -> dict[str, Any]:
    """Validate a rule; return it unchanged or raise ``ValidationFailed`` naming the path, field and value.

    ``path`` prefixes the reported location (for a rule nested in a larger request).
    """
    _check_node(path, rule, 0, [0])
    result: dict[str, Any] = rule
    return result


# --- compilation -------------------------------------------------------------------------------


class numeric_or_null(FunctionElement[float]):  # noqa: N801 (a SQL function reads as one)
    """The number a text holds, or NULL when the text is not a plain decimal number.

    On SQLite this is a bare ``CAST(text AS REAL)`` (any text casts, 'abc' to 0): it must always be
    paired with ``numeric_text_guard`` of the same text, which rules the non-numbers out.
    """

    type = Float()
    name = "numeric_or_null"
    inherit_cache = True


class numeric_text_guard(FunctionElement[bool]):  # noqa: N801 (a SQL function reads as one)
    """True when a text is a plain decimal number (SQLite); always true on PostgreSQL.

    SQLite re-parses the JSON for every extraction of a custom field. A condition written
    ``<comparison on CAST(text)> AND <text is a number>`` extracts the value once for the rows the
    comparison rules out and twice only for the rest, where a CASE would extract it twice per row;
    both read the same (NULL and false are both "no match" wherever a rule is used).
    """

    type = Boolean()
    name = "numeric_text_guard"
    inherit_cache = True


@compiles(numeric_or_null)
def _numeric_or_null_sqlite(element: numeric_or_null, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(next(iter(element.clauses)), **kw)} AS REAL)"


@compiles(numeric_text_guard)
def _numeric_text_guard_sqlite(element: numeric_text_guard, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite casts any text to a number, so the characters are checked instead.
    return f"({compiler.process(next(iter(element.clauses)), **kw)} NOT GLOB '*[^0-9.+-]*')"


@compiles(numeric_or_null, "postgresql")
def _numeric_or_null_postgresql(element: numeric_or_null, compiler: SQLCompiler, **kw: Any) -> str:
    text = compiler.process(next(iter(element.clauses)), **kw)
    return (
        f"(CASE WHEN {text} ~ '^[[:space:]]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)[[:space:]]*$' "
        f"THEN CAST({text} AS DOUBLE PRECISION) END)"
    )


@compiles(numeric_text_guard, "postgresql")
def _numeric_text_guard_postgresql(element: numeric_text_guard, compiler: SQLCompiler, **kw: Any) -> str:
    # numeric_or_null already yields NULL for a non-number there.
    return "true"


class case_folded(FunctionElement[str]):  # noqa: N801 (a SQL function reads as one)
    """A text compared without regard to case: ``lower(text)``, or on SQLite ``text COLLATE NOCASE``.

    Both fold ASCII letters only on SQLite, so against an already lower-cased value they match the
    same rows; the collation compares in place where ``lower`` builds a new string per row (half
    the cost of a text condition over a million accounts). ``LIKE`` already ignores ASCII case.
    """

    type = String()
    name = "case_folded"
    inherit_cache = True


@compiles(case_folded)
def _case_folded_default(element: case_folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(next(iter(element.clauses)), **kw)})"


@compiles(case_folded, "sqlite")
def _case_folded_sqlite(element: case_folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(next(iter(element.clauses)), **kw)} COLLATE NOCASE)"


def _custom_text(key: str) -> ColumnElement[str]:
    text: ColumnElement[str] = Account.custom_fields[key].as_string()
    return text


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_condition(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    # A missing value makes the comparison NULL (never true); ``not`` turns NULL into false first.
    filled: ColumnElement[str] = func.coalesce(column, "")
    if op == "is_empty":
        return filled == ""
    if op == "is_not_empty":
        return filled != ""
    lowered: ColumnElement[str] = case_folded(column)
    if op == "eq":
        return lowered == str(value).lower()
    if op == "ne":
        return lowered != str(value).lower()
    if op == "in":
        return lowered.in_([item.lower() for item in value])
    if op == "not_in":
        return lowered.not_in([item.lower() for item in value])
    if op == "contains":
        return lowered.like(f"%{_like_escape(value.lower())}%", escape="\\")
    if op == "starts_with":
        return lowered.like(f"{_like_escape(value.lower())}%", escape="\\")
    raise AssertionError(f"op {op} reached compilation unchecked")  # pragma: no cover


def _number_condition(
    column: Any, op: str, value: Any, to_stored: Callable[[Any], Any]
) -> ColumnElement[bool]:
    if op == "is_empty":
        return column.is_(None)  # type: ignore[no-any-return]
    if op == "is_not_empty":
        return column.is_not(None)  # type: ignore[no-any-return]
    if op == "in":
        return column.in_([to_stored(item) for item in value])  # type: ignore[no-any-return]
    if op == "not_in":
        return column.not_in([to_stored(item) for item in value])  # type: ignore[no-any-return]
    if op == "between":
        return column.between(to_stored(value[0]), to_stored(value[1]))  # type: ignore[no-any-return]
    comparisons: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }
    return comparisons[op](to_stored(value))


def _revenue_amount(value: Any) -> Decimal:
    # JSON numbers may arrive as floats; str() keeps the digits the user wrote. The column's
    # MoneyAmount type turns the Decimal into cents when it binds the parameter.
    return Decimal(str(value))


def _as_float(value: Any) -> float:
    return float(value)


def _owner_ids(values: Sequence[Any]) -> Any:
    ids = [value for value in values if isinstance(value, int)]
    emails = [value.lower() for value in values if isinstance(value, str)]
    return select(User.id).where(or_(User.id.in_(ids), func.lower(User.email).in_(emails)))


def _owner_condition(op: str, value: Any) -> ColumnElement[bool]:
    column = Account.owner_id
    if op == "is_empty":
        return column.is_(None)
    if op == "is_not_empty":
        return column.is_not(None)
    values = value if isinstance(value, list) else [value]
    matched = column.in_(_owner_ids(values))
    # NULL owner: NULL either way (never true), like every comparison with a missing value.
    return matched if op in ("eq", "in") else not_(matched)


def _custom_condition(key: str, op: str, value: Any) -> ColumnElement[bool]:
    text = _custom_text(key)
    if op in _EMPTINESS_OPS or op in ("contains", "starts_with"):
        return _text_condition(text, op, value)
    values = value if isinstance(value, list) else [value]
    if op in ("gt", "gte", "lt", "lte", "between") or all(_is_number(item) for item in values):
        compared = _number_condition(numeric_or_null(text), op, value, _as_float)
        return and_(compared, numeric_text_guard(text))
    textual = [item if isinstance(item, str) else _number_text(item) for item in values]
    return _text_condition(text, op, textual if isinstance(value, list) else textual[0])


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _won_deals_condition(op: str, value: Any) -> ColumnElement[bool]:
    """Accounts whose number of won deals satisfies the condition, as one grouped subquery.

    A correlated count per account would run once per row; the grouped subquery runs once. Accounts
    without any won deal are absent from it, so when zero satisfies the condition the account is
    kept unless its (non-zero) count fails.
    """
    count = func.count()
    holds = _number_condition(count, op, value, lambda item: item)
    zero_holds = _number_holds(op, value, 0)
    # OFFSET 0: the won deals are read straight from the table and then grouped. Grouped directly,
    # SQLite walks the account index in order and looks up every deal's row to test is_won (three
    # to four times slower for 300,000 deals).
    won_deals = (
        select(Opportunity.account_id.label("account_id"))
        .where(Opportunity.is_won.is_(True), Opportunity.account_id.is_not(None))
        .offset(0)
        .subquery("won_deal")
    )
    won = select(won_deals.c.account_id).group_by(won_deals.c.account_id)
    if zero_holds:
        return Account.id.not_in(won.having(not_(holds)))
    return Account.id.in_(won.having(holds))


def _number_holds(op: str, value: Any, number: int) -> bool:
    checks: dict[str, Callable[[], bool]] = {
        "eq": lambda: number == value,
        "ne": lambda: number != value,
        "gt": lambda: number > value,
        "gte": lambda: number >= value,
        "lt": lambda: number < value,
        "lte": lambda: number <= value,
        "between": lambda: value[0] <= number <= value[1],
        "in": lambda: number in value,
        "not_in": lambda: number not in value,
        "is_empty": lambda: False,
        "is_not_empty": lambda: True,
    }
    return checks[op]()


def _compile_condition(node: Mapping[str, Any]) -> ColumnElement[bool]:
    field, op, value = node["field"], node["op"], node.get("value")
    kind = field_kind(field)
    if kind == "text":
        return _text_condition(_TEXT_COLUMNS[field], op, value)
    if kind == "number":
        if field == "employees":
            return _number_condition(Account.employees, op, value, lambda item: item)
        if field == "won_deals":
            return _won_deals_condition(op, value)
        return _number_condition(Account.annual_revenue_amount, op, value, _revenue_amount)
    if kind == "owner":
        return _owner_condition(op, value)
    if kind == "parent":
        column = Account.parent_account_id
        return column.is_(None) if op == "is_empty" else column.is_not(None)
    return _custom_condition(field[len(CUSTOM_PREFIX) :], op, value)


# How costly a field is to test per account, cheapest first: a column of the row, a custom field
# (SQLite parses the JSON text, PostgreSQL too for a json column), then subqueries.
_FIELD_COST = {"owner": 2, "won_deals": 3}


def _cost(node: Mapping[str, Any]) -> int:
    """The cost rank of a (valid) rule part: that of its costliest field."""
    return max(
        (_FIELD_COST.get(field, 1 if field.startswith(CUSTOM_PREFIX) else 0) for field in _fields(node)),
        default=0,
    )


def _compile_parts(parts: Sequence[Mapping[str, Any]]) -> list[ColumnElement[bool]]:
    # AND and OR give the same answer in any order (NULL included) and both databases stop at the
    # first part that decides, so cheap parts go first: a custom field is read only for accounts
    # the row's own columns have not already decided (the order the user wrote is kept otherwise).
    return [_compile_node(part) for part in sorted(parts, key=_cost)]


def _compile_node(node: Mapping[str, Any]) -> ColumnElement[bool]:
    if "all" in node:
        parts = _compile_parts(node["all"])
        return and_(true(), *parts) if parts else true()
    if "any" in node:
        parts = _compile_parts(node["any"])
        return or_(false(), *parts) if parts else false()
    if "not" in node:
        # Conditions on missing values are NULL; NOT NULL would stay NULL, so make it false first.
        return not_(func.coalesce(_compile_node(node["not"]), false()))
    return _compile_condition(node)


def compile_rule(rule: Any) -> ColumnElement[bool]:
    """The SQL condition over ``Account`` that an account matches ``rule`` (validated first)."""
    return _compile_node(check_rule(rule))


# --- description -------------------------------------------------------------------------------


def _describe_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_describe_value(item) for item in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:,}" if isinstance(value, int) else str(value)


_OP_WORDS = {
    "eq": "is",
    "ne": "is not",
    "in": "in",
    "not_in": "not in",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "between": "between",
    "contains": "contains",
    "starts_with": "starts with",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}


def describe_rule(rule: Mapping[str, Any]) -> str:
    """A one-line reading of a (valid) rule, e.g. ``industry in ["Banking"] and employees ≥ 1,000``."""
    text = _describe(rule)
    # The outermost group needs no parentheses.
    if text.startswith("(") and text.endswith(")") and ("all" in rule or "any" in rule):
        return text[1:-1]
    return text


def _describe(rule: Mapping[str, Any]) -> str:
    if "all" in rule or "any" in rule:
        key = "all" if "all" in rule else "any"
        parts = [_describe(part) for part in rule[key]]
        if not parts:
            return "every account" if key == "all" else "no account"
        joined = (" and " if key == "all" else " or ").join(parts)
        return joined if len(parts) == 1 else f"({joined})"
    if "not" in rule:
        return f"not {_describe(rule['not'])}"
    words = f"{rule['field']} {_OP_WORDS.get(rule['op'], rule['op'])}"
    return words if rule["op"] in _EMPTINESS_OPS else f"{words} {_describe_value(rule.get('value'))}"
