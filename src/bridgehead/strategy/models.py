"""Tables of the strategy domain: priorities and their versions, back-briefs, segments, ICP, pipeline definitions.

The chain (DESIGN.md section 2) starts here: a priority states the intent; each org unit below its
owner back-briefs how it will achieve it; segment rules say which accounts the priority invests in
(or deprioritises); pipeline definitions say which opportunities count toward it.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridgehead.common.types import PrimaryKey, UTCDateTime, string_enum, utcnow
from bridgehead.db import Base


class PriorityStatus(enum.StrEnum):
    """Where a priority is in its life."""

    DRAFT = "draft"
    ACTIVE = "active"
    ACHIEVED = "achieved"
    DROPPED = "dropped"


class TargetMetric(enum.StrEnum):
    """The measurable target a priority names; each is computable from Bridgehead's own data."""

    BOOKINGS_AMOUNT = "bookings_amount"
    PIPELINE_CREATED_AMOUNT = "pipeline_created_amount"
    WIN_RATE = "win_rate"
    NEW_LOGOS = "new_logos"
    AVERAGE_DEAL_SIZE = "average_deal_size"
    SALES_CYCLE_DAYS = "sales_cycle_days"
    SHARE_OF_PIPELINE = "share_of_pipeline"


class BackBriefStatus(enum.StrEnum):
    """A back-brief's state: written, sent up, accepted, or returned with comments."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class SegmentStance(enum.StrEnum):
    """What the strategy says to do with the accounts a segment matches."""

    INVEST = "invest"
    MAINTAIN = "maintain"
    DEPRIORITISE = "deprioritise"


class BusinessKind(enum.StrEnum):
    """Which opportunities a pipeline definition counts: new logos, existing customers, or both."""

    NEW = "new"
    EXISTING = "existing"
    ANY = "any"


class Priority(Base):
    """A strategic priority: intent (what, why), a measurable target, boundaries, owner and status.

    Priorities form a tree: a company priority is restated at region and team level by children
    whose ``org_unit_id`` is below the parent's. ``version`` counts changes; each change is kept in
    ``priority_version`` with its effective date.
    """

    __tablename__ = "priority"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("priority.id", ondelete="RESTRICT"), index=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    intent_what: Mapped[str] = mapped_column(Text)
    intent_why: Mapped[str] = mapped_column(Text)
    target_metric: Mapped[TargetMetric] = mapped_column(string_enum(TargetMetric, "target_metric", length=30))
    # What the target is measured over, in words a reader understands ("enterprise financial services").
    target_scope: Mapped[str] = mapped_column(String(300), default="")
    target_value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    # Periods are labels such as "2026-Q4" or "2026" (a whole year).
    target_period: Mapped[str] = mapped_column(String(7))
    boundaries: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[PriorityStatus] = mapped_column(
        string_enum(PriorityStatus, "priority_status", length=30), default=PriorityStatus.DRAFT
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    parent: Mapped[Priority | None] = relationship(remote_side=[id])


class PriorityVersion(Base):
    """One version of a priority: the full statement as it stood from ``effective_from``, and who changed it."""

    __tablename__ = "priority_version"
    __table_args__ = (UniqueConstraint("priority_id", "version"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    priority_id: Mapped[int] = mapped_column(ForeignKey("priority.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    change_note: Mapped[str] = mapped_column(Text, default="")
    # Every field of the statement at this version (JSON-safe), so a page can diff any two versions.
    statement: Mapped[dict[str, Any]] = mapped_column(JSON)


class BackBrief(Base):
    """How one org unit will achieve a priority's intent; accepted or returned by the level above."""

    __tablename__ = "back_brief"
    __table_args__ = (UniqueConstraint("priority_id", "org_unit_id"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    priority_id: Mapped[int] = mapped_column(ForeignKey("priority.id", ondelete="CASCADE"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[BackBriefStatus] = mapped_column(
        string_enum(BackBriefStatus, "back_brief_status", length=30), default=BackBriefStatus.DRAFT
    )
    plan: Mapped[str] = mapped_column(Text, default="")
    implied_tasks: Mapped[str] = mapped_column(Text, default="")
    resources_needed: Mapped[str] = mapped_column(Text, default="")
    risks: Mapped[str] = mapped_column(Text, default="")
    needs_from_others: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BackBriefEvent(Base):
    """One step in a back-brief's history: submitted, returned (with comments), revised, accepted."""

    __tablename__ = "back_brief_event"
    __table_args__ = (Index("ix_back_brief_event_back_brief_id_occurred_at", "back_brief_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    back_brief_id: Mapped[int] = mapped_column(ForeignKey("back_brief.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # The back-brief's text as it stood at this step.
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Segment(Base):
    """A declarative rule over account fields with a stance, serving one or more priorities.

    ``rule`` is a JSON tree, evaluated set-wise in SQL by ``strategy.segments``: a group
    ``{"all": [...]}`` / ``{"any": [...]}`` of conditions ``{"field": ..., "op": ..., "value": ...}``.
    """

    __tablename__ = "segment"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    stance: Mapped[SegmentStance] = mapped_column(string_enum(SegmentStance, "segment_stance", length=30))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SegmentPriority(Base):
    """A segment serves a priority."""

    __tablename__ = "segment_priority"

    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True)
    priority_id: Mapped[int] = mapped_column(
        ForeignKey("priority.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SegmentMember(Base):
    """An account a segment's rule matched at its last evaluation (written set-wise, never row by row).

    On SQLite the table has no rowid: the primary key is the table, so each membership is stored
    once (plus the account index) instead of three times; evaluation writes millions of them.

    The foreign keys are declared on PostgreSQL only. SQLite checks a foreign key per inserted row
    by opening the parent table and seeking the key (about 0.4 us each: 1.7 of the 5.8 s a first
    evaluation of 3 million memberships took at 1,000,000 accounts), and cannot set checks aside
    inside a transaction. Memberships are derived data, written only by INSERT ... SELECT from the
    account and segment tables, so an orphan cannot be written; on SQLite triggers (migration
    0015) do what ON DELETE CASCADE does when an account or a segment is deleted.
    """

    __tablename__ = "segment_member"
    __table_args__ = (
        ForeignKeyConstraint(["segment_id"], ["segment.id"], ondelete="CASCADE").ddl_if(dialect="postgresql"),
        ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE").ddl_if(dialect="postgresql"),
        {"sqlite_with_rowid": False},
    )

    segment_id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=False, index=True)


class IcpCriterion(Base):
    """One criterion of the ideal customer profile: a rule (same language as segments) and its weight."""

    __tablename__ = "icp_criterion"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    weight: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AccountFit(Base):
    """An account's ICP fit: a 0-100 score and the criteria it met and missed (reasons)."""

    __tablename__ = "account_fit"
    __table_args__ = (Index("ix_account_fit_score", "score"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    # Ids of the criteria the account met; the labels are read from icp_criterion.
    met_criteria: Mapped[list[int]] = mapped_column(JSON, default=list)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineDefinition(Base):
    """Which opportunities count toward a priority: by segment, product, type, new versus existing business.

    Every criterion left empty matches everything; all that are set must hold.
    """

    __tablename__ = "pipeline_definition"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    priority_id: Mapped[int] = mapped_column(ForeignKey("priority.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"))
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    opportunity_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    business_kind: Mapped[BusinessKind] = mapped_column(
        string_enum(BusinessKind, "business_kind", length=30), default=BusinessKind.ANY
    )
