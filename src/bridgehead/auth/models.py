"""Tables for users, login sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import PrimaryKey, UTCDateTime, utcnow
from bridgehead.db import Base


class Role(enum.StrEnum):
    """What a user does in the revenue organisation; decides what they may see and change."""

    ADMIN = "admin"
    EXECUTIVE = "executive"
    PLANNER = "planner"
    MANAGER = "manager"
    REP = "rep"
    CONTROLLER = "controller"


# Roles whose members see every account and deal; the others see their own book or subtree.
ORGANISATION_WIDE_ROLES = frozenset({Role.ADMIN, Role.EXECUTIVE, Role.PLANNER, Role.CONTROLLER})


def role_enum() -> Enum:
    """The column type for a role: a VARCHAR with a CHECK constraint, portable to every database."""
    return Enum(
        Role,
        name="role",
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class User(Base):
    """A person who signs in, or a CRM owner imported without a login (no password)."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(role_enum())
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A browser session; the cookie holds a random token, the table only its SHA-256 hash."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A personal bearer token for ``/api/v1``; only its SHA-256 hash is stored."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user_id_revoked_at", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, kept in clear so a user can tell their tokens apart.
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
