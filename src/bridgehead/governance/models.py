"""Tables of the governance domain: initiatives, their milestones and KPIs, gate history, approvals, value.

An initiative moves through the Degree-of-Implementation stages (identified → detailed → decided →
implemented → closed, or cancelled from any of them). The service checks each gate's prerequisites;
these tables only hold what the gates read and what they leave behind.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridgehead.auth.models import Role, User, role_enum
from bridgehead.common.types import MoneyAmount, PrimaryKey, UTCDateTime, string_enum, utcnow
from bridgehead.db import Base


class InitiativeStage(enum.StrEnum):
    """Degree of Implementation: how far an initiative has really come, not how busy it looks."""

    IDENTIFIED = "identified"
    DETAILED = "detailed"
    DECIDED = "decided"
    IMPLEMENTED = "implemented"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ValueKind(enum.StrEnum):
    """What the business case promises: more revenue, or lower cost."""

    REVENUE_UPLIFT = "revenue_uplift"
    COST_SAVING = "cost_saving"


class ApprovalGate(enum.StrEnum):
    """What an approval decides: passing the Decided gate, or reopening a cancelled initiative."""

    DECIDED = "decided"
    REOPEN = "reopen"


class ApprovalDecision(enum.StrEnum):
    """The approver's answer."""

    APPROVED = "approved"
    REJECTED = "rejected"


class Initiative(Base):
    """A change initiative that executes a priority, with its business case and where it stands.

    ``expected_value_amount`` is what the business case promises over the value window
    ``start_date`` → ``end_date``; the measured value compares bookings in that window with the
    window of equal length before it.
    """

    __tablename__ = "initiative"
    __table_args__ = (
        CheckConstraint(
            "expected_value_amount IS NULL OR expected_value_amount >= 0", name="expected_value_not_negative"
        ),
        CheckConstraint("cost_amount IS NULL OR cost_amount >= 0", name="cost_not_negative"),
        CheckConstraint(
            "start_date IS NULL OR end_date IS NULL OR start_date < end_date", name="window_in_order"
        ),
        Index("ix_initiative_stage_priority_id", "stage", "priority_id"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority_id: Mapped[int | None] = mapped_column(
        ForeignKey("priority.id", ondelete="RESTRICT"), index=True
    )
    # Where the initiative aims; when set, the measured value counts deals of this segment's accounts.
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    sponsor_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    controller_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    stage: Mapped[InitiativeStage] = mapped_column(
        string_enum(InitiativeStage, "initiative_stage"), default=InitiativeStage.IDENTIFIED
    )
    value_kind: Mapped[ValueKind | None] = mapped_column(string_enum(ValueKind, "value_kind"))
    expected_value_amount: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    cost_amount: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    business_case: Mapped[str] = mapped_column(Text, default="")
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    # The date by which the next gate should be passed; past it, the board shows the gate overdue.
    next_gate_due_date: Mapped[dt.date | None] = mapped_column(Date)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    # The stage a cancelled initiative returns to if the sponsor approves reopening it.
    cancelled_from_stage: Mapped[InitiativeStage | None] = mapped_column(
        string_enum(InitiativeStage, "cancelled_from_stage")
    )
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reopened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stage_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    sponsor: Mapped[User] = relationship(foreign_keys=[sponsor_id])
    controller: Mapped[User | None] = relationship(foreign_keys=[controller_id])


class Milestone(Base):
    """A dated step of the initiative's plan; the Implemented gate needs every one done."""

    __tablename__ = "initiative_milestone"
    __table_args__ = (
        CheckConstraint("start_date IS NULL OR start_date <= due_date", name="dates_in_order"),
        Index("ix_initiative_milestone_initiative_id_due_date", "initiative_id", "due_date"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiative.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InitiativeKpi(Base):
    """A KPI of the business case: its baseline, the target, and the latest reading."""

    __tablename__ = "initiative_kpi"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiative.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(30), default="")
    baseline_value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    target_value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    current_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))


class GateTransition(Base):
    """One move between stages: who moved it, when, from where to where, and why."""

    __tablename__ = "initiative_gate_transition"
    __table_args__ = (
        Index("ix_initiative_gate_transition_initiative_id_occurred_at", "initiative_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiative.id", ondelete="CASCADE"))
    from_stage: Mapped[InitiativeStage | None] = mapped_column(
        string_enum(InitiativeStage, "transition_from_stage")
    )
    to_stage: Mapped[InitiativeStage] = mapped_column(string_enum(InitiativeStage, "transition_to_stage"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship()


class Approval(Base):
    """An approval or rejection, with the approver's role at the time and a comment."""

    __tablename__ = "initiative_approval"
    __table_args__ = (
        Index("ix_initiative_approval_initiative_id_decided_at", "initiative_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiative.id", ondelete="CASCADE"))
    gate: Mapped[ApprovalGate] = mapped_column(string_enum(ApprovalGate, "approval_gate"))
    decision: Mapped[ApprovalDecision] = mapped_column(string_enum(ApprovalDecision, "approval_decision"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    approver_role: Mapped[Role] = mapped_column(role_enum())
    # Whether the approver was the initiative's sponsor: only the sponsor's decision opens a gate.
    as_sponsor: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    approver: Mapped[User] = relationship()


class ValueConfirmation(Base):
    """The controller's confirmation of realised value, with evidence and the figure Bridgehead measured."""

    __tablename__ = "initiative_value_confirmation"
    __table_args__ = (CheckConstraint("realised_value_amount >= 0", name="realised_value_not_negative"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiative.id", ondelete="CASCADE"), index=True)
    controller_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    realised_value_amount: Mapped[Decimal] = mapped_column(MoneyAmount)
    # What the data showed when the controller confirmed (None where the value is not measurable).
    measured_value_amount: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    evidence: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    controller: Mapped[User] = relationship()
