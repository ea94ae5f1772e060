"""Typed dependencies shared by every router: the database session, the signed-in user, CSRF."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import user_for_api_token, user_for_session_token
from bridgehead.config import Settings
from bridgehead.crm.service import organisation_name
from bridgehead.errors import AuthenticationFailed, PermissionDenied

SESSION_COOKIE = "bh_session"
CSRF_COOKIE = "bh_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in; answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfFailed(Exception):
    """A form post whose CSRF token does not match the cookie."""


def get_settings_dep(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request: the request owns the transaction, committed if the route succeeds."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        # Detach first: the error page still renders the signed-in user, and a rollback would
        # expire every attached object.
        session.expunge_all()
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit runs when the route returns, before the response is sent, so the
# next request (even from the same client) never starts before this one's writes are committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def _cookie_user(request: Request, session: Session) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    return user_for_session_token(session, token) if token else None


def optional_page_user(request: Request, session: SessionDep) -> User | None:
    """The signed-in user of a page request, or None."""
    return _cookie_user(request, session)


def require_page_user(request: Request, session: SessionDep) -> User:
    """The signed-in user of a page request; otherwise a redirect to the login page."""
    user = _cookie_user(request, session)
    if user is None:
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(next_path)
    request.state.user = user
    request.state.organisation_name = organisation_name(session)
    return user


def require_api_user(request: Request, session: SessionDep) -> User:
    """The caller of an API request: a bearer token, or the browser's session cookie."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise AuthenticationFailed("use 'Authorization: Bearer <token>'")
        user = user_for_api_token(session, credentials.strip())
    else:
        cookie_user = _cookie_user(request, session)
        if cookie_user is None:
            raise AuthenticationFailed("authentication required: send a bearer token")
        if request.method not in {"GET", "HEAD", "OPTIONS"}:
            check_csrf_header(request)
        user = cookie_user
    request.state.user = user
    return user


PageUser = Annotated[User, Depends(require_page_user)]
OptionalPageUser = Annotated[User | None, Depends(optional_page_user)]
ApiUser = Annotated[User, Depends(require_api_user)]


def csrf_token_for(request: Request) -> str:
    """The CSRF token of this browser (double-submit cookie); made on first use."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_token", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    return str(token)


def check_csrf_header(request: Request) -> None:
    """For cookie-authenticated API writes: the header must repeat the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    header = request.headers.get(CSRF_HEADER)
    if not cookie or not header or not secrets.compare_digest(cookie, header):
        raise CsrfFailed


async def verify_csrf(request: Request) -> None:
    """For form posts: the ``csrf_token`` field (or header) must repeat the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        submitted = field if isinstance(field, str) else None
    if not cookie or not submitted or not secrets.compare_digest(cookie, submitted):
        raise CsrfFailed


CsrfProtected = Depends(verify_csrf)


def require_roles(*roles: Role) -> Any:
    """A dependency that lets only users with one of ``roles`` through (403 otherwise)."""

    def _check(user: PageUser) -> User:
        if user.role not in roles:
            raise PermissionDenied("your role may not open this page", role=user.role.value)
        return user

    return Depends(_check)
