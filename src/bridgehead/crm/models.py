"""CRM tables: the records that connectors write and every other domain reads."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridgehead.auth.models import User
from bridgehead.common.types import MoneyAmount, PrimaryKey, UTCDateTime, string_enum, utcnow
from bridgehead.db import Base


class OrgUnitKind(enum.StrEnum):
    """Level of an org unit in the company → region → team tree."""

    COMPANY = "company"
    REGION = "region"
    TEAM = "team"


class ActivityKind(enum.StrEnum):
    """What kind of touch an activity records."""

    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TASK = "task"


class ActivityDirection(enum.StrEnum):
    """Who reached out: the buyer (inbound) or the seller (outbound)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ForecastCategory(enum.StrEnum):
    """Salesforce's forecast categories."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"
    OMITTED = "omitted"


class OrgUnit(Base):
    """A node of the organisation: the company, a region or a team."""

    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgUnitKind] = mapped_column(string_enum(OrgUnitKind, "org_unit_kind"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])


class Account(Base):
    """A company we sell to."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("employees IS NULL OR employees >= 0", name="employees_not_negative"),
        CheckConstraint(
            "annual_revenue_amount IS NULL OR annual_revenue_amount >= 0", name="annual_revenue_not_negative"
        ),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(100), index=True)
    employees: Mapped[int | None] = mapped_column(Integer)
    annual_revenue_amount: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    currency_code: Mapped[str] = mapped_column(String(3), default="USD")
    country: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    parent_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    parent_account: Mapped[Account | None] = relationship(remote_side=[id])


class Contact(Base):
    """A person at an account."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    title: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(100))
    reports_to_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def full_name(self) -> str:
        """First and last name, or the last name alone."""
        return f"{self.first_name} {self.last_name}" if self.first_name else self.last_name


class Opportunity(Base):
    """A deal: what we hope to sell to an account, for how much, by when."""

    __tablename__ = "opportunity"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        CheckConstraint("probability IS NULL OR (probability BETWEEN 0 AND 100)", name="probability_range"),
        CheckConstraint("NOT is_won OR is_closed", name="won_implies_closed"),
        # Covering: the metrics engine reads every per-owner figure from this index alone (migration 0009).
        Index(
            "ix_opportunity_owner_metrics",
            "owner_id",
            "is_closed",
            "close_date",
            "is_won",
            "amount",
            "probability",
            "created_at",
            "stage",
        ),
        Index("ix_opportunity_stage_outcome", "stage", "is_closed", "is_won", "probability", "product"),
        Index("ix_opportunity_is_closed_close_date", "is_closed", "close_date"),
        # The product filter's choices are read one seek per product (migration 0014).
        Index("ix_opportunity_product", "product"),
        # The list pages sort by these; without an index every page would sort the whole table.
        Index("ix_opportunity_amount", "amount"),
        Index("ix_opportunity_name", "name"),
        Index("ix_opportunity_is_closed_amount", "is_closed", "amount"),
        Index("ix_opportunity_created_at_owner_id_amount", "created_at", "owner_id", "amount"),
        # Serves the account foreign key and, covering, "the account had a won deal closed before
        # this one was created" (existing business), a seek instead of reading every sibling deal
        # (migration 0013).
        Index("ix_opportunity_account_id_is_won_close_date", "account_id", "is_won", "close_date"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255))
    amount: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    currency_code: Mapped[str] = mapped_column(String(3), default="USD")
    stage: Mapped[str] = mapped_column(String(80))
    probability: Mapped[int | None] = mapped_column(Integer)
    close_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    forecast_category: Mapped[ForecastCategory | None] = mapped_column(
        string_enum(ForecastCategory, "forecast_category")
    )
    type: Mapped[str | None] = mapped_column(String(80))
    lead_source: Mapped[str | None] = mapped_column(String(80))
    loss_reason: Mapped[str | None] = mapped_column(String(120))
    primary_competitor: Mapped[str | None] = mapped_column(String(120))
    product: Mapped[str | None] = mapped_column(String(120))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    account: Mapped[Account | None] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])


class OpportunityHistory(Base):
    """One row per change of stage, amount, close date or probability of an opportunity."""

    __tablename__ = "opportunity_history"
    __table_args__ = (
        Index("ix_opportunity_history_opportunity_id_changed_at", "opportunity_id", "changed_at"),
        # The stages deals passed through, read one seek per stage (the funnel's and waterfall's
        # ladder) instead of reading all history (migration 0014).
        Index("ix_opportunity_history_stage_probability", "stage", "probability"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    stage: Mapped[str] = mapped_column(String(80))
    amount: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    close_date: Mapped[dt.date | None] = mapped_column(Date)
    probability: Mapped[int | None] = mapped_column(Integer)
    forecast_category: Mapped[ForecastCategory | None] = mapped_column(
        string_enum(ForecastCategory, "forecast_category")
    )


class ContactRole(Base):
    """A contact's role in an opportunity's buying committee, as the CRM records it."""

    __tablename__ = "opportunity_contact_role"
    __table_args__ = (UniqueConstraint("opportunity_id", "contact_id", "role"),)

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(80))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class Activity(Base):
    """A call, email, meeting or task, linked to whatever it touched."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_opportunity_id_occurred_at", "opportunity_id", "occurred_at"),
        # Covering for activity volumes per owner and kind (intelligence, migration 0009) and, with
        # the deal, for effort per owner and deal on the three-gap board (migration 0013).
        Index(
            "ix_activity_owner_id_occurred_at_kind_deal", "owner_id", "occurred_at", "kind", "opportunity_id"
        ),
        # Serves the contact foreign key and "the contact was active since" (engaged stakeholders,
        # in stage compliance and the gap detectors) as one seek (migration 0014).
        Index("ix_activity_contact_id_occurred_at", "contact_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[ActivityKind] = mapped_column(string_enum(ActivityKind, "activity_kind"))
    direction: Mapped[ActivityDirection] = mapped_column(string_enum(ActivityDirection, "activity_direction"))
    subject: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ActivityMonth(Base):
    """Activities per owner, calendar month (UTC) and kind, kept by the database itself.

    Derived data: triggers on ``activity`` (migration 0021) add and subtract every insert, update,
    delete and truncate, whoever writes them (the import, the deal room, a cascade from a deleted
    account, a bulk load in SQL), in the writing statement's own transaction, so the counts are
    never behind the activities. The metrics read activity volumes for a run of whole months from
    here (a few rows per owner and month) instead of counting the activities of the period again:
    at 5,000,000 activities that was about a third of the headline. Nothing else writes it.
    """

    __tablename__ = "activity_month"

    # The owner's user id, 0 for activities without an owner (a key column cannot be NULL).
    owner_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    activities: Mapped[int] = mapped_column(Integer)


class OpportunityMonth(Base):
    """Per owner and calendar month: the deals created that month (UTC), and the open deals whose
    close date falls in it. Kept by the database itself.

    Derived data, like ``ActivityMonth``: triggers on ``opportunity`` (migration 0022) add and
    subtract every insert, update, delete and truncate in the writing statement's own transaction.
    The metrics read pipeline created and the open pipeline of a run of whole months from here
    (a row per owner and month) instead of reading every deal created or open in the period: at
    1,000,000 deals those two reads were a quarter of the headline. Nothing else writes it.
    """

    __tablename__ = "opportunity_month"

    # The owner's user id, 0 for deals without an owner (a key column cannot be NULL).
    owner_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    created: Mapped[int] = mapped_column(Integer)
    created_cents: Mapped[int] = mapped_column(BigInteger)
    # Open deals closing this month: how many, their amount, and amount times probability (percent).
    open_closing: Mapped[int] = mapped_column(Integer)
    open_closing_cents: Mapped[int] = mapped_column(BigInteger)
    open_weighted_cents_percent: Mapped[int] = mapped_column(BigInteger)


class OpenOpportunityStage(Base):
    """Open deals per owner and CRM stage, whatever their close date, with the sum and count of
    their probabilities. Kept by the database itself (migration 0022, as ``OpportunityMonth``):
    the metrics' open deals and qualified pipeline, and the stage ladder's order."""

    __tablename__ = "open_opportunity_stage"

    owner_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage: Mapped[str] = mapped_column(String(80), primary_key=True)
    open_deals: Mapped[int] = mapped_column(Integer)
    # Over the open deals with a probability: its sum, and how many they are.
    probability_total: Mapped[int] = mapped_column(BigInteger)
    with_probability: Mapped[int] = mapped_column(Integer)
