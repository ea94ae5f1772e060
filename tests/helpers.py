"""Small helpers for tests: signing a client in without the password round trip; the activity counts
the database keeps, against counting the activities."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.crm.models import Activity, ActivityKind, ActivityMonth
from bridgehead.web.deps import CSRF_COOKIE, SESSION_COOKIE
from tests.factories import make_login_session

CSRF_TOKEN = "test-csrf-token"


def bearer(secret: str) -> dict[str, str]:
    """Headers that authenticate an API call with a personal token."""
    return {"Authorization": f"Bearer {secret}"}


def sign_in(client: TestClient, session: Session, user: User) -> str:
    """Give ``client`` a session cookie for ``user`` and a known CSRF cookie; return the session token.

    Commits, so the test's setup survives a later request that fails and rolls its work back.
    """
    token = make_login_session(session, user)
    session.commit()
    client.cookies.set(SESSION_COOKIE, token)
    client.cookies.set(CSRF_COOKIE, CSRF_TOKEN)
    return token


MonthKey = tuple[int, dt.date, str]


def activities_counted(session: Session) -> dict[MonthKey, int]:
    """What ``activity_month`` should hold: the activities counted per owner (0: none), UTC month and kind."""
    counts: Counter[MonthKey] = Counter()
    for owner_id, occurred_at, kind in session.execute(
        select(Activity.owner_id, Activity.occurred_at, Activity.kind)
    ):
        moment = occurred_at.astimezone(dt.UTC)
        counts[(owner_id or 0, dt.date(moment.year, moment.month, 1), ActivityKind(kind).value)] += 1
    return dict(counts)


def activity_month_kept(session: Session) -> dict[MonthKey, int]:
    """What ``activity_month`` holds (rows counted down to zero are not counts)."""
    session.flush()
    return {
        (row.owner_key, row.month, row.kind): row.activities
        for row in session.scalars(select(ActivityMonth))
        if row.activities != 0
    }
