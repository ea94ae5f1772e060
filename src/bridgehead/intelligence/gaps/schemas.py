"""Pydantic models at the edges of the gap inbox: list filters, signals, acknowledgements, snoozes, rules."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from bridgehead.common.pagination import PageRequest, QueryModel
from bridgehead.common.types import MAX_ID
from bridgehead.intelligence.gaps.models import GapKind, Severity
from bridgehead.intelligence.schemas import OutputFormat

MAX_REASON_LENGTH = 2000


class SignalState(enum.StrEnum):
    """Where a signal stands for the people who must act on it."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class InboxView(enum.StrEnum):
    """Whose signals: one's own, or everyone one may see (a manager's reporting line, or everyone)."""

    MINE = "mine"
    TEAM = "team"


class SignalFilters(QueryModel):
    """Filters of the inbox; without ``state`` the inbox shows open and acknowledged signals."""

    view: InboxView = InboxView.TEAM
    kind: GapKind | None = None
    severity: Severity | None = None
    state: SignalState | None = None
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    opportunity_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class SignalQuery(SignalFilters, PageRequest):
    """The inbox's query string: filters, page, and JSON or CSV."""

    format: OutputFormat = OutputFormat.JSON


class SignalRead(BaseModel):
    """A signal with what a person needs to act on it."""

    id: int
    kind: GapKind
    kind_label: str
    severity: Severity
    state: SignalState
    subject_key: str
    opportunity_id: int | None
    opportunity_name: str | None
    stage: str | None
    account_id: int | None
    account_name: str | None
    owner_id: int | None
    owner_name: str | None
    amount_at_risk: Decimal | None
    explanation: str = Field(description="One sentence written from the evidence, as of last_seen_at.")
    evidence: dict[str, Any] = Field(
        description="The facts behind the gap. Spans that grow with time (idle_days, days_past, "
        "hours_waiting) are counted from the stored moment (idle_since, close_date, "
        "first_inbound_at) to last_seen_at."
    )
    raised_at: dt.datetime
    last_seen_at: dt.datetime = Field(description="When a scan last found the gap.")
    resolved_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    acknowledge_reason: str | None
    snoozed_until: dt.datetime | None
    snooze_reason: str | None


class AcknowledgeRequest(BaseModel):
    """Why the owner (or their manager) accepts the gap for now."""

    reason: str = Field(max_length=MAX_REASON_LENGTH)


class SnoozeRequest(BaseModel):
    """Hide the signal from the inbox until a date, and why."""

    until: dt.date
    reason: str = Field(max_length=MAX_REASON_LENGTH)


class ThresholdRead(BaseModel):
    """A threshold of a rule with its current value and allowed range."""

    name: str
    label: str
    value: int
    default: int
    minimum: int
    maximum: int


class RuleRead(BaseModel):
    """A detector's playbook rule."""

    kind: GapKind
    title: str
    description: str
    enabled: bool
    severity: Severity
    thresholds: list[ThresholdRead]
    segment_minimums: dict[str, int] | None = None


class RuleUpdate(BaseModel):
    """A change to a rule; absent fields stay as they are, thresholds merge into the stored ones."""

    enabled: bool | None = None
    severity: str | None = Field(default=None, max_length=20)
    thresholds: dict[str, Any] | None = None


class ScanRequest(BaseModel):
    """Which detectors to run (all when empty)."""

    kinds: list[str] = Field(default_factory=list, max_length=len(GapKind))


class KindResultRead(BaseModel):
    """What one detector did."""

    kind: GapKind
    enabled: bool
    raised: int
    still_open: int
    resolved: int


class ScanRead(BaseModel):
    """What a scan did, per detector."""

    kinds: list[KindResultRead]
    raised: int
    still_open: int
    resolved: int
