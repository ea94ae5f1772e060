"""The board's own tables: the plan figures it compares effort and outcomes with (one row per
priority), and the snapshots of what it read (one row per priority as planned at a unit, for a
viewer's visibility and a window of periods).

A priority states a target; the board also needs what the plan assumes about effort and outcomes
when the target does not say it: the share of effort the priority should get, the win rate and the
sales cycle the plan counts on. Empty columns mean "use the default" (planned share) or "use the
baseline of the prior equal window" (win rate, cycle).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, LargeBinary, Numeric, String
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


class BoardSnapshot(Base):
    """What the board read for one priority as planned at one unit, as one viewer class sees it, over
    one window of periods: per period and owner, the effort, outcomes, evidence, forecast deals and
    initiatives (``board.snapshot`` encodes them).

    Derived data, recomputed whenever it is missing, too old or refreshed; ``key`` is a digest of
    everything the rows were read with, so a changed priority definition reads afresh at once.
    """

    __tablename__ = "board_snapshot"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    priority_id: Mapped[int] = mapped_column(ForeignKey("priority.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    # The moment the rows describe: the board shows it as "as of".
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The newest audit entry when the rows were read: a later one means recorded data changed since.
    data_stamp: Mapped[int] = mapped_column(BigInteger)
    # How long reading every priority of the pass took (a cheap board is simply read again on change).
    compute_seconds: Mapped[float] = mapped_column(Float)
    # zlib-compressed JSON (see board.snapshot.encode).
    payload: Mapped[bytes] = mapped_column(LargeBinary)
