"""Evidence objects built in SQL (``sqltools.json_object``) hold the values as they were, on both databases:
text with quotes, backslashes, line breaks and non-ASCII letters, NULLs, numbers and dates, next to
the Python literals written into the statement."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, String, cast, literal, null, select
from sqlalchemy.orm import Session

from bridgehead.intelligence.gaps.sqltools import json_object

TRICKY_TEXT = 'Négociation "finale" \\ phase\n2 — 50 %'


def _evidence(session: Session, pairs: dict[str, Any]) -> Any:
    value = session.scalar(select(json_object(session.get_bind().dialect.name, pairs)))
    return value if isinstance(value, dict) else json.loads(value)


def test_column_values_keep_their_type_and_text(db_session: Session) -> None:
    evidence = _evidence(
        db_session,
        {
            "stage": literal(TRICKY_TEXT, String()),
            "segment": cast(null(), String),
            "engaged": literal(3, Integer()),
            "amount": literal(12_345_678_901, BigInteger()),
            "close_date": literal(dt.date(2025, 5, 2), Date()),
        },
    )
    assert evidence == {
        "stage": TRICKY_TEXT,
        "segment": None,
        "engaged": 3,
        "amount": 12_345_678_901,
        "close_date": "2025-05-02",
    }


def test_python_literals_are_written_as_json(db_session: Session) -> None:
    evidence = _evidence(
        db_session,
        {"subject": 'account "A"', "window_days": 90, "required": None, "first": literal(1, Integer())},
    )
    assert evidence == {"subject": 'account "A"', "window_days": 90, "required": None, "first": 1}
    assert list(evidence) == ["subject", "window_days", "required", "first"]


def test_an_object_of_literals_only(db_session: Session) -> None:
    assert _evidence(db_session, {"min_pushes": 2, "subject": "deal"}) == {"min_pushes": 2, "subject": "deal"}
