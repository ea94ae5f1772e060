"""Money, periods and UTC datetimes: the shared value types, without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from bridgehead.common.types import MAX_AMOUNT, MoneyAmount, Period, UTCDateTime, to_cents

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (Decimal("0"), 0),
        (Decimal("12"), 1200),
        (12, 1200),
        ("12.34", 1234),
        (Decimal("0.004"), 0),
        (Decimal("0.005"), 1),  # half up, not half even
        (Decimal("0.015"), 2),
        (Decimal("0.025"), 3),
        (Decimal("-0.005"), -1),  # half away from zero for negatives
        (Decimal("1.0049999"), 100),
        ("  7.50 ", 750),
        (MAX_AMOUNT, int(MAX_AMOUNT) * 100),
    ],
)
def test_to_cents_rounds_half_up(value: object, cents: int) -> None:
    assert to_cents(value) == cents


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), float("inf")])
def test_to_cents_refuses_floats(value: float) -> None:
    with pytest.raises(TypeError, match="float"):
        to_cents(value)


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"), "nan", "inf"]
)
def test_to_cents_refuses_non_finite_amounts(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_cents(value)


@pytest.mark.parametrize("value", ["abc", "", "1,000", None, [1, 2]])
def test_to_cents_refuses_what_is_not_an_amount(value: object) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        to_cents(value)


@given(
    st.decimals(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, places=2, allow_nan=False, allow_infinity=False)
)
def test_money_round_trips_every_two_place_amount(amount: Decimal) -> None:
    column = MoneyAmount()
    stored = column.process_bind_param(amount, SQLITE)
    assert stored == int(amount * 100)
    read = column.process_result_value(stored, SQLITE)
    assert read == amount
    # Always read back with exactly two decimals, so it serialises as "12.30", not "12.3".
    assert read is not None
    assert read.as_tuple().exponent == -2


def test_money_column_passes_none_through() -> None:
    column = MoneyAmount()
    assert column.process_bind_param(None, POSTGRES) is None
    assert column.process_result_value(None, POSTGRES) is None


def test_money_column_refuses_floats_on_bind() -> None:
    with pytest.raises(TypeError):
        MoneyAmount().process_bind_param(10.5, POSTGRES)


# --- periods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "start", "end"),
    [
        ("2026-Q1", "2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 4, 1)),
        ("2026Q2", "2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 7, 1)),
        ("2026-q3", "2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 10, 1)),
        (" 2026-Q4 ", "2026-Q4", dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
        ("1900-Q1", "1900-Q1", dt.date(1900, 1, 1), dt.date(1900, 4, 1)),
        ("2999-Q4", "2999-Q4", dt.date(2999, 10, 1), dt.date(3000, 1, 1)),
    ],
)
def test_parse_quarter_accepts_quarters(text: str, label: str, start: dt.date, end: dt.date) -> None:
    period = Period.parse_quarter(text)
    assert (period.label, period.start, period.end) == (label, start, end)


@pytest.mark.parametrize(
    "text",
    [
        "2026-Q5",
        "2026-Q0",
        "Q1-2026",
        "2026-1",
        "26-Q1",
        "2026-Q",
        "2026-Q1x",
        "2026--Q1",
        "",
        "1899-Q4",
        "3000-Q1",
        "20260-Q1",
    ],
)
def test_parse_quarter_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"quarter|range"):
        Period.parse_quarter(text)


@pytest.mark.parametrize("quarter", [0, 5, -1])
def test_quarter_number_must_be_one_to_four(quarter: int) -> None:
    with pytest.raises(ValueError, match="1-4"):
        Period.quarter(2026, quarter)


def test_previous_and_next_cross_year_boundaries() -> None:
    q1 = Period.parse_quarter("2026-Q1")
    assert q1.previous().label == "2025-Q4"
    assert q1.previous().next() == q1
    q4 = Period.parse_quarter("2026-Q4")
    assert q4.next().label == "2027-Q1"
    assert q4.next().start == q4.end


@pytest.mark.parametrize(
    ("day", "label"),
    [
        (dt.date(2026, 1, 1), "2026-Q1"),
        (dt.date(2026, 3, 31), "2026-Q1"),
        (dt.date(2026, 4, 1), "2026-Q2"),
        (dt.date(2026, 9, 30), "2026-Q3"),
        (dt.date(2026, 12, 31), "2026-Q4"),
    ],
)
def test_containing_picks_the_calendar_quarter(day: dt.date, label: str) -> None:
    assert Period.containing(day).label == label


def test_period_is_half_open() -> None:
    q2 = Period.parse_quarter("2026-Q2")
    assert dt.date(2026, 4, 1) in q2
    assert dt.date(2026, 6, 30) in q2
    assert dt.date(2026, 7, 1) not in q2
    assert dt.date(2026, 3, 31) not in q2
    assert "2026-05-01" not in q2


@given(st.dates(min_value=dt.date(1900, 4, 1), max_value=dt.date(2999, 9, 30)))
def test_quarters_tile_the_calendar(day: dt.date) -> None:
    period = Period.containing(day)
    assert day in period
    assert period.start.day == 1
    assert period.start.month in {1, 4, 7, 10}
    assert period.next().start == period.end
    assert period.previous().end == period.start
    assert period.next().previous() == period
    assert Period.parse_quarter(period.label) == period


# --- UTC datetimes ----------------------------------------------------------------------------


def test_utc_datetime_binds_aware_values_as_utc() -> None:
    column = UTCDateTime()
    local = dt.datetime(2026, 3, 4, 12, 0, tzinfo=PLUS_TWO)
    assert column.process_bind_param(local, SQLITE) == dt.datetime(2026, 3, 4, 10, 0)  # naive UTC
    bound = column.process_bind_param(local, POSTGRES)
    assert bound == dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
    assert bound is not None
    assert bound.utcoffset() == dt.timedelta(0)


def test_utc_datetime_takes_naive_values_as_utc() -> None:
    column = UTCDateTime()
    naive = dt.datetime(2026, 3, 4, 10, 0)
    assert column.process_bind_param(naive, SQLITE) == naive
    assert column.process_bind_param(naive, POSTGRES) == naive.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [dt.date(2026, 3, 4), "2026-03-04T10:00:00", 1_700_000_000])
def test_utc_datetime_refuses_non_datetimes(value: object) -> None:
    with pytest.raises(TypeError, match="datetime"):
        UTCDateTime().process_bind_param(value, SQLITE)


def test_utc_datetime_reads_back_aware_utc() -> None:
    column = UTCDateTime()
    from_sqlite = column.process_result_value(dt.datetime(2026, 3, 4, 10, 0), SQLITE)
    assert from_sqlite == dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
    assert from_sqlite is not None
    assert from_sqlite.tzinfo is dt.UTC
    from_postgres = column.process_result_value(dt.datetime(2026, 3, 4, 12, 0, tzinfo=PLUS_TWO), POSTGRES)
    assert from_postgres is not None
    assert from_postgres.tzinfo is dt.UTC
    assert from_postgres.hour == 10
    assert column.process_result_value(None, SQLITE) is None
    assert column.process_bind_param(None, SQLITE) is None
