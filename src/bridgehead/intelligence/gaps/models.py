"""Gap tables: the playbook's detector rules and the signals the detectors raise.

Intelligence writes only its own results (DESIGN.md section 4): these tables are derived from
CRM, deal and strategy records by ``bridgehead gaps scan`` and by the after-import step, except
for the acknowledgements and snoozes people add.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, ForeignKeyConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bridgehead.common.types import MoneyAmount, PrimaryKey, UTCDateTime, string_enum, utcnow
from bridgehead.db import Base
from bridgehead.intelligence.gaps.explain import explain


class GapKind(enum.StrEnum):
    """What a detector looks for (issue 7's list; one detector per kind)."""

    SINGLE_THREADED = "single_threaded"
    NO_ECONOMIC_BUYER = "no_economic_buyer"
    SLOW_FOLLOW_UP = "slow_follow_up"
    STALE_DEAL = "stale_deal"
    QUALIFICATION_INCOMPLETE = "qualification_incomplete"
    CLOSE_DATE_PUSHED = "close_date_pushed"
    CLOSE_DATE_PAST = "close_date_past"
    MISSING_FIELDS = "missing_fields"
    OFF_STRATEGY = "off_strategy"
    NO_ACTION_PLAN = "no_action_plan"
    ACTION_PLAN_OVERDUE = "action_plan_overdue"
    HANDOFF_NOT_ACCEPTED = "handoff_not_accepted"


class Severity(enum.StrEnum):
    """How urgently a signal needs a person: ordered low < medium < high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class GapRule(Base):
    """The playbook's setting for one detector: on or off, its severity and its thresholds.

    ``thresholds`` holds the detector's named numbers (``stale_days``, ``follow_up_hours``,
    ``min_pushes``, …); a detector reads its defaults when a key is absent.
    """

    __tablename__ = "gap_rule"

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    kind: Mapped[GapKind] = mapped_column(string_enum(GapKind, "gap_kind", length=40), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[Severity] = mapped_column(string_enum(Severity, "gap_severity"), default=Severity.MEDIUM)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GapSignal(Base):
    """One execution gap on one object, from when a detector raised it until the condition cleared.

    A signal is open while ``resolved_at`` is null; at most one open signal exists per
    (kind, subject_key). A scan that no longer finds the condition sets ``resolved_at``; the same
    condition found again later opens a new signal, so the raised → resolved history stays whole
    (agility is measured from it).
    """

    __tablename__ = "gap_signal"
    __table_args__ = (
        # One open signal per condition; resolved ones are history and may repeat.
        Index(
            "uq_gap_signal_open_kind_subject",
            "kind",
            "subject_key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        # The inbox: each owner's open signals by money at risk.
        Index(
            "ix_gap_signal_owner_id_open",
            "owner_id",
            "amount_at_risk",
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        # Covering for agility: each owner's signals resolved in a period, read from the index alone.
        # Partial, like the indexes around it: a first scan resolves nothing, so this one stays in
        # place while it writes (``scan.KEPT_BY_A_FIRST_SCAN``).
        Index(
            "ix_gap_signal_owner_id_resolved_at",
            "owner_id",
            "resolved_at",
            "raised_at",
            "opportunity_id",
            sqlite_where=text("resolved_at IS NOT NULL"),
            postgresql_where=text("resolved_at IS NOT NULL"),
        ),
        Index("ix_gap_signal_opportunity_id", "opportunity_id"),
        Index(
            "ix_gap_signal_account_id",
            "account_id",
            sqlite_where=text("account_id IS NOT NULL"),
            postgresql_where=text("account_id IS NOT NULL"),
        ),
        # No foreign key for the subject and owner on either database, and on PostgreSQL none for
        # the acknowledger and snoozer either: triggers on the deal, account and user tables do
        # what the keys' ON DELETE actions did (migrations 0016 and 0023). Signals are derived
        # data, written by INSERT ... SELECT from the rows the scan reads. A key costs a check per
        # inserted signal (SQLite seeks the parent: ~3.6 us a signal for three keys; PostgreSQL
        # queues a trigger event per key and row, NULL or not), and setting PostgreSQL's keys
        # aside for a first scan dropped their triggers on the referenced tables, which locked
        # every deal, account and user against readers until the scan committed. SQLite keeps
        # the acknowledger and snoozer keys: people write those one row at a time.
        ForeignKeyConstraint(["acknowledged_by_id"], ["user.id"], ondelete="SET NULL").ddl_if(
            dialect="sqlite"
        ),
        ForeignKeyConstraint(["snoozed_by_id"], ["user.id"], ondelete="SET NULL").ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(PrimaryKey, primary_key=True)
    kind: Mapped[GapKind] = mapped_column(string_enum(GapKind, "gap_kind", length=40))
    severity: Mapped[Severity] = mapped_column(string_enum(Severity, "gap_severity"))
    # What the signal is about, as a stable text key: "opportunity:123", "account:45".
    # Compared byte by byte on PostgreSQL: a machine key, and the unique index over it builds about
    # 0.6 s faster at 1.4 million signals than in the database's locale (migration 0025).
    subject_key: Mapped[str] = mapped_column(
        String(120).with_variant(String(120, collation="C"), "postgresql")
    )
    opportunity_id: Mapped[int | None] = mapped_column(PrimaryKey)
    # Set for an account subject only; a deal's signal reaches its account through the deal, which
    # keeps one account index entry per signal out of every first scan (migration 0025).
    account_id: Mapped[int | None] = mapped_column(PrimaryKey)
    # Who must act: the deal's (or account's) owner, refreshed by every scan that finds the gap again.
    owner_id: Mapped[int | None] = mapped_column(PrimaryKey)
    # Money at risk orders the inbox: the open deal's amount (won amount for handoffs).
    amount_at_risk: Mapped[Decimal | None] = mapped_column(MoneyAmount)
    # The facts behind the gap; the sentence a person reads is written from them (``explanation``).
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(PrimaryKey)
    acknowledge_reason: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    snoozed_by_id: Mapped[int | None] = mapped_column(PrimaryKey)
    snooze_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def explanation(self) -> str:
        """The one-sentence explanation, written from the kind and the evidence (``gaps.explain``),
        with spans that grow with time counted to the signal's own ``last_seen_at``. A full scan
        stamps the kind, not each signal: the inbox and the API count them to the last sighting
        (``service.last_seen``), which can be later."""
        return explain(self.kind, self.evidence, self.last_seen_at)


class GapKindScan(Base):
    """When a scan last ran a kind's detector over every deal.

    A full scan does not stamp ``last_seen_at`` on each signal it finds again: every signal of the
    kind still open after it was seen then, so the time is kept once here, and a signal's last
    sighting is the later of its own stamp and this one (``service.last_seen``). Rewriting the
    stamp cost a row version per open signal: on PostgreSQL 42 of the 67 s of a re-scan of
    1,405,891 open signals. Scoped scans (after an import) still stamp the signals they cover,
    and resolving a signal stores its last sighting for good.
    """

    __tablename__ = "gap_kind_scan"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    full_scan_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
