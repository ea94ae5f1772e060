"""Deal execution tables: sales processes, qualification, stakeholders, action plans, account plans, handoffs."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import PrimaryKey, UTCDateTime, string_enum, utcnow
from bridgehead.db import Base


class QualificationStatus(enum.StrEnum):
    """How far a qualification dimension is known: not at all, named, or confirmed by the buyer."""

    UNKNOWN = "unknown"
    IDENTIFIED = "identified"
    VALIDATED = "validated"


class StakeholderRole(enum.StrEnum):
    """The part a person plays in the buying committee."""

    ECONOMIC_BUYER = "economic_buyer"
    CHAMPION = "champion"
    COACH = "coach"
    TECHNICAL_EVALUATOR = "technical_evaluator"
    INFLUENCER = "influencer"
    USER = "user"
    BLOCKER = "blocker"
    PROCUREMENT = "procurement"


class Stance(enum.StrEnum):
    """Where a stakeholder stands on our proposal."""

    SUPPORTER = "supporter"
    NEUTRAL = "neutral"
    OPPONENT = "opponent"


class Influence(enum.StrEnum):
    """How much a stakeholder's view weighs in the decision."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AccountPlanItemKind(enum.StrEnum):
    """What an account-plan line is."""

    OBJECTIVE = "objective"
    STRENGTH = "strength"
    WEAKNESS = "weakness"
    OPPORTUNITY = "opportunity"
    THREAT = "threat"
    RELATIONSHIP_GOAL = "relationship_goal"


class WhiteSpaceStatus(enum.StrEnum):
    """Whether a business unit uses a product, is a target for it, or is no fit."""

    OWNED = "owned"
    TARGET = "target"
    OPEN = "open"
    NO_FIT = "no_fit"


class HandoffStatus(enum.StrEnum):
    """A handoff waits for customer success to accept it."""

    PENDING = "pending"
    ACCEPTED = "accepted"


class QualificationFramework(Base):
    """A qualification method (MEDDPICC, MEDDIC, BANT…): a named, ordered set of dimensions."""

    __tablename__ = "qualification_framework"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class QualificationDimension(Base):
    """One dimension of a framework (Metrics, Economic buyer, …); rows, so frameworks are configurable."""

    __tablename__ = "qualification_dimension"
    __table_args__ = (UniqueConstraint("framework_id", "key"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("qualification_framework.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    guidance: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer)


class SalesProcess(Base):
    """An ordered ladder of buyer-aligned stages for a kind of deal (new business, expansion)."""

    __tablename__ = "sales_process"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    framework_id: Mapped[int] = mapped_column(ForeignKey("qualification_framework.id", ondelete="RESTRICT"))
    # Opportunity types (as the CRM writes them) this process governs; the default takes the rest.
    opportunity_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProcessStage(Base):
    """A stage: the buyer milestone it stands for and what must be true to be in it."""

    __tablename__ = "process_stage"
    __table_args__ = (UniqueConstraint("process_id", "position"), UniqueConstraint("process_id", "name"))

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("sales_process.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    buyer_milestone: Mapped[str] = mapped_column(Text, default="")
    # Checklist a rep ticks before the deal may leave this stage.
    exit_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Opportunity fields that must be filled to be in this stage (amount, close_date, …).
    required_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Dimension keys that must reach ``minimum_status`` to be in this stage.
    required_dimensions: Mapped[list[str]] = mapped_column(JSON, default=list)
    minimum_status: Mapped[QualificationStatus] = mapped_column(
        string_enum(QualificationStatus, "qualification_status", length=30),
        default=QualificationStatus.IDENTIFIED,
    )
    min_engaged_stakeholders: Mapped[int] = mapped_column(Integer, default=0)
    requires_economic_buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    probability: Mapped[int] = mapped_column(Integer)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    # CRM stage names (Salesforce, HubSpot ids and labels, Maven) that mean this stage on import.
    crm_stage_names: Mapped[list[str]] = mapped_column(JSON, default=list)


class ExitCriterionCheck(Base):
    """A ticked exit criterion of a stage for one deal."""

    __tablename__ = "exit_criterion_check"
    __table_args__ = (UniqueConstraint("opportunity_id", "stage_id", "criterion_index"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("process_stage.id", ondelete="CASCADE"), index=True)
    criterion_index: Mapped[int] = mapped_column(Integer)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QualificationEntry(Base):
    """A deal's status and evidence on one dimension, with who set it and when."""

    __tablename__ = "qualification_entry"
    __table_args__ = (UniqueConstraint("opportunity_id", "dimension_id"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    dimension_id: Mapped[int] = mapped_column(
        ForeignKey("qualification_dimension.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[QualificationStatus] = mapped_column(
        string_enum(QualificationStatus, "qualification_status", length=30)
    )
    evidence: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "manual", "crm-fields" (derived from imported attributes), "demo".
    source: Mapped[str] = mapped_column(String(20), default="manual")


class Stakeholder(Base):
    """A contact of the deal's account on its buying-committee map."""

    __tablename__ = "stakeholder"
    __table_args__ = (UniqueConstraint("opportunity_id", "contact_id"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    role: Mapped[StakeholderRole] = mapped_column(string_enum(StakeholderRole, "stakeholder_role", length=30))
    stance: Mapped[Stance] = mapped_column(
        string_enum(Stance, "stakeholder_stance", length=30), default=Stance.NEUTRAL
    )
    influence: Mapped[Influence] = mapped_column(
        string_enum(Influence, "stakeholder_influence", length=30), default=Influence.MEDIUM
    )
    # Set in the map when the CRM's reports-to line is missing or wrong; else the contact's own.
    reports_to_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    plan: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ActionPlan(Base):
    """The mutual action plan of a deal: what buyer and seller do, by when, to reach a decision."""

    __tablename__ = "action_plan"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ActionStep(Base):
    """A step of a mutual action plan with its buyer-side and seller-side owners."""

    __tablename__ = "action_step"
    __table_args__ = (Index("ix_action_step_plan_id_due_date", "plan_id", "due_date"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("action_plan.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    buyer_owner: Mapped[str] = mapped_column(String(200), default="")
    seller_owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    due_date: Mapped[dt.date] = mapped_column(Date)
    milestone: Mapped[str] = mapped_column(String(200), default="")
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StageOverride(Base):
    """A stage move a manager allowed although its requirements were unmet, and why."""

    __tablename__ = "stage_override"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str] = mapped_column(String(80))
    to_stage: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    missing: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StageComplianceFlag(Base):
    """An unmet requirement of the stage a deal is in, found after an import (flagged, not rejected)."""

    __tablename__ = "stage_compliance_flag"
    __table_args__ = (Index("ix_stage_compliance_flag_opportunity_id", "opportunity_id"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("process_stage.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(String(300))
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountPlan(Base):
    """The plan for one account: objectives, SWOT, white space and relationship goals."""

    __tablename__ = "account_plan"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    business_units: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AccountPlanItem(Base):
    """An objective, SWOT item or relationship goal; may become a task or serve a priority."""

    __tablename__ = "account_plan_item"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("account_plan.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AccountPlanItemKind] = mapped_column(
        string_enum(AccountPlanItemKind, "account_plan_item_kind", length=30)
    )
    text: Mapped[str] = mapped_column(Text)
    priority_id: Mapped[int | None] = mapped_column(ForeignKey("priority.id", ondelete="SET NULL"))
    task_owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    task_due_date: Mapped[dt.date | None] = mapped_column(Date)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WhiteSpaceCell(Base):
    """One product-by-business-unit cell of an account's white space."""

    __tablename__ = "white_space_cell"
    __table_args__ = (UniqueConstraint("plan_id", "product", "business_unit"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("account_plan.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(120))
    business_unit: Mapped[str] = mapped_column(String(120))
    status: Mapped[WhiteSpaceStatus] = mapped_column(
        string_enum(WhiteSpaceStatus, "white_space_status", length=30)
    )


class Handoff(Base):
    """A won deal handed to customer success with the commitments made during the cycle."""

    __tablename__ = "handoff"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    commitments: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[HandoffStatus] = mapped_column(
        string_enum(HandoffStatus, "handoff_status", length=30), default=HandoffStatus.PENDING
    )
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
