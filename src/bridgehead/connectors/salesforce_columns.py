"""Salesforce export files column-wise: the same fields as ``salesforce._rows``, a block at a time.

The planners in ``salesforce.py`` say which column becomes which field; for the large files
(accounts, contacts, opportunities, history, contact roles, tasks, events) these functions turn
each Arrow block (``arrow_csv.read_chunks``) into a ``ColumnChunk``: ids normalised to 18
characters with numpy, formula-neutralised text restored, custom fields as JSON text, derived
fields (activity links, kinds, forecast categories) computed per column. A row with a malformed
id is dropped and reported exactly as the row-wise reader reports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from bridgehead.connectors.arrow_csv import RawChunk, read_chunks
from bridgehead.connectors.files import RowProblem
from bridgehead.connectors.report import ColumnChunk
from bridgehead.connectors.values import salesforce_id

if TYPE_CHECKING:
    from bridgehead.connectors.salesforce import _Plan

_ID_SHAPE = r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$"
_SUFFIX_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)
_BIT_WEIGHTS = 1 << np.arange(5, dtype=np.int64)
# Bridgehead's export writes '=x for a cell =x (and likewise for + - @ tab CR); read it back.
_NEUTRALISED = "^'([=+\\-@\t\r])"
_NEEDS_JSON_ESCAPE = r"[\x00-\x1f\"\\]"


class IdErrors:
    """Malformed ids met in a block: per row, the first one in the row-wise reader's order."""

    def __init__(self, size: int) -> None:
        self.first: dict[int, tuple[int, str, str, str]] = {}
        self.order = 0
        self.size = size

    def add(self, position: int, column: str, value: str, reason: str) -> None:
        """Note a bad id; a row keeps the one found first in column order."""
        known = self.first.get(position)
        if known is None or known[0] > self.order:
            self.first[position] = (self.order, column, value, reason)


def _row_mask(size: int, rows: list[int]) -> pa.Array:
    mask = np.zeros(size, dtype=np.bool_)
    mask[rows] = True
    return pa.array(mask)


def eighteen_character_ids(column: pa.Array) -> pa.Array:
    """Every cell that is a 15- or 18-character id, as its 18-character form (others unchanged)."""
    size = len(column)
    shaped = pc.match_substring_regex(column, _ID_SHAPE)
    head = pc.if_else(shaped, pc.utf8_slice_codeunits(column, 0, 15), pa.scalar("0" * 15))
    head = pa.concat_arrays([head]) if head.offset else head
    offsets = np.frombuffer(head.buffers()[1], dtype=np.int32)[: size + 1]
    data = np.frombuffer(head.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[0] + 15 * size].reshape(
        size, 15
    )
    upper = ((data >= ord("A")) & (data <= ord("Z"))).reshape(size, 3, 5)
    suffix = _SUFFIX_ALPHABET[(upper * _BIT_WEIGHTS).sum(axis=2)]
    full = np.ascontiguousarray(np.hstack([data, suffix]))
    full_offsets = np.arange(0, 18 * (size + 1), 18, dtype=np.int32)
    eighteen = pa.Array.from_buffers(
        pa.string(), size, [None, pa.py_buffer(full_offsets.tobytes()), pa.py_buffer(full.tobytes())]
    )
    return pc.if_else(shaped, eighteen, column)


def normalise_column(column: pa.Array, name: str, errors: IdErrors) -> pa.Array:
    """``salesforce.normalise_id`` for a whole column; empty cells become ``""``, bad ids are noted."""
    errors.order += 1
    normal = eighteen_character_ids(column)
    odd = np.flatnonzero(
        ~np.asarray(
            pc.match_substring_regex(column, _ID_SHAPE).to_numpy(zero_copy_only=False), dtype=np.bool_
        )
        & (pc.binary_length(column).to_numpy() > 0)
    )
    if not len(odd):
        return normal
    rows: list[int] = []
    fixed: list[str] = []
    for position in odd:
        text = column[int(position)].as_py()
        try:
            value = salesforce_id(text) or ""
        except ValueError as exc:
            errors.add(int(position), name, text, str(exc))
            value = ""
        rows.append(int(position))
        fixed.append(value)
    return pc.replace_with_mask(normal, _row_mask(len(column), rows), pa.array(fixed, pa.string()))


def unquote_column(column: pa.Array) -> pa.Array:
    """``salesforce._unquote`` for a whole column."""
    return pc.replace_substring_regex(column, _NEUTRALISED, "\\1", max_replacements=1)


def trimmed(column: pa.Array) -> pa.Array:
    """Cells without surrounding whitespace (``str.strip``)."""
    return pc.utf8_trim_whitespace(column)


def custom_json(raw: RawChunk, custom: list[tuple[str, int]]) -> pa.Array:
    """Each row's custom fields as ``json.dumps(sort_keys=True, ensure_ascii=False)`` writes them."""
    size = len(raw)
    pieces = []
    values = {}
    for column, position in sorted(custom):
        value = unquote_column(raw.columns[position])
        values[column] = value
        escaped = pc.replace_substring(pc.replace_substring(value, "\\", "\\\\"), '"', '\\"')
        piece = pc.binary_join_element_wise(
            ", " + json.dumps(column, ensure_ascii=False) + ': "', escaped, '"', ""
        )
        empty = pc.equal(pc.binary_length(value), 0)
        pieces.append(pc.if_else(empty, "", piece))
    if not pieces:
        return pa.array(["{}"] * size, pa.string())
    # Every piece starts with ", "; the first one present must not (null_handling="skip" drops rows).
    joined = pc.replace_substring_regex(
        pc.binary_join_element_wise(*pieces, ""), "^, ", "", max_replacements=1
    )
    text = pc.binary_join_element_wise("{", joined, "}", "")
    # Control characters, quotes and backslashes: let json itself write those rows.
    awkward = np.zeros(size, dtype=np.bool_)
    for value in values.values():
        awkward |= np.asarray(
            pc.match_substring_regex(value, _NEEDS_JSON_ESCAPE).to_numpy(zero_copy_only=False), dtype=np.bool_
        )
    rows = [int(position) for position in np.flatnonzero(awkward)]
    if rows:
        fixed = [
            json.dumps(
                {column: value[row].as_py() for column, value in values.items() if value[row].as_py() != ""},
                sort_keys=True,
                ensure_ascii=False,
            )
            for row in rows
        ]
        text = pc.replace_with_mask(text, _row_mask(size, rows), pa.array(fixed, pa.string()))
    return text


ColumnDerive = Callable[[RawChunk, dict[str, pa.Array], IdErrors], None]
ColumnKeep = Callable[[RawChunk], NDArray[np.bool_]]


def column_chunks(
    plan: _Plan, problems: list[RowProblem], has_custom: bool, text_fields: frozenset[str]
) -> Iterator[ColumnChunk]:
    """The plan's file as ``ColumnChunk``s; rows with a malformed id go to ``problems``."""
    table = plan.table
    header = table.header
    id_index = plan.index(plan.id_column)
    for raw in read_chunks(table):
        if plan.keep_columns is not None:
            kept = plan.keep_columns(raw)
            if not kept.all():
                raw = raw.take(np.flatnonzero(kept))
        size = len(raw)
        if not size:
            continue
        errors = IdErrors(size)
        if id_index is not None:
            external_ids = normalise_column(raw.columns[id_index], plan.id_column, errors)
        else:
            external_ids = pa.array([""] * size, pa.string())
        values: dict[str, pa.Array] = {}
        for name, position in plan.plain:
            column = raw.columns[position]
            values[name] = unquote_column(column) if name in text_fields else column
        for name, position, column_name in plan.refs:
            values[name] = normalise_column(raw.columns[position], column_name, errors)
        if plan.derive_columns is not None:
            plan.derive_columns(raw, values, errors)
        custom = custom_json(raw, plan.custom) if has_custom else None
        if errors.first:
            for position in sorted(errors.first):
                _, column_name, value, reason = errors.first[position]
                problems.append(RowProblem(table.name, int(raw.lines[position]), column_name, value, reason))
            keep = np.ones(size, dtype=np.bool_)
            keep[list(errors.first)] = False
            rows = pa.array(np.flatnonzero(keep), pa.int64())
            raw = raw.take(np.flatnonzero(keep))
            external_ids = external_ids.take(rows)
            values = {name: value.take(rows) for name, value in values.items()}
            custom = custom.take(rows) if custom is not None else None
        yield ColumnChunk(raw.lines, external_ids, values, _cells_reader(header, raw), custom)


def _cells_reader(header: list[str], raw: RawChunk) -> Callable[[int], dict[str, str]]:
    def cells(position: int) -> dict[str, str]:
        return {column: raw.columns[index][position].as_py() for index, column in enumerate(header)}

    return cells


def not_true(column: pa.Array) -> NDArray[np.bool_]:
    """Rows whose cell is not ``true`` (any case, trimmed): the rows Data Loader did not delete."""
    deleted = pc.equal(pc.utf8_lower(trimmed(column)), "true")
    return ~np.asarray(deleted.to_numpy(zero_copy_only=False), dtype=np.bool_)


def activity_columns(
    account: int | None,
    what: int | None,
    who: int | None,
    call_type: int | None,
    seconds: int | None,
    times: list[int],
    kind_indexes: list[int] | None,
) -> ColumnDerive:
    """The activity derive step (kind, time, links, direction, duration) column-wise."""

    def derive(raw: RawChunk, values: dict[str, pa.Array], errors: IdErrors) -> None:
        size = len(raw)
        columns = raw.columns
        empty = pa.array([""] * size, pa.string())
        if kind_indexes is None:
            values["kind"] = pa.array(["meeting"] * size, pa.string())
        else:
            kind: pa.Array = pa.array(["task"] * size, pa.string())
            # The first column that names a known kind wins: apply them last to first.
            for index in reversed(kind_indexes):
                text = pc.utf8_lower(trimmed(columns[index]))
                named = pc.replace_substring_regex(text, "^listemail$", "email")
                known = pc.is_in(named, value_set=pa.array(["call", "email", "meeting"]))
                kind = pc.if_else(known, named, kind)
            values["kind"] = kind
        occurred: pa.Array = empty
        for index in reversed(times):
            text = trimmed(columns[index])
            occurred = pc.if_else(pc.greater(pc.binary_length(text), 0), text, occurred)
        values["occurred_at"] = occurred
        linked_account = (
            normalise_column(columns[account], "AccountId", errors) if account is not None else empty
        )
        if what is not None:
            target = normalise_column(columns[what], "WhatId", errors)
            prefix = pc.utf8_slice_codeunits(target, 0, 3)
            values["opportunity"] = pc.if_else(pc.equal(prefix, "006"), target, empty)
            no_account = pc.equal(pc.binary_length(linked_account), 0)
            linked_account = pc.if_else(pc.and_(no_account, pc.equal(prefix, "001")), target, linked_account)
            values["account"] = linked_account
        elif account is not None:
            values["account"] = linked_account
        if who is not None:
            person = normalise_column(columns[who], "WhoId", errors)
            values["contact"] = pc.if_else(
                pc.equal(pc.utf8_slice_codeunits(person, 0, 3), "003"), person, empty
            )
        if call_type is not None:
            direction = pc.utf8_lower(trimmed(columns[call_type]))
            known = pc.is_in(direction, value_set=pa.array(["inbound", "outbound"]))
            values["direction"] = pc.if_else(known, direction, empty)
        if seconds is not None:
            values["duration_minutes"] = minutes_column(trimmed(columns[seconds]))

    return derive


def minutes_column(text: pa.Array) -> pa.Array:
    """``_minutes`` for a whole column: whole seconds → rounded minutes; other text as it is."""
    digits = pc.match_substring_regex(text, "^[0-9]{1,15}$")
    seconds = pc.cast(pc.if_else(digits, text, "0"), pa.int64())
    minutes = pc.cast(pc.divide(pc.add(seconds, 30), 60), pa.string())
    result = pc.if_else(digits, minutes, text)
    odd = np.flatnonzero(
        ~np.asarray(digits.to_numpy(zero_copy_only=False), dtype=np.bool_)
        & (pc.binary_length(text).to_numpy() > 0)
    )
    if len(odd):
        # Other Unicode digits count as digits to str.isdigit(); the row-wise rule decides those.
        fixed = [minutes(text[int(position)].as_py()) for position in odd]
        mask = np.zeros(len(text), dtype=np.bool_)
        mask[odd] = True
        result = pc.replace_with_mask(result, pa.array(mask), pa.array(fixed, pa.string()))
    return result


def minutes(text: str) -> str:
    """Whole seconds as rounded minutes; other text unchanged (the engine names the problem)."""
    value = text.strip()
    if value.isdigit():
        return str((int(value) + 30) // 60)
    return value  # not a number of seconds: the engine names the problem


def forecast_columns(
    previous: ColumnDerive | None, position: int, categories: dict[str, str]
) -> ColumnDerive:
    """Forecast category from the column at ``position``: labels and API names → ours, else as written."""
    keys = pa.array(list(categories))
    labels = pa.array(list(categories.values()))

    def derive(raw: RawChunk, values: dict[str, pa.Array], errors: IdErrors) -> None:
        if previous is not None:
            previous(raw, values, errors)
        text = trimmed(raw.columns[position])
        known = pc.index_in(pc.utf8_lower(text), value_set=keys)
        values["forecast_category"] = pc.if_else(pc.is_valid(known), pc.take(labels, known), text)

    return derive


def role_columns(role: int | None, unspecified: str) -> ColumnDerive:
    """A contact role's ``Role`` (trimmed, formula quoting undone), ``unspecified`` when empty."""

    def derive(raw: RawChunk, values: dict[str, pa.Array], errors: IdErrors) -> None:
        if role is None:
            values["role"] = pa.array([unspecified] * len(raw), pa.string())
            return
        text = unquote_column(trimmed(raw.columns[role]))
        values["role"] = pc.if_else(pc.equal(pc.binary_length(text), 0), unspecified, text)

    return derive
