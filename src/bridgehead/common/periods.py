"""Calendar periods written the way people write them: a year (``2026``), a quarter (``2026-Q1``) or a
month (``2026-03``). Shared by planning (quota periods) and intelligence (reporting periods)."""

from __future__ import annotations

import datetime as dt
import re

from bridgehead.common.types import Period
from bridgehead.errors import ValidationFailed

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)


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
