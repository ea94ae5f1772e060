"""Pydantic models at the edges of the auth domain."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from bridgehead.auth.models import Role


class UserRead(BaseModel):
    """A user as the API shows them (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    role: Role
    org_unit_id: int | None
    manager_id: int | None
    is_active: bool


class ApiTokenCreate(BaseModel):
    """Request for a new personal API token."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenRead(BaseModel):
    """A token as listed: its name and prefix, never the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    token_prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None


class ApiTokenIssued(ApiTokenRead):
    """A token just created: the only time the secret is shown."""

    secret: str
