"""Settings read from the environment (prefix ``BRIDGEHEAD_``) or a ``.env`` file."""

from __future__ import annotations

import secrets
from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything that differs between a laptop, CI and a team's server."""

    model_config = SettingsConfigDict(env_prefix="BRIDGEHEAD_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./bridgehead.db"
    # A random key per process is safe but logs everybody out on restart; set it in production.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    organisation_name: str = "Bridgehead"
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    # Secure cookies need HTTPS; the embedded default serves plain HTTP on 127.0.0.1.
    cookie_secure: bool = False
    default_page_size: int = Field(default=50, ge=1, le=500)
    max_page_size: int = Field(default=500, ge=1, le=5000)
    sql_echo: bool = False
    # How long a statement waits for a lock another transaction holds before it gives up (SQLite's
    # busy_timeout, PostgreSQL's lock_timeout): a request then answers 503 "busy, nothing was saved"
    # instead of hanging until, say, a long import commits.
    database_lock_wait_ms: int = Field(default=5000, ge=1, le=600_000)
    # Uploads to the import wizard and API. Imports run as background jobs, so a whole weekly
    # Salesforce export (gigabytes) fits; archives may expand to the second figure at most.
    max_upload_mib: int = Field(default=2048, ge=1, le=1_048_576)
    max_extracted_mib: int = Field(default=8192, ge=1, le=4_194_304)
    # How old a three-gap board's snapshot may be before a view reads it afresh (0: never keep
    # one). Imports refresh the company board, and the page offers a refresh at any time.
    board_snapshot_minutes: int = Field(default=1440, ge=0, le=525_600)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
