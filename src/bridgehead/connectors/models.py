"""Tables of the connectors domain: import runs and the rows an import quarantined."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import PrimaryKey, UTCDateTime, utcnow
from bridgehead.db import Base


class ImportRun(Base):
    """One import: where from, by whom, what it did."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    location: Mapped[str] = mapped_column(String(1000))
    policy: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rejected_rows: Mapped[int] = mapped_column(Integer, default=0)


class QuarantinedRow(Base):
    """A row an import refused under the quarantine policy, with the reason and its cells."""

    __tablename__ = "import_quarantine"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    import_run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"), index=True)
    file: Mapped[str] = mapped_column(String(255))
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(120))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    cells: Mapped[dict[str, Any] | None] = mapped_column(JSON)
