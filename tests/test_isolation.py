"""The test fixtures themselves: what a test commits stays inside that test's transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from tests.factories import make_user


def test_a_commit_inside_a_test_is_invisible_to_other_connections(
    db_session: Session, engine: Engine
) -> None:
    make_user(db_session, email="isolated@example.com")
    db_session.commit()  # what every HTTP request does at its end
    assert db_session.scalar(select(func.count()).select_from(User)) == 1
    with engine.connect() as other:
        assert other.scalar(select(func.count()).select_from(User)) == 0
