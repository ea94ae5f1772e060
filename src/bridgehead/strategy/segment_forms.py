"""The rule editor's form: rows of conditions (field, op, value) to and from the rule JSON.

The form is the simple view of a rule: one ``all``/``any`` group of plain conditions. Anything
richer (nested groups, ``not``) is edited in the advanced JSON view; ``rows_from_rule`` returns
None for such a rule so the page opens in that view.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridgehead.errors import ValidationFailed
from bridgehead.strategy.rules import field_kind

MAX_ROWS = 30
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
VALUELESS_OPS = ("is_empty", "is_not_empty")


@dataclass
class ConditionRow:
    """One row of the form, as typed (value is the raw text of the input)."""

    field: str = ""
    op: str = "eq"
    value: str = ""


@dataclass
class RuleForm:
    """The editor's state: rows, how they combine, and the advanced JSON view."""

    match: str = "all"
    rows: list[ConditionRow] = field(default_factory=list)
    mode: str = "conditions"
    rule_json: str = ""


def _number(text: str) -> int | float | str:
    cleaned = text.strip().replace("_", "")
    if "," in cleaned and re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?", cleaned):
        cleaned = cleaned.replace(",", "")
    if not _NUMBER.match(cleaned):
        return text.strip()  # left as text: check_rule reports it with its path
    number = float(cleaned)
    return int(number) if number.is_integer() and "." not in cleaned else number


def _typed_scalar(kind: str, text: str) -> Any:
    if kind == "number":
        return _number(text)
    if kind == "owner":
        return int(text) if text.strip().isdigit() else text.strip()
    if kind == "custom":
        parsed = _number(text)
        return parsed if not isinstance(parsed, str) else text.strip()
    return text.strip()


def condition_from_row(row: ConditionRow) -> dict[str, Any]:
    """The JSON condition a row stands for, typed by its field (numbers for numeric fields)."""
    condition: dict[str, Any] = {"field": row.field.strip(), "op": row.op}
    kind = field_kind(condition["field"]) or "text"
    if row.op in VALUELESS_OPS:
        return condition
    text = row.value.strip()
    if not text:
        return condition  # no value yet: check_rule says which row needs one
    if row.op in ("in", "not_in"):
        condition["value"] = [_typed_scalar(kind, part) for part in text.split(",") if part.strip()]
    elif row.op == "between":
        condition["value"] = [_number(part) for part in re.split(r",|\band\b", text) if part.strip()]
    elif row.op in ("gt", "gte", "lt", "lte"):
        condition["value"] = _number(text)
    elif row.op in ("contains", "starts_with"):
        condition["value"] = text
    else:
        condition["value"] = _typed_scalar(kind, text)
    return condition


def rule_from_form(form: RuleForm) -> dict[str, Any]:
    """The rule the form describes: the parsed JSON in the advanced view, else the rows' group."""
    if form.mode == "json":
        try:
            parsed = json.loads(form.rule_json or "{}")
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                f"the rule is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                field="rule_json",
                value=form.rule_json[:120],
            ) from exc
        if not isinstance(parsed, dict):
            raise ValidationFailed(
                "the rule must be a JSON object", field="rule_json", value=form.rule_json[:120]
            )
        return parsed
    match = form.match if form.match in ("all", "any") else "all"
    return {match: [condition_from_row(row) for row in form.rows if row.field.strip()]}


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_value_text(item) for item in value)
    return str(value)


def rows_from_rule(rule: Mapping[str, Any]) -> tuple[str, list[ConditionRow]] | None:
    """The rule as rows if it is one group of plain conditions; None otherwise."""
    if len(rule) != 1 or not ({"all", "any"} & set(rule)):
        return None
    match = "all" if "all" in rule else "any"
    parts = rule[match]
    if not isinstance(parts, list) or not all(
        isinstance(part, Mapping) and "field" in part for part in parts
    ):
        return None
    rows = [
        ConditionRow(
            field=str(part["field"]), op=str(part.get("op", "eq")), value=_value_text(part.get("value"))
        )
        for part in parts
    ]
    return match, rows


def form_for_rule(rule: Mapping[str, Any]) -> RuleForm:
    """The editor's state for a stored rule (advanced view when the rows cannot show it)."""
    rule_json = json.dumps(rule, indent=2, ensure_ascii=False)
    as_rows = rows_from_rule(rule)
    if as_rows is None:
        return RuleForm(match="all", rows=[ConditionRow()], mode="json", rule_json=rule_json)
    match, rows = as_rows
    return RuleForm(match=match, rows=rows or [ConditionRow()], mode="conditions", rule_json=rule_json)


def form_from_fields(fields: Mapping[str, str]) -> RuleForm:
    """Read the editor's state from submitted form fields (``field_0``, ``op_0``, ``value_0``, ...)."""
    try:
        row_count = min(int(fields.get("row_count", "0")), MAX_ROWS)
    except ValueError:
        row_count = 0
    rows = [
        ConditionRow(
            field=fields.get(f"field_{index}", ""),
            op=fields.get(f"op_{index}", "eq"),
            value=fields.get(f"value_{index}", ""),
        )
        for index in range(max(row_count, 0))
        if f"field_{index}" in fields or f"op_{index}" in fields
    ]
    return RuleForm(
        match=fields.get("match", "all"),
        rows=rows,
        mode="json" if fields.get("rule_mode") == "json" else "conditions",
        rule_json=fields.get("rule_json", ""),
    )


def apply_editor_action(form: RuleForm, action: str) -> RuleForm:
    """``add`` appends an empty row; ``remove:N`` drops row N (one row always stays)."""
    if action == "add" and len(form.rows) < MAX_ROWS:
        form.rows.append(ConditionRow())
    elif action.startswith("remove:"):
        index_text = action.split(":", 1)[1]
        if index_text.isdigit() and int(index_text) < len(form.rows):
            del form.rows[int(index_text)]
    if not form.rows:
        form.rows.append(ConditionRow())
    return form
