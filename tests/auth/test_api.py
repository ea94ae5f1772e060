"""The auth JSON API: who am I, bearer tokens, and CSRF for cookie-authenticated writes."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import ApiToken, Role
from bridgehead.common.types import utcnow
from tests.factories import make_token, make_user
from tests.helpers import CSRF_TOKEN, bearer, sign_in


def test_me_with_a_bearer_token(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session, email="me@example.com", full_name="Me Myself", role=Role.MANAGER)
    secret = make_token(db_session, user).secret
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": user.id,
        "email": "me@example.com",
        "full_name": "Me Myself",
        "role": "manager",
        "org_unit_id": None,
        "manager_id": None,
        "is_active": True,
    }
    assert "password_hash" not in response.text


def _assert_401(response_status: int, headers: dict[str, str], body: dict[str, object]) -> None:
    assert response_status == 401
    assert headers.get("www-authenticate") == "Bearer"
    assert isinstance(body["detail"], dict)
    assert body["detail"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token bh_abc"},
        {"Authorization": "Bearer not-a-bridgehead-token"},
        {"Authorization": "Bearer bh_unknown0000000000000000000000000000000"},
    ],
    ids=["missing", "empty-bearer", "basic", "other-scheme", "malformed", "unknown"],
)
def test_bad_credentials_get_401_with_bearer_challenge(
    client: TestClient, db_session: Session, headers: dict[str, str]
) -> None:
    make_token(db_session, make_user(db_session))
    response = client.get("/api/v1/me", headers=headers)
    _assert_401(response.status_code, dict(response.headers), response.json())


def test_revoked_token_gets_401(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    issued = make_token(db_session, user)
    issued.token.revoked_at = utcnow()
    db_session.commit()
    response = client.get("/api/v1/me", headers=bearer(issued.secret))
    _assert_401(response.status_code, dict(response.headers), response.json())


def test_expired_token_gets_401(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    issued = make_token(db_session, user, expires_in_days=1)
    issued.token.expires_at = utcnow() - dt.timedelta(minutes=1)
    db_session.commit()
    response = client.get("/api/v1/me", headers=bearer(issued.secret))
    _assert_401(response.status_code, dict(response.headers), response.json())
    assert "expired" in response.json()["detail"]["message"]


def test_token_lifecycle_through_the_api(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    secret = make_token(db_session, user, name="bootstrap").secret
    db_session.commit()

    created = client.post(
        "/api/v1/tokens", json={"name": "spreadsheet", "expires_in_days": 7}, headers=bearer(secret)
    )
    assert created.status_code == 201
    issued = created.json()
    assert issued["name"] == "spreadsheet"
    assert issued["secret"].startswith(issued["token_prefix"])
    expires_at = dt.datetime.fromisoformat(issued["expires_at"])
    assert dt.timedelta(days=6, hours=23) < expires_at - utcnow() <= dt.timedelta(days=7)

    # The new token works, and the listing never shows a secret.
    listed = client.get("/api/v1/tokens", headers=bearer(issued["secret"]))
    assert listed.status_code == 200
    assert {token["name"] for token in listed.json()} == {"bootstrap", "spreadsheet"}
    assert all("secret" not in token for token in listed.json())
    assert issued["secret"] not in listed.text
    bootstrap = next(token for token in listed.json() if token["name"] == "bootstrap")

    revoked = client.delete(f"/api/v1/tokens/{issued['id']}", headers=bearer(secret))
    assert revoked.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(issued["secret"])).status_code == 401
    assert [token["id"] for token in client.get("/api/v1/tokens", headers=bearer(secret)).json()] == [
        bootstrap["id"]
    ]
    again = client.delete(f"/api/v1/tokens/{issued['id']}", headers=bearer(secret))
    assert again.status_code == 404


def test_cannot_revoke_someone_elses_token(client: TestClient, db_session: Session) -> None:
    owner = make_user(db_session)
    intruder = make_user(db_session)
    owned = make_token(db_session, owner)
    intruder_secret = make_token(db_session, intruder).secret
    db_session.commit()
    response = client.delete(f"/api/v1/tokens/{owned.token.id}", headers=bearer(intruder_secret))
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(owned.secret)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "a\x00b"},
        {"name": "ok", "expires_in_days": 0},
        {"name": "ok", "expires_in_days": "soon"},
        {"name": "ok", "admin": True},
    ],
    ids=[
        "no-name",
        "empty-name",
        "blank-name",
        "long-name",
        "nul-name",
        "zero-days",
        "text-days",
        "unknown-field",
    ],
)
def test_token_create_refuses_bad_bodies(
    client: TestClient, db_session: Session, body: dict[str, object]
) -> None:
    user = make_user(db_session)
    secret = make_token(db_session, user).secret
    db_session.commit()
    response = client.post("/api/v1/tokens", json=body, headers=bearer(secret))
    assert response.status_code == 422
    assert "detail" in response.json()
    assert db_session.scalar(select(ApiToken.id).where(ApiToken.name != "test")) is None


@pytest.mark.parametrize("token_id", ["0", "abc", str(2**63), str(10**30)])
def test_revoke_with_a_bad_token_id_is_not_a_server_error(
    client: TestClient, db_session: Session, token_id: str
) -> None:
    secret = make_token(db_session, make_user(db_session)).secret
    db_session.commit()
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(secret))
    assert response.status_code in {404, 422}


def test_cookie_authenticated_reads_work_without_csrf(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    sign_in(client, db_session, user)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["id"] == user.id


def test_cookie_authenticated_post_needs_the_csrf_header(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    sign_in(client, db_session, user)
    refused = client.post("/api/v1/tokens", json={"name": "from the browser"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]["message"]
    wrong = client.post("/api/v1/tokens", json={"name": "from the browser"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert db_session.scalar(select(ApiToken.id)) is None
    accepted = client.post(
        "/api/v1/tokens", json={"name": "from the browser"}, headers={"X-CSRF-Token": CSRF_TOKEN}
    )
    assert accepted.status_code == 201


def test_cookie_authenticated_delete_needs_the_csrf_header(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    issued = make_token(db_session, user)
    sign_in(client, db_session, user)
    assert client.delete(f"/api/v1/tokens/{issued.token.id}").status_code == 403
    assert client.get("/api/v1/me", headers=bearer(issued.secret)).status_code == 200
