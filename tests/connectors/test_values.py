"""Cell parsers: the values they accept, and the reasons they give for the ones they refuse."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from bridgehead.connectors.values import (
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
    salesforce_id,
)

UTC = dt.UTC


def test_text_is_trimmed_and_bounded() -> None:
    assert parse_text("  Acme  ") == "Acme"
    assert parse_text("   ") is None
    with pytest.raises(ValueError, match="longer than 5 characters"):
        parse_text("abcdef", max_length=5)
    with pytest.raises(ValueError, match="NUL"):
        parse_text("a\x00b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234", Decimal("1234")),
        ("1,234.50", Decimal("1234.50")),
        (" 12 500 ", Decimal("12500")),
        ("\u00a0999", Decimal("999")),
        ("0", Decimal("0")),
        ("1E3", Decimal("1000")),
        ("", None),
    ],
)
def test_decimals(text: str, expected: Decimal | None) -> None:
    assert parse_decimal(text) == expected


def test_decimal_comma() -> None:
    assert parse_decimal("1.234,50", decimal_comma=True) == Decimal("1234.50")
    assert parse_decimal("-3,5", decimal_comma=True, allow_negative=True) == Decimal("-3.5")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "not a number"),
        ("12abc", "not a number"),
        ("$5", "not a number"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("-5", "must not be negative"),
        ("1e308", "too large (the limit is 1,000,000,000,000)"),
        ("1000000000000.01", "too large"),
    ],
)
def test_decimal_refusals(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_decimal(text)


def test_negative_decimals_when_allowed() -> None:
    assert parse_decimal("-5", allow_negative=True) == Decimal("-5")
    with pytest.raises(ValueError, match="too large"):
        parse_decimal("-1e308", allow_negative=True)


def test_ints() -> None:
    assert parse_int("1,234") == 1234
    assert parse_int("1234.0") == 1234
    assert parse_int("") is None
    assert parse_int("-3", minimum=-10) == -3
    with pytest.raises(ValueError, match="not a whole number"):
        parse_int("12.5")
    with pytest.raises(ValueError, match="must not be negative"):
        parse_int("-1")
    with pytest.raises(ValueError, match="too large"):
        parse_int("3000000000")
    with pytest.raises(ValueError, match="must be at least 5"):
        parse_int("4", minimum=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("Yes", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", None),
    ],
)
def test_bools(text: str, expected: bool | None) -> None:
    assert parse_bool(text) is expected


def test_bool_refusal() -> None:
    with pytest.raises(ValueError, match="not true or false"):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-04", dt.date(2026, 3, 4)),
        ("2026-03-04T10:11:12.000Z", dt.date(2026, 3, 4)),
        ("2026-03-04 10:11", dt.date(2026, 3, 4)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("  ", None),
    ],
)
def test_dates(text: str, expected: dt.date | None) -> None:
    assert parse_date(text) == expected


def test_dates_in_a_declared_format() -> None:
    assert parse_date("04.03.2026", formats=("%d.%m.%Y",)) == dt.date(2026, 3, 4)
    assert parse_date("3/4/26", formats=("%m/%d/%y",)) == dt.date(2026, 3, 4)
    # ISO dates are still understood when a file declares another format.
    assert parse_date("2026-03-04", formats=("%d.%m.%Y",)) == dt.date(2026, 3, 4)


@pytest.mark.parametrize("formats", [(), ("%Y-%m-%d",)], ids=["no-format", "declared-format"])
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-02-30", "not a real calendar date"),
        ("2025-02-29", "not a real calendar date"),
        ("2026-13-01", "not a real calendar date"),
        ("45292", "looks like an Excel serial date number; export dates as YYYY-MM-DD"),
        ("45292.5", "looks like an Excel serial date number"),
        ("########", "a spreadsheet placeholder (the column was too narrow when saved), not a date"),
    ],
)
def test_date_refusals(text: str, reason: str, formats: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        parse_date(text, formats=formats)


def test_ambiguous_and_foreign_dates() -> None:
    with pytest.raises(ValueError, match="ambiguous date"):
        parse_date("3/4/26")
    with pytest.raises(ValueError, match="not a date in the format %Y-%m-%d"):
        parse_date("3/4/26", formats=("%Y-%m-%d",))
    with pytest.raises(ValueError, match="expected YYYY-MM-DD"):
        parse_date("next Tuesday")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-04T10:11:12Z", dt.datetime(2026, 3, 4, 10, 11, 12, tzinfo=UTC)),
        ("2026-03-04T10:11:12.000Z", dt.datetime(2026, 3, 4, 10, 11, 12, tzinfo=UTC)),
        ("2026-03-04T10:11:12.000+0000", dt.datetime(2026, 3, 4, 10, 11, 12, tzinfo=UTC)),
        ("2026-03-04T12:11:12+0200", dt.datetime(2026, 3, 4, 10, 11, 12, tzinfo=UTC)),
        ("2026-03-04T05:11:12-05:00", dt.datetime(2026, 3, 4, 10, 11, 12, tzinfo=UTC)),
        ("2026-03-04 10:11", dt.datetime(2026, 3, 4, 10, 11, tzinfo=UTC)),
        ("2026-03-04", dt.datetime(2026, 3, 4, tzinfo=UTC)),
        ("", None),
    ],
)
def test_datetimes_are_utc(text: str, expected: dt.datetime | None) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == dt.timedelta(0)


def test_datetimes_in_a_declared_format() -> None:
    assert parse_datetime("04/03/2026 10:11", formats=("%d/%m/%Y %H:%M",)) == dt.datetime(
        2026, 3, 4, 10, 11, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-02-30", "not a real calendar date"),
        ("2026-02-30T10:00:00Z", "not a real date-time"),
        ("2026-03-04T25:00:00Z", "not a real date-time"),
        ("45292", "Excel serial date"),
        ("########", "spreadsheet placeholder"),
        ("yesterday at noon", "not a date"),
    ],
)
def test_datetime_refusals(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_datetime(text)


def test_salesforce_ids_15_and_18_name_the_same_record() -> None:
    assert salesforce_id("001D000000IRFma") == "001D000000IRFmaIAH"
    assert salesforce_id("001D000000IRFmaIAH") == "001D000000IRFmaIAH"
    # The suffix is recomputed, so an 18-character id whose suffix changed case still agrees.
    assert salesforce_id("001D000000IRFmaiah") == "001D000000IRFmaIAH"
    # The 15-character part is case-sensitive: another case is another record.
    assert salesforce_id("001d000000irfma") != salesforce_id("001D000000IRFma")
    assert salesforce_id("006000000000000") == "006000000000000AAA"
    assert salesforce_id("") is None


@pytest.mark.parametrize(
    "text", ["abc", "001D000000IRFm", "001D000000IRFmaIA", "001D000000IRFma!!!", "001D-00000IRFma"]
)
def test_salesforce_id_refusals(text: str) -> None:
    with pytest.raises(ValueError, match="not a Salesforce id"):
        salesforce_id(text)
