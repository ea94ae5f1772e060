"""Users, sign-in, login sessions, API tokens and who may see what."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, literal, select, true
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import ORGANISATION_WIDE_ROLES, ApiToken, LoginSession, Role, User
from bridgehead.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    burn_verification_time,
    hash_password,
    verify_password,
)
from bridgehead.common.types import utcnow
from bridgehead.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed

logger = logging.getLogger("bridgehead.auth")
API_TOKEN_PREFIX = "bh_"  # noqa: S105  (a public prefix, not a secret)
_EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
_USER_AUDIT_FIELDS = ["email", "full_name", "role", "org_unit_id", "manager_id", "is_active"]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_email(email: str) -> str:
    """Normalise an e-mail address (trimmed, lower case) or raise ``ValidationFailed``."""
    normalised = email.strip().lower()
    if not _EMAIL.match(normalised) or len(normalised) > 254:
        raise ValidationFailed("not a valid e-mail address", field="email", value=email)
    return normalised


def check_password(password: str) -> str:
    """Refuse passwords too short to be safe."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password", value="***"
        )
    return password


def check_role(role: str) -> Role:
    """Parse a role name or raise ``ValidationFailed`` listing the valid ones."""
    try:
        return Role(role.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in Role)
        raise ValidationFailed(f"unknown role; use one of {valid}", field="role", value=role) from None


# --- users -------------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    role: Role | str,
    password: str | None = None,
    org_unit_id: int | None = None,
    manager_id: int | None = None,
    actor_id: int | None = None,
) -> User:
    """Add a user; the e-mail must be new. A user without a password cannot sign in."""
    normalised = check_email(email)
    if not full_name.strip():
        raise ValidationFailed("full name must not be empty", field="full_name", value=full_name)
    if session.scalar(select(User.id).where(User.email == normalised)) is not None:
        raise Conflict("a user with this e-mail already exists", field="email", value=normalised)
    if manager_id is not None and session.get(User, manager_id) is None:
        raise ValidationFailed("no such manager", field="manager_id", value=manager_id)
    user = User(
        email=normalised,
        full_name=full_name.strip(),
        role=role if isinstance(role, Role) else check_role(role),
        password_hash=hash_password(check_password(password)) if password is not None else None,
        org_unit_id=org_unit_id,
        manager_id=manager_id,
        is_active=True,
    )
    session.add(user)
    session.flush()
    record_change(
        session,
        actor_id=actor_id,
        action="create",
        object_type="user",
        object_id=user.id,
        before=None,
        after=snapshot(user, _USER_AUDIT_FIELDS),
    )
    return user


def get_user_by_email(session: Session, email: str) -> User:
    """The user with this e-mail, or ``NotFound``."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound("no user with this e-mail", field="email", value=email)
    return user


def list_users(session: Session, *, role: Role | None = None) -> Sequence[User]:
    """All users, by role then name; optionally only one role."""
    statement = select(User).order_by(User.role, User.full_name)
    if role is not None:
        statement = statement.where(User.role == role)
    return session.scalars(statement).all()


def set_password(session: Session, *, user: User, password: str, actor_id: int | None = None) -> None:
    """Replace a user's password and end every session they have open."""
    user.password_hash = hash_password(check_password(password))
    session.query(LoginSession).filter(LoginSession.user_id == user.id).delete()
    session.flush()
    record_change(
        session,
        actor_id=actor_id,
        action="set_password",
        object_type="user",
        object_id=user.id,
        before=None,
        after={"password": "changed"},
    )


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The active user with these credentials, or ``AuthenticationFailed`` (same error either way)."""
    normalised = email.strip().lower()
    # PostgreSQL refuses NUL characters in a query; no stored e-mail contains one anyway.
    user = None if "\x00" in normalised else session.scalar(select(User).where(User.email == normalised))
    if user is None:
        burn_verification_time()
        raise AuthenticationFailed("wrong e-mail or password")
    if not user.is_active or not verify_password(user.password_hash, password):
        raise AuthenticationFailed("wrong e-mail or password")
    user.last_login_at = utcnow()
    session.flush()
    return user


# --- login sessions ----------------------------------------------------------------------------


def start_session(session: Session, *, user: User, max_age_seconds: int) -> str:
    """Open a login session and return the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        LoginSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=max_age_seconds),
        )
    )
    session.flush()
    return token


def user_for_session_token(session: Session, token: str) -> User | None:
    """The active user behind a session cookie, or None if it is unknown or expired."""
    statement = (
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.token_hash == _token_hash(token),
            LoginSession.expires_at > utcnow(),
            User.is_active.is_(True),
        )
    )
    return session.scalar(statement)


def end_session(session: Session, token: str) -> None:
    """Sign out: forget the session so the cookie no longer works anywhere."""
    session.query(LoginSession).filter(LoginSession.token_hash == _token_hash(token)).delete()
    session.flush()


# --- API tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A new API token: the secret is shown once and never stored."""

    token: ApiToken
    secret: str


def create_api_token(
    session: Session, *, user: User, name: str, expires_in_days: int | None = None
) -> IssuedToken:
    """Issue a personal bearer token for ``/api/v1``."""
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 100:
        raise ValidationFailed("token name must have 1 to 100 characters", field="name", value=name)
    if "\x00" in clean_name:
        raise ValidationFailed("token name must not contain NUL characters", field="name", value=name)
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise ValidationFailed(
            "expiry must be 1 to 3650 days", field="expires_in_days", value=expires_in_days
        )
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id,
        name=clean_name,
        token_hash=_token_hash(secret),
        token_prefix=secret[:10],
        created_at=now,
        expires_at=now + dt.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    record_change(
        session,
        actor_id=user.id,
        action="create",
        object_type="api_token",
        object_id=token.id,
        before=None,
        after={"name": token.name, "prefix": token.token_prefix},
    )
    return IssuedToken(token=token, secret=secret)


def list_api_tokens(session: Session, *, user: User) -> Sequence[ApiToken]:
    """A user's tokens that are not revoked, newest first."""
    statement = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return session.scalars(statement).all()


def revoke_api_token(session: Session, *, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens; someone else's token is ``NotFound``."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFound("no such token", field="token_id", value=token_id)
    token.revoked_at = utcnow()
    session.flush()
    record_change(
        session,
        actor_id=user.id,
        action="revoke",
        object_type="api_token",
        object_id=token.id,
        before={"revoked": False},
        after={"revoked": True},
    )


def user_for_api_token(session: Session, secret: str) -> User:
    """The active user behind a bearer token, or ``AuthenticationFailed``."""
    if not secret.startswith(API_TOKEN_PREFIX):
        raise AuthenticationFailed("invalid API token")
    now = utcnow()
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _token_hash(secret), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        raise AuthenticationFailed("invalid API token")
    token, user = row
    if (token.expires_at is not None and token.expires_at <= now) or not user.is_active:
        raise AuthenticationFailed("API token expired or user inactive")
    _record_token_use(session, token, now)
    return user


def _record_token_use(session: Session, token: ApiToken, now: dt.datetime) -> None:
    """Stamp when a token was last used, at most once a minute and never at the cost of the request.

    Writing on every request would serialise readers on SQLite. The stamp runs in a savepoint: if
    another writer got in first (SQLite answers "database is locked" to a read transaction that
    tries to write after a newer commit), the stamp is skipped and the request goes on reading.
    """
    if token.last_used_at is not None and now - token.last_used_at <= dt.timedelta(minutes=1):
        return
    try:
        with session.begin_nested():
            token.last_used_at = now
    except OperationalError:
        logger.info("token %s: last-use stamp skipped, the database was busy", token.id)


# --- visibility --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visibility:
    """Whose records a user may see: everybody's, or those owned by a set of users.

    ``owner_ids`` is a SQL subquery, so visibility is applied inside the database and never by
    filtering rows in Python.
    """

    user_id: int
    sees_everything: bool
    owner_ids: Select[int] | None

    def owned_by_visible(
        self, owner_column: QueryableAttribute[Any] | ColumnElement[Any]
    ) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows whose owner the user may see."""
        if self.sees_everything:
            return true()
        if self.owner_ids is None:
            return false()
        return owner_column.in_(self.owner_ids)

    def may_see_owner(self, session: Session, owner_id: int | None) -> bool:
        """Whether records of this owner are visible (one query; for single-object checks)."""
        if self.sees_everything:
            return True
        if owner_id is None or self.owner_ids is None:
            return False
        return session.scalar(select(literal(True)).where(literal(owner_id).in_(self.owner_ids))) is True


def everything_visible() -> Visibility:
    """The command-line operator's visibility: every record."""
    return Visibility(user_id=0, sees_everything=True, owner_ids=None)


def reporting_line_ids(user_id: int) -> Select[int]:
    """A recursive query for the user and everyone who reports to them, directly or not."""
    line = select(User.id).where(User.id == user_id).cte("reporting_line", recursive=True)
    report = aliased(User)
    line = line.union(select(report.id).where(report.manager_id == line.c.id))
    return select(line.c.id)


def visibility_for(user: User) -> Visibility:
    """What ``user`` may see: executives, planners, controllers and admins see everything;
    a manager sees their reporting line; a rep sees their own book."""
    if user.role in ORGANISATION_WIDE_ROLES:
        return Visibility(user_id=user.id, sees_everything=True, owner_ids=None)
    if user.role == Role.MANAGER:
        return Visibility(user_id=user.id, sees_everything=False, owner_ids=reporting_line_ids(user.id))
    return Visibility(user_id=user.id, sees_everything=False, owner_ids=select(literal(user.id)))


def _visible_owners(viewer: User) -> ColumnElement[bool]:
    return and_(visibility_for(viewer).owned_by_visible(User.id), User.role.in_([Role.REP, Role.MANAGER]))


def visible_users(session: Session, *, viewer: User) -> Sequence[User]:
    """The users whose books ``viewer`` may see (for owner pickers), by name."""
    statement = select(User).where(_visible_owners(viewer))
    return session.scalars(statement.order_by(User.full_name)).all()


def visible_user_names(session: Session, *, viewer: User) -> list[tuple[int, str]]:
    """(id, full name) of the users ``visible_users`` gives, by name: a picker's choices, without
    loading every user as an object (an organisation has hundreds)."""
    statement = select(User.id, User.full_name).where(_visible_owners(viewer)).order_by(User.full_name)
    return [(user_id, name) for user_id, name in session.execute(statement)]


def require_role(user: User, *roles: Role) -> None:
    """Raise ``PermissionDenied`` unless the user has one of ``roles``."""
    if user.role not in roles:
        allowed = ", ".join(role.value for role in roles)
        raise PermissionDenied(f"this needs one of the roles: {allowed}", role=user.role.value)
