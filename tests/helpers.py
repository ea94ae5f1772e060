"""Small helpers for HTTP-level tests: signing a client in without the password round trip."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
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
