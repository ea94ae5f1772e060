"""Parsing cell text into typed values, with reasons a person can act on when it fails.

Every parser takes the raw cell text and returns a value or ``None`` for an empty cell; on bad
input it raises ``ValueError`` whose message is the reason shown in the import report.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from bridgehead.common.types import MAX_AMOUNT

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EXCEL_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")
_SLASHED = re.compile(r"^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$")
_OFFSET_WITHOUT_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
_SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def parse_text(text: str, *, max_length: int = 255) -> str | None:
    """Trimmed text; refuses text longer than the column holds."""
    value = text.strip()
    if not value:
        return None
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if len(value) > max_length:
        raise ValueError(f"longer than {max_length} characters ({len(value)})")
    return value


def parse_decimal(
    text: str,
    *,
    allow_negative: bool = False,
    maximum: Decimal = MAX_AMOUNT,
    decimal_comma: bool = False,
) -> Decimal | None:
    """A finite number within ``[0, maximum]`` (or ``[-maximum, maximum]``); thousands separators allowed."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    if not value:
        return None
    value = value.replace(".", "").replace(",", ".") if decimal_comma else value.replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    if number < 0 and not allow_negative:
        raise ValueError("must not be negative")
    if abs(number) > maximum:
        raise ValueError(f"too large (the limit is {maximum:,})")
    return number


def parse_int(text: str, *, minimum: int = 0, maximum: int = 2_000_000_000) -> int | None:
    """A whole number within bounds (``1,234`` and ``1234.0`` accepted)."""
    number = parse_decimal(text, allow_negative=minimum < 0, maximum=Decimal(maximum))
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError("not a whole number")
    whole = int(number)
    if whole < minimum:
        raise ValueError(f"must be at least {minimum}")
    return whole


def parse_bool(text: str) -> bool | None:
    """``true``/``false`` (and 1/0, yes/no), any case."""
    value = text.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("not true or false")


def parse_date(text: str, *, formats: tuple[str, ...] = ()) -> dt.date | None:
    """An ISO date (``2026-03-04``; a date-time's date part), or one of ``formats``.

    Refuses impossible dates (``2026-02-30``) and the shapes spreadsheets leave behind: serial
    numbers (``45292``), ``########``, and ambiguous ``3/4/26`` when no format says which is which.
    """
    value = text.strip()
    if not value:
        return None
    for date_format in formats:
        try:
            return dt.datetime.strptime(value, date_format).date()
        except ValueError:
            continue
    match = _ISO_DATE.match(value[:10])
    if match and (len(value) == 10 or value[10] in "T "):
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise ValueError("not a real calendar date") from None
    # The shapes spreadsheets leave behind get their own reason, with or without declared formats.
    if set(value) == {"#"}:
        raise ValueError("a spreadsheet placeholder (the column was too narrow when saved), not a date")
    if _EXCEL_SERIAL.match(value):
        raise ValueError("looks like an Excel serial date number; export dates as YYYY-MM-DD")
    if formats:
        raise ValueError(f"not a date in the format {' or '.join(formats)}")
    if _SLASHED.match(value):
        raise ValueError("ambiguous date (day/month order unknown); use YYYY-MM-DD or set a date format")
    raise ValueError("not a date (expected YYYY-MM-DD)")


def parse_datetime(text: str, *, formats: tuple[str, ...] = ()) -> dt.datetime | None:
    """A point in time in UTC: ISO 8601 with ``Z``, ``.000Z``, ``+00:00`` or ``+0000``; a bare date is midnight UTC."""
    value = text.strip()
    if not value:
        return None
    for date_format in formats:
        try:
            parsed = dt.datetime.strptime(value, date_format)
        except ValueError:
            continue
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    if len(value) == 10:
        day = parse_date(value)
        assert day is not None
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    normalised = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", value.replace("Z", "+00:00"))
    if not _ISO_DATE.match(normalised[:10]):
        parse_date(value[:10])  # raises the most helpful reason for what the cell holds
        raise ValueError("not a date-time (expected ISO 8601)")
    try:
        parsed = dt.datetime.fromisoformat(normalised)
    except ValueError:
        raise ValueError("not a real date-time") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def salesforce_id(text: str) -> str | None:
    """The 18-character form of a Salesforce record id, so a 15-character id names the same record."""
    value = text.strip()
    if not value:
        return None
    if not _SALESFORCE_ID.match(value):
        raise ValueError("not a Salesforce id (15 or 18 letters and digits)")
    if len(value) == 18:
        # The suffix encodes the case of the first 15 characters; recompute it so ids typed in
        # another case still agree with the case-sensitive 15-character part.
        return value[:15] + _id_suffix(value[:15])
    return value + _id_suffix(value)


def _id_suffix(id15: str) -> str:
    suffix = ""
    for block in range(3):
        bits = 0
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return suffix
