"""The plan figures the three-gap board compares effort and outcomes with, one row per priority.

A priority states a target; the board also needs what the plan assumes about effort and outcomes
when the target does not say it: the share of effort the priority should get, the win rate and the
sales cycle the plan counts on. Empty columns mean "use the default" (planned share) or "use the
baseline of the prior equal window" (win rate, cycle).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import PrimaryKey, UTCDateTime, utcnow
from bridgehead.db import Base


class PriorityPlan(Base):
    """What the plan assumes for one priority (or one of its restatements)."""

    __tablename__ = "priority_plan"

    priority_id: Mapped[int] = mapped_column(
        PrimaryKey, ForeignKey("priority.id", ondelete="CASCADE"), primary_key=True
    )
    # Percent (0-100) of new pipeline and activities that should go to the priority's pipeline.
    planned_share_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Percent (0-100) the plan counts on winning of the priority's closed deals.
    assumed_win_rate_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Median days from creation to close of the priority's won deals the plan counts on.
    assumed_cycle_days: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
