"""Sign-in, sign-out, the tokens page and the admin page, through HTTP as a browser uses them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import ApiToken, LoginSession, Role
from bridgehead.web.deps import CSRF_COOKIE, SESSION_COOKIE
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.helpers import CSRF_TOKEN, sign_in

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def _login_form(client: TestClient, path: str = "/login") -> str:
    """Open the login page like a browser and return the CSRF token of its form."""
    response = client.get(path)
    assert response.status_code == 200
    match = CSRF_INPUT.search(response.text)
    assert match is not None
    return match.group(1)


def test_login_page_has_a_form_with_csrf_field_and_sets_the_cookie(client: TestClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Sign in" in response.text
    assert '<form method="post" action="/login">' in response.text
    assert 'for="email"' in response.text
    assert 'for="password"' in response.text
    match = CSRF_INPUT.search(response.text)
    assert match is not None
    set_cookie = response.headers["set-cookie"]
    assert f"{CSRF_COOKIE}={match.group(1)}" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()
    # Security headers on every page.
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_wrong_password_shows_the_form_again_with_an_error(client: TestClient, db_session: Session) -> None:
    make_user(db_session, email="rep@example.com")
    db_session.commit()
    csrf = _login_form(client)
    response = client.post(
        "/login",
        data={
            "email": "rep@example.com",
            "password": "Xyzzy-not-it-42",
            "csrf_token": csrf,
            "next": "/accounts",
        },
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert 'data-testid="login-error"' in response.text
    assert "Wrong e-mail or password." in response.text
    assert 'value="rep@example.com"' in response.text  # the e-mail is kept, the password is not
    assert 'value="/accounts"' in response.text
    assert "Xyzzy-not-it-42" not in response.text
    assert SESSION_COOKIE not in response.cookies
    assert db_session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_login_with_a_nul_character_is_a_plain_failure(client: TestClient, db_session: Session) -> None:
    make_user(db_session, email="rep@example.com")
    db_session.commit()
    csrf = _login_form(client)
    response = client.post(
        "/login",
        data={"email": "rep@example.com\x00", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.text


def test_login_without_csrf_token_is_refused(client: TestClient, db_session: Session) -> None:
    make_user(db_session, email="rep@example.com")
    db_session.commit()
    _login_form(client)
    response = client.post(
        "/login", data={"email": "rep@example.com", "password": DEFAULT_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert SESSION_COOKIE not in response.cookies
    assert db_session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_login_with_a_forged_csrf_token_is_refused(client: TestClient, db_session: Session) -> None:
    make_user(db_session, email="rep@example.com")
    db_session.commit()
    _login_form(client)
    response = client.post(
        "/login",
        data={"email": "rep@example.com", "password": DEFAULT_PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_right_password_redirects_to_next_with_a_session_cookie(
    client: TestClient, db_session: Session
) -> None:
    user = make_user(db_session, email="rep@example.com", full_name="Rita Rep")
    csrf = _login_form(client, "/login?next=/opportunities%3Fstatus%3Dopen")
    response = client.post(
        "/login",
        data={
            "email": "Rep@Example.com",
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf,
            "next": "/opportunities?status=open",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/opportunities?status=open"
    set_cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in set_cookie
    assert "HttpOnly" in set_cookie
    token = response.cookies[SESSION_COOKIE]
    assert db_session.scalars(select(LoginSession.token_hash)).all() != [token]
    assert db_session.scalar(select(LoginSession.user_id)) == user.id
    page = client.get("/opportunities?status=open")
    assert page.status_code == 200
    assert "Rita Rep" in page.text


@pytest.mark.parametrize(
    "next_path",
    ["https://evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example", "evil.example", ""],
)
def test_login_never_redirects_to_another_site(
    client: TestClient, db_session: Session, next_path: str
) -> None:
    make_user(db_session, email="rep@example.com")
    csrf = _login_form(client)
    response = client.post(
        "/login",
        data={
            "email": "rep@example.com",
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf,
            "next": next_path,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_login_page_for_a_signed_in_user_goes_straight_on(client: TestClient, db_session: Session) -> None:
    sign_in(client, db_session, make_user(db_session))
    response = client.get("/login?next=/accounts", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/accounts"
    evil = client.get("/login?next=//evil.example", follow_redirects=False)
    assert evil.headers["location"] == "/"


def test_logout_ends_the_session(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    token = sign_in(client, db_session, user)
    assert client.get("/", follow_redirects=False).status_code == 200
    response = client.post("/logout", data={"csrf_token": CSRF_TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    # Even a client that kept the old cookie is signed out: the session is gone on the server.
    client.cookies.set(SESSION_COOKIE, token)
    after = client.get("/", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")
    assert db_session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_logout_without_csrf_keeps_the_session(client: TestClient, db_session: Session) -> None:
    sign_in(client, db_session, make_user(db_session))
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    ("path", "next_param"),
    [
        ("/", "%2F"),
        ("/opportunities?status=open&page=2", "%2Fopportunities%3Fstatus%3Dopen%26page%3D2"),
        ("/admin/users", "%2Fadmin%2Fusers"),
        ("/settings/tokens", "%2Fsettings%2Ftokens"),
    ],
)
def test_pages_without_login_redirect_to_the_login_page(
    client: TestClient, path: str, next_param: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={next_param}"


def test_expired_session_cookie_redirects_to_login(client: TestClient, db_session: Session) -> None:
    client.cookies.set(SESSION_COOKIE, "not-a-session")
    response = client.get("/accounts", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccounts"


@pytest.mark.parametrize("signed_in", [False, True])
def test_unknown_page_is_a_404_html_page(client: TestClient, db_session: Session, signed_in: bool) -> None:
    if signed_in:
        sign_in(client, db_session, make_user(db_session))
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="error-page"' in response.text
    assert "Not found" in response.text


def test_unknown_api_path_is_a_404_json(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


def test_admin_users_page_is_for_admins_only(client: TestClient, db_session: Session) -> None:
    rep = make_user(db_session, full_name="Rita Rep", email="rita@example.com")
    manager = make_user(db_session, role=Role.MANAGER, full_name="Mona Manager")
    rep.manager_id = manager.id
    admin = make_user(db_session, role=Role.ADMIN, full_name="Ada Admin")

    sign_in(client, db_session, rep)
    refused = client.get("/admin/users")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "rita@example.com" not in refused.text

    sign_in(client, db_session, admin)
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "rita@example.com" in page.text
    assert 'Users <span class="muted">(3)</span>' in page.text
    row = next(line for line in page.text.splitlines() if "rita@example.com" in line)
    assert "Mona Manager" in row  # the manager's name, not an id
    assert "$argon2" not in page.text


def test_navigation_depends_on_the_role(client: TestClient, db_session: Session) -> None:
    rep = make_user(db_session)
    admin = make_user(db_session, role=Role.ADMIN)
    sign_in(client, db_session, rep)
    rep_home = client.get("/")
    assert rep_home.status_code == 200
    assert 'href="/opportunities"' in rep_home.text
    assert 'href="/admin/users"' not in rep_home.text
    sign_in(client, db_session, admin)
    admin_home = client.get("/")
    assert 'href="/admin/users"' in admin_home.text
    assert 'href="/opportunities"' in admin_home.text


def test_tokens_page_creates_a_token_and_shows_it_once(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    sign_in(client, db_session, user)
    empty = client.get("/settings/tokens")
    assert empty.status_code == 200
    assert "You have no API tokens" in empty.text

    created = client.post("/settings/tokens", data={"name": "Forecast sheet", "csrf_token": CSRF_TOKEN})
    assert created.status_code == 201
    secret_match = re.search(r'<code class="token-secret">(bh_[^<]+)</code>', created.text)
    assert secret_match is not None
    secret = secret_match.group(1)
    assert "Forecast sheet" in created.text

    again = client.get("/settings/tokens")
    assert "Forecast sheet" in again.text
    assert secret not in again.text
    assert 'data-testid="issued-token"' not in again.text
    # The secret shown works as a bearer token.
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["id"] == user.id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "expires_in_days": "soon"}, "whole number of days"),
        ({"name": "x", "expires_in_days": "0"}, "1 to 3650 days"),
        ({"name": "   "}, "1 to 100 characters"),
        ({"name": "a\x00b"}, "ust not contain NUL characters"),
    ],
)
def test_tokens_page_explains_bad_input(
    client: TestClient, db_session: Session, data: dict[str, str], message: str
) -> None:
    sign_in(client, db_session, make_user(db_session))
    response = client.post("/settings/tokens", data={**data, "csrf_token": CSRF_TOKEN})
    assert response.status_code == 422
    assert message in response.text
    assert db_session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_tokens_page_post_needs_csrf(client: TestClient, db_session: Session) -> None:
    sign_in(client, db_session, make_user(db_session))
    response = client.post("/settings/tokens", data={"name": "sneaky"})
    assert response.status_code == 403
    assert db_session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_tokens_page_revokes_a_token(client: TestClient, db_session: Session) -> None:
    user = make_user(db_session)
    sign_in(client, db_session, user)
    client.post("/settings/tokens", data={"name": "short-lived", "csrf_token": CSRF_TOKEN})
    token_id = db_session.scalars(select(ApiToken.id)).one()
    response = client.post(
        f"/settings/tokens/{token_id}/revoke", data={"csrf_token": CSRF_TOKEN}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/tokens"
    assert "You have no API tokens" in client.get("/settings/tokens").text


def test_tokens_page_cannot_revoke_someone_elses_token(client: TestClient, db_session: Session) -> None:
    owner = make_user(db_session)
    sign_in(client, db_session, owner)
    client.post("/settings/tokens", data={"name": "mine", "csrf_token": CSRF_TOKEN})
    token_id = db_session.scalars(select(ApiToken.id)).one()
    sign_in(client, db_session, make_user(db_session))
    response = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": CSRF_TOKEN})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert db_session.get(ApiToken, token_id) is not None
    assert db_session.scalars(select(ApiToken.revoked_at)).one() is None
