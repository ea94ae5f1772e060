"""Tables of planning: the quota sheet (who carries how much, for which period, on which basis)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import MoneyAmount, PrimaryKey, UTCDateTime, string_enum, utcnow
from bridgehead.db import Base


class QuotaBasis(enum.StrEnum):
    """What a quota counts: the amount of deals won (bookings) or of pipeline created in its period."""

    BOOKINGS = "bookings"
    PIPELINE_CREATED = "pipeline_created"


class Quota(Base):
    """One person's quota for one period on one basis.

    ``quota_amount`` is the full quota; ``ramp_percent`` is the share of it a ramping rep is held to
    (100 for a fully productive one), so the quota that counts is ``quota_amount x ramp_percent / 100``.
    A person's quotas on one basis never overlap in time (``planning.service`` checks it), so
    quotas of months, quarters and a year add up without counting a day twice. The optional
    segment links the quota up the chain to the priorities the segment serves.
    """

    __tablename__ = "quota"
    __table_args__ = (
        UniqueConstraint("owner_id", "basis", "period_start_date"),
        CheckConstraint("period_end_date > period_start_date", name="period_order"),
        CheckConstraint("ramp_percent >= 0 AND ramp_percent <= 100", name="ramp_range"),
        CheckConstraint("quota_amount >= 0", name="amount_not_negative"),
        Index("ix_quota_period_start_date_period_end_date", "period_start_date", "period_end_date"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    basis: Mapped[QuotaBasis] = mapped_column(string_enum(QuotaBasis, "quota_basis", length=20))
    period: Mapped[str] = mapped_column(String(7))
    period_start_date: Mapped[dt.date] = mapped_column(Date)
    period_end_date: Mapped[dt.date] = mapped_column(Date)
    quota_amount: Mapped[Decimal] = mapped_column(MoneyAmount)
    ramp_percent: Mapped[int] = mapped_column(Integer, default=100)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
