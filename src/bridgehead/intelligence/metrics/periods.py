"""Reporting periods: a quarter (``2026-Q1``), a month (``2026-03``) or a year (``2026``), and runs of them."""

from __future__ import annotations

import datetime as dt
import enum
import re

from bridgehead.common.types import Period
from bridgehead.errors import ValidationFailed

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
MAX_TREND_PERIODS = 36


class Grain(enum.StrEnum):
    """How long each period of a trend is."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def _check_year(year: int, text: str, field: str) -> None:
    if not 1900 <= year <= 2999:
        raise ValidationFailed("year must be between 1900 and 2999", field=field, value=text)


def month_period(year: int, month: int) -> Period:
    """The calendar month ``month`` of ``year``."""
    start = dt.date(year, month, 1)
    end = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return Period(start, end, f"{year}-{month:02d}")


def year_period(year: int) -> Period:
    """The calendar year."""
    return Period(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), f"{year}")


def parse_period(text: str, *, field: str = "period") -> Period:
    """Parse ``2026``, ``2026-Q1`` or ``2026-03`` into a period, or raise ``ValidationFailed`` naming ``field``."""
    cleaned = text.strip()
    if match := _YEAR.match(cleaned):
        year = int(match.group(1))
        _check_year(year, text, field)
        return year_period(year)
    if match := _QUARTER.match(cleaned):
        year = int(match.group(1))
        _check_year(year, text, field)
        return Period.quarter(year, int(match.group(2)))
    if match := _MONTH.match(cleaned):
        year, month = int(match.group(1)), int(match.group(2))
        _check_year(year, text, field)
        if not 1 <= month <= 12:
            raise ValidationFailed("month must be 01 to 12", field=field, value=text)
        return month_period(year, month)
    raise ValidationFailed("not a period; use 2026, 2026-Q1 or 2026-03", field=field, value=text)


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
