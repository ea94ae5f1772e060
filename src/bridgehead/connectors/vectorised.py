"""Column-wise parsing: whole Arrow columns of cell text into staged values, with the same results
as the cell-by-cell parsers in ``values.py`` and ``parsing.py``.

Each ``check_…`` function takes a column of raw cell text and returns the values in *stage form*
(what the staging table receives) and a mask of the cells it did not accept. It accepts only the
shapes it can decide exactly (``2026-03-04``, ``1234.50``, ``true``, trimmed text of the allowed
length, …). Every other cell is handed back: the engine parses those with the row-wise parser,
which either returns the value or raises the very reason a person reads in the report. So a
column is checked at C speed, and the few unusual cells are still judged by one definition.

Stage forms: text stays text; integers, cents and percentages are ``int64``; booleans ``bool``;
dates ``YYYY-MM-DD`` text; date-times ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text in UTC (the form the
row-wise path stores on SQLite; PostgreSQL's COPY reads it with the ``+00`` the loader appends).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from bridgehead.common.types import MAX_AMOUNT
from bridgehead.connectors.entities import FieldSpec, Kind
from bridgehead.connectors.report import ImportOptions

BoolMask = NDArray[np.bool_]

# Trimmed text: empty, or starting and ending with a visible ASCII character (anything else,
# such as Unicode spaces Python's strip() removes, goes to the row-wise parser).
_TRIMMED = r"(?s)^([!-~](.*[!-~])?)?$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_WHOLE = r"^[0-9]{1,9}$"
# Up to 13 digits keeps every accepted amount below MAX_AMOUNT (checked below anyway).
_AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
_PERCENT = r"^([0-9]{1,2}|100)$"
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Salesforce's own shapes: 2026-03-04T10:11:12.000Z, …+0000, …+00:00, without or with 3/6 decimals.
_ISO_UTC = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3}|\.[0-9]{6})?(Z|\+0000|\+00:00)$"
)
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@dataclass
class Checked:
    """A column in stage form, and which of its cells need the row-wise parser."""

    values: pa.Array
    unsure: BoolMask


def _mask(array: pa.Array) -> BoolMask:
    """A boolean Arrow array (nulls as False) as numpy."""
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _matches(column: pa.Array, pattern: str) -> BoolMask:
    return _mask(pc.match_substring_regex(column, pattern))


def _empty(column: pa.Array) -> BoolMask:
    return _mask(pc.equal(pc.binary_length(column), 0))


def _null_where(values: pa.Array, mask: BoolMask) -> pa.Array:
    """``values`` with the cells under ``mask`` set to null."""
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


def check_text(column: pa.Array, *, max_length: int) -> Checked:
    """``values.parse_text`` for whole columns: trimmed, no NUL, at most ``max_length`` characters."""
    sure = _matches(column, _TRIMMED)
    sure &= ~_mask(pc.match_substring(column, "\x00"))
    sure &= _mask(pc.less_equal(pc.utf8_length(column), max_length))
    empty = _empty(column)
    return Checked(_null_where(column, empty | ~sure), ~sure)


def check_email(column: pa.Array, *, max_length: int) -> Checked:
    """The e-mail parser for whole columns: ASCII addresses of one ``@`` and a dotted domain, lower-cased."""
    text = check_text(column, max_length=max_length)
    empty = _empty(column)
    sure = ~text.unsure & (empty | (_mask(pc.string_is_ascii(column)) & _matches(column, _EMAIL)))
    return Checked(_null_where(pc.utf8_lower(column), empty | ~sure), ~sure)


def _digits_to_int(column: pa.Array, sure: BoolMask) -> pa.Array:
    cleaned = pc.if_else(pa.array(sure), column, pa.scalar("0"))
    numbers: pa.Array = pc.cast(cleaned, pa.int64())
    return _null_where(numbers, ~sure)


def check_int(column: pa.Array) -> Checked:
    """``values.parse_int`` for whole columns: plain digits (up to 999,999,999) without separators."""
    empty = _empty(column)
    sure = _matches(column, _WHOLE)
    return Checked(_digits_to_int(column, sure), ~(sure | empty))


def check_money(column: pa.Array, *, decimal_comma: bool) -> Checked:
    """The money parser for whole columns: ``1234``, ``1234.5``, ``1234.50`` → integer cents."""
    empty = _empty(column)
    if decimal_comma:
        # Which of ``.`` and ``,`` groups thousands depends on the option; the row-wise parser decides.
        return Checked(pa.nulls(len(column), pa.int64()), ~empty)
    sure = _matches(column, _AMOUNT)
    # Pad to exactly two decimals, then drop the point: "12" → "1200", "12.5" → "1250".
    padded = pc.replace_substring_regex(column, r"^([0-9]+)$", r"\1.00")
    # RE2 group references are one digit: "\\10" is group 1, then "0".
    padded = pc.replace_substring_regex(padded, r"\.([0-9])$", r".\10")
    cents = _digits_to_int(pc.replace_substring(padded, ".", ""), sure)
    limit = int(MAX_AMOUNT * 100)
    over = _mask(pc.greater(cents, limit))
    sure &= ~over
    return Checked(_null_where(cents, ~sure), ~(sure | empty))


def check_percent(column: pa.Array) -> Checked:
    """The percentage parser for whole columns: whole numbers 0-100 (anything else: row-wise)."""
    empty = _empty(column)
    sure = _matches(column, _PERCENT)
    return Checked(_digits_to_int(column, sure), ~(sure | empty))


def check_bool(column: pa.Array) -> Checked:
    """``values.parse_bool`` for whole columns."""
    empty = _empty(column)
    lower = pc.utf8_lower(column)
    true = _mask(pc.is_in(lower, value_set=pa.array(_TRUE)))
    false = _mask(pc.is_in(lower, value_set=pa.array(_FALSE)))
    values = _null_where(pa.array(true), ~(true | false))
    return Checked(values, ~(true | false | empty))


def _real_dates(column: pa.Array, sure: BoolMask) -> BoolMask:
    """Which ``YYYY-MM-DD`` cells (under ``sure``) are days of the calendar (``2026-02-30`` is not)."""
    if not sure.any():
        return sure
    year = np.zeros(len(column), dtype=np.int64)
    month = np.zeros(len(column), dtype=np.int64)
    day = np.zeros(len(column), dtype=np.int64)
    safe = pc.if_else(pa.array(sure), pc.utf8_slice_codeunits(column, 0, 10), pa.scalar("2000-01-01"))
    for target, start, stop in ((year, 0, 4), (month, 5, 7), (day, 8, 10)):
        target[:] = pc.cast(pc.utf8_slice_codeunits(safe, start, stop), pa.int64()).to_numpy()
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    valid_month = (month >= 1) & (month <= 12)
    longest = _DAYS_IN_MONTH[np.where(valid_month, month, 0)] + ((month == 2) & leap)
    real: BoolMask = sure & (year >= 1) & valid_month & (day >= 1) & (day <= longest)
    return real


def check_date(column: pa.Array, *, formats: tuple[str, ...]) -> Checked:
    """``values.parse_date`` for whole columns: real ``YYYY-MM-DD`` days (declared formats: row-wise)."""
    empty = _empty(column)
    if formats:
        return Checked(pa.nulls(len(column), pa.string()), ~empty)
    sure = _real_dates(column, _matches(column, _ISO_DATE))
    return Checked(_null_where(column, ~sure), ~(sure | empty))


def check_datetime(column: pa.Array, *, formats: tuple[str, ...]) -> Checked:
    """``values.parse_datetime`` for whole columns: Salesforce's UTC shapes and bare dates (midnight UTC)."""
    empty = _empty(column)
    if formats:
        return Checked(pa.nulls(len(column), pa.string()), ~empty)
    bare = _real_dates(column, _matches(column, _ISO_DATE))
    stamped = _real_dates(column, _matches(column, _ISO_UTC))
    if stamped.any():
        safe = pc.if_else(pa.array(stamped), column, pa.scalar("2000-01-01T00:00:00Z"))
        clock = [
            pc.cast(pc.utf8_slice_codeunits(safe, start, start + 2), pa.int64()).to_numpy()
            for start in (11, 14, 17)
        ]
        stamped &= (clock[0] < 24) & (clock[1] < 60) & (clock[2] < 60)
    day = pc.utf8_slice_codeunits(column, 0, 10)
    time = pc.utf8_slice_codeunits(column, 11, 19)
    # Fractions: ".000" → "000000", ".123456" stays; none → "000000".
    decimals = pc.extract_regex(column, r"^.{19}\.(?P<f>[0-9]+)")
    digits = pc.if_else(pc.is_valid(decimals), pc.struct_field(decimals, [0]), pa.scalar(""))
    digits = pc.utf8_rpad(digits, width=6, padding="0")
    # As Python's datetime.isoformat(" ") writes it: no fraction when it is zero.
    fraction = pc.if_else(pc.equal(digits, "000000"), "", pc.binary_join_element_wise(".", digits, ""))
    moment = pc.binary_join_element_wise(day, " ", time, fraction, "")
    midnight = pc.binary_join_element_wise(day, " 00:00:00", "")
    values = pc.if_else(pa.array(bare), midnight, moment)
    sure = bare | stamped
    return Checked(_null_where(values, ~sure), ~(sure | empty))


def check_choice(column: pa.Array, *, allowed: frozenset[str]) -> Checked:
    """The choice parser for whole columns: ``Best Case`` → ``best_case`` when it is allowed."""
    empty = _empty(column)
    normalised = pc.replace_substring(pc.replace_substring(pc.utf8_lower(column), " ", "_"), "-", "_")
    sure = _mask(pc.is_in(normalised, value_set=pa.array(sorted(allowed), pa.string())))
    sure &= _mask(pc.string_is_ascii(column)) & _matches(column, _TRIMMED)
    return Checked(_null_where(normalised, ~sure), ~(sure | empty))


def column_checker(spec: FieldSpec, options: ImportOptions) -> Callable[[pa.Array], Checked]:
    """The column-wise counterpart of ``parsing.field_parser(spec, options)``."""
    kind = spec.kind
    if kind == Kind.TEXT:
        return lambda column: check_text(column, max_length=spec.max_length)
    if kind == Kind.REF:
        return lambda column: check_text(column, max_length=255)
    if kind == Kind.EMAIL:
        return lambda column: check_email(column, max_length=spec.max_length)
    if kind == Kind.INT:
        return check_int
    if kind == Kind.MONEY:
        return lambda column: check_money(column, decimal_comma=options.decimal_comma)
    if kind == Kind.PERCENT:
        return check_percent
    if kind == Kind.BOOL:
        return check_bool
    if kind == Kind.DATE:
        return lambda column: check_date(column, formats=options.date_formats)
    if kind == Kind.DATETIME:
        formats = options.datetime_formats or options.date_formats
        return lambda column: check_datetime(column, formats=formats)
    if kind == Kind.CHOICE:
        assert spec.choices is not None
        allowed = frozenset(member.value for member in spec.choices)
        return lambda column: check_choice(column, allowed=allowed)
    raise AssertionError(kind)


def stage_form(spec: FieldSpec, value: Any) -> Any:
    """A value the row-wise parser returned, in the stage form ``check_…`` produce for ``spec``."""
    if value is None:
        return None
    if spec.kind == Kind.DATE:
        assert isinstance(value, dt.date)
        return value.isoformat()
    if spec.kind == Kind.DATETIME:
        assert isinstance(value, dt.datetime)
        moment = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        # What the row-wise path stores on SQLite: the driver writes datetimes with isoformat(" ").
        return moment.isoformat(" ")
    if isinstance(value, Decimal):
        return int(value)
    return value


STAGE_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.int64(),
    Kind.MONEY: pa.int64(),
    Kind.PERCENT: pa.int64(),
    Kind.BOOL: pa.bool_(),
}


def stage_type(spec: FieldSpec) -> pa.DataType:
    """The Arrow type of ``spec``'s stage form."""
    return STAGE_ARROW_TYPES.get(spec.kind, pa.string())
