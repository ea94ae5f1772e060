"""Reporting periods: a quarter (``2026-Q1``), a month (``2026-03``) or a year (``2026``), and runs of them."""

from __future__ import annotations

import datetime as dt
import enum

from bridgehead.common.periods import month_period, parse_period, year_period
from bridgehead.common.types import Period
from bridgehead.errors import ValidationFailed

MAX_TREND_PERIODS = 36

__all__ = [
    "MAX_TREND_PERIODS",
    "Grain",
    "containing",
    "current_quarter",
    "grain_of",
    "month_period",
    "parse_period",
    "periods_ending",
    "year_period",
]


class Grain(enum.StrEnum):
    """How long each period of a trend is."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def grain_of(period: Period) -> Grain:
    """The grain a parsed period has (from its label)."""
    if "Q" in period.label:
        return Grain.QUARTER
    return Grain.MONTH if "-" in period.label else Grain.YEAR


def containing(day: dt.date, grain: Grain) -> Period:
    """The period of ``grain`` that contains ``day``."""
    if grain == Grain.MONTH:
        return month_period(day.year, day.month)
    if grain == Grain.YEAR:
        return year_period(day.year)
    return Period.containing(day)


def periods_ending(last: Period, grain: Grain, count: int) -> list[Period]:
    """``count`` consecutive periods of ``grain``, oldest first, the newest containing ``last``'s final day."""
    if not 1 <= count <= MAX_TREND_PERIODS:
        raise ValidationFailed(f"a trend has 1 to {MAX_TREND_PERIODS} periods", field="periods", value=count)
    periods = [containing(last.end - dt.timedelta(days=1), grain)]
    while len(periods) < count:
        periods.insert(0, containing(periods[0].start - dt.timedelta(days=1), grain))
    return periods


def current_quarter(today: dt.date | None = None) -> Period:
    """The quarter of today (the default period of every metric)."""
    return Period.containing(today or dt.date.today())
