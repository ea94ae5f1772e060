"""The audit log table. Rows are only ever inserted; database triggers refuse updates and deletes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import PrimaryKey, UTCDateTime, utcnow
from bridgehead.db import Base


class AuditEntry(Base):
    """Who changed what, when, from which values to which."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object_type_object_id", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Null for changes made by the system itself (demo loader, imports run without a user).
    # No ON DELETE action: users are deactivated, never deleted, and the log is never rewritten.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(20))
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20), default="service")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
