"""Pydantic models at the edges of the governance domain: what clients send, what they read back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from bridgehead.common.inputs import StrictInput
from bridgehead.common.pagination import PageRequest, QueryModel
from bridgehead.common.types import MAX_ID
from bridgehead.governance.models import (
    ApprovalDecision,
    ApprovalGate,
    InitiativeStage,
    ValueKind,
)


class InitiativeCreate(StrictInput):
    """A new initiative; it starts Identified. Only the title, owner and sponsor are needed yet."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    owner_id: int = Field(ge=1, le=MAX_ID)
    sponsor_id: int = Field(ge=1, le=MAX_ID)
    controller_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    value_kind: ValueKind | None = None
    expected_value_amount: Decimal | None = None
    cost_amount: Decimal | None = None
    business_case: str = Field(default="", max_length=20_000)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    next_gate_due_date: dt.date | None = None


class InitiativeUpdate(StrictInput):
    """A partial change (PATCH): only the fields sent are changed; null clears an optional field."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    sponsor_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    controller_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    value_kind: ValueKind | None = None
    expected_value_amount: Decimal | None = None
    cost_amount: Decimal | None = None
    business_case: str | None = Field(default=None, max_length=20_000)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    next_gate_due_date: dt.date | None = None


class MilestoneCreate(StrictInput):
    """A dated step of the plan; its dates must lie inside the initiative's window."""

    title: str = Field(min_length=1, max_length=200)
    start_date: dt.date | None = None
    due_date: dt.date


class KpiCreate(StrictInput):
    """A KPI of the business case with its baseline and target (numbers)."""

    name: str = Field(min_length=1, max_length=120)
    unit: str = Field(default="", max_length=30)
    baseline_value: Decimal
    target_value: Decimal
    current_value: Decimal | None = None


class KpiReading(StrictInput):
    """A KPI's latest reading (null clears it)."""

    current_value: Decimal | None


class TransitionRequest(StrictInput):
    """Move the initiative to the stage ``to``: the next gate, or cancelled (then give a reason)."""

    to: str = Field(min_length=1, max_length=30)
    reason: str = Field(default="", max_length=5_000)


class CancelRequest(StrictInput):
    """Cancel the initiative; the reason is required."""

    reason: str = Field(min_length=1, max_length=5_000)


class ApprovalRequest(StrictInput):
    """An approval or rejection; a rejection needs a comment."""

    comment: str = Field(default="", max_length=5_000)


class ValueConfirmationCreate(StrictInput):
    """The controller's confirmation of realised value, with the evidence behind it."""

    realised_value_amount: Decimal
    evidence: str = Field(min_length=1, max_length=20_000)
    close: bool = Field(default=False, description="Also pass the Closed gate in the same request.")


class InitiativeQuery(QueryModel):
    """Filters of the initiative list."""

    stage: InitiativeStage | None = None
    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)

    def page_request(self) -> PageRequest:
        """The page asked for."""
        return PageRequest(page=self.page, page_size=self.page_size)


class BoardQuery(QueryModel):
    """Which board: one priority's, or all initiatives; and the window for "motion without progress"."""

    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    days: int = Field(default=30, ge=1, le=365)


class UserRef(BaseModel):
    """A user as initiatives show them."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    full_name: str
    role: str


class InitiativeRead(BaseModel):
    """An initiative's fields."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    priority_id: int | None
    segment_id: int | None
    owner_id: int
    sponsor_id: int
    controller_id: int | None
    stage: InitiativeStage
    value_kind: ValueKind | None
    expected_value_amount: Decimal | None
    cost_amount: Decimal | None
    business_case: str
    start_date: dt.date | None
    end_date: dt.date | None
    next_gate_due_date: dt.date | None
    cancellation_reason: str | None
    cancelled_from_stage: InitiativeStage | None
    stage_changed_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime


class MilestoneRead(BaseModel):
    """A milestone and whether it is done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    initiative_id: int
    title: str
    start_date: dt.date | None
    due_date: dt.date
    done_at: dt.datetime | None
    done_by_id: int | None


class KpiRead(BaseModel):
    """A KPI with baseline, target and latest reading."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    initiative_id: int
    name: str
    unit: str
    baseline_value: Decimal
    target_value: Decimal
    current_value: Decimal | None


class ApprovalRead(BaseModel):
    """An approval or rejection by role."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    initiative_id: int
    gate: ApprovalGate
    decision: ApprovalDecision
    approver_id: int
    approver_role: str
    as_sponsor: bool
    comment: str
    decided_at: dt.datetime


class GateTransitionRead(BaseModel):
    """One step of the gate history."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    from_stage: InitiativeStage | None
    to_stage: InitiativeStage
    actor_id: int | None
    occurred_at: dt.datetime
    note: str


class ValueConfirmationRead(BaseModel):
    """The controller's confirmation: realised value, evidence, and what the data showed."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    initiative_id: int
    controller_id: int
    realised_value_amount: Decimal
    measured_value_amount: Decimal | None
    evidence: str
    confirmed_at: dt.datetime


class WindowFigures(BaseModel):
    """Bookings, win rate and median cycle of the target deals in one window."""

    start_date: dt.date
    end_date: dt.date
    bookings_amount: Decimal
    won_count: int
    lost_count: int
    win_rate: float | None
    median_cycle_days: float | None


class MeasuredValue(BaseModel):
    """Value measured from Bridgehead's own deals: the value window against the baseline before it."""

    measurable: bool
    reason: str
    target: str
    value_window: WindowFigures | None = None
    baseline_window: WindowFigures | None = None
    bookings_uplift_amount: Decimal | None = None


class GateCheck(BaseModel):
    """What the next gate needs and what is still missing."""

    stage: InitiativeStage
    next_stage: InitiativeStage | None
    missing: list[str]


class InitiativeDetail(InitiativeRead):
    """An initiative with everything its page shows."""

    milestones: list[MilestoneRead]
    kpis: list[KpiRead]
    approvals: list[ApprovalRead]
    gate_history: list[GateTransitionRead]
    confirmations: list[ValueConfirmationRead]
    next_gate: GateCheck


class BoardCard(BaseModel):
    """An initiative as one card of the board."""

    id: int
    title: str
    stage: InitiativeStage
    priority_id: int | None
    owner_name: str
    expected_value_amount: Decimal | None
    overdue: bool
    motion_without_progress: bool


class FunnelStep(BaseModel):
    """One step of the value funnel: how much value has reached this degree of implementation."""

    label: str
    amount: Decimal
    count: int


class OverdueItem(BaseModel):
    """An initiative with a gate or milestone date passed."""

    id: int
    title: str
    stage: InitiativeStage
    what: str
    due_date: dt.date
    days_overdue: int


class MotionItem(BaseModel):
    """An initiative busy in the window but with no milestone done and no gate passed."""

    id: int
    title: str
    stage: InitiativeStage
    events: int
    last_event_at: dt.datetime


class Board(BaseModel):
    """The portfolio board: cards by stage, the value funnel, overdue gates, motion without progress."""

    priority_id: int | None
    as_of: dt.date
    days: int
    columns: dict[str, list[BoardCard]]
    funnel: list[FunnelStep]
    overdue: list[OverdueItem]
    motion: list[MotionItem]
