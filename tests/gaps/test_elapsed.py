"""Whole days and hours between two moments, truncated the same way on SQLite and PostgreSQL
(to the millisecond: SQLite's julianday keeps no finer time)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from bridgehead.common.types import UTCDateTime
from bridgehead.intelligence.gaps.sqltools import elapsed

START = dt.datetime(2025, 3, 30, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("later", "unit_seconds", "expected"),
    [
        (START + dt.timedelta(days=1, seconds=-1), 86400, 0),
        (START + dt.timedelta(days=1), 86400, 1),
        (START + dt.timedelta(hours=25), 86400, 1),
        (START + dt.timedelta(days=2, seconds=-1), 86400, 1),
        (START + dt.timedelta(days=400), 86400, 400),
        (START + dt.timedelta(minutes=59, seconds=59), 3600, 0),
        (START + dt.timedelta(hours=1), 3600, 1),
        (START + dt.timedelta(hours=49, minutes=30), 3600, 49),
    ],
)
def test_elapsed_counts_whole_units_and_truncates(
    db_session: Session, later: dt.datetime, unit_seconds: int, expected: int
) -> None:
    dialect = db_session.get_bind().dialect.name
    span = elapsed(
        dialect, literal(later, UTCDateTime()), literal(START, UTCDateTime()), unit_seconds=unit_seconds
    )
    assert db_session.scalar(select(span)) == expected
