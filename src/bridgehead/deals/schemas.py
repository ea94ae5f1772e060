"""Pydantic models at the edges of the deals domain: what the API accepts and returns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bridgehead.common.types import MAX_ID
from bridgehead.crm.schemas import ActivityRead, OpportunityRead, StageChange, UserRef

MAX_EVIDENCE_LENGTH = 10_000
MAX_TEXT_LENGTH = 2_000


class Missing(BaseModel):
    """One unmet requirement of a stage: what kind, which one, and a sentence for a person."""

    kind: str
    stage: str
    key: str
    message: str


# --- sales processes ---------------------------------------------------------------------------


class StageRead(BaseModel):
    """A stage of a sales process with its requirements."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    name: str
    buyer_milestone: str
    exit_criteria: list[str]
    required_fields: list[str]
    required_dimensions: list[str]
    minimum_status: str
    min_engaged_stakeholders: int
    requires_economic_buyer: bool
    probability: int
    is_closed: bool
    is_won: bool
    crm_stage_names: list[str]


class StageUpdate(BaseModel):
    """A change to a stage's configuration; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    buyer_milestone: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    exit_criteria: list[str] | None = Field(default=None, max_length=30)
    required_fields: list[str] | None = Field(default=None, max_length=10)
    required_dimensions: list[str] | None = Field(default=None, max_length=20)
    minimum_status: str | None = Field(default=None, max_length=20)
    min_engaged_stakeholders: int | None = Field(default=None, ge=0, le=50)
    requires_economic_buyer: bool | None = None
    probability: int | None = Field(default=None, ge=0, le=100)
    crm_stage_names: list[str] | None = Field(default=None, max_length=50)


class DimensionRead(BaseModel):
    """A qualification dimension."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    guidance: str


class ProcessRead(BaseModel):
    """A sales process with its framework and stages in order."""

    id: int
    key: str
    name: str
    framework_key: str
    framework_name: str
    opportunity_types: list[str]
    is_default: bool
    dimensions: list[DimensionRead]
    stages: list[StageRead]


class ProcessUpdate(BaseModel):
    """Change a process's framework or the opportunity types it governs."""

    model_config = ConfigDict(extra="forbid")

    framework_key: str | None = Field(default=None, max_length=40)
    opportunity_types: list[str] | None = Field(default=None, max_length=20)


# --- stage moves -------------------------------------------------------------------------------


class StageMove(BaseModel):
    """Move a deal to a stage; a manager may give a reason to override unmet requirements."""

    model_config = ConfigDict(extra="forbid")

    stage: str = Field(min_length=1, max_length=80)
    override_reason: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)


class StageMoveResult(BaseModel):
    """Where the deal is now, and what was overridden to get there."""

    stage: str
    probability: int | None
    overridden: list[Missing]


class ExitCriterionTick(BaseModel):
    """Tick or untick one exit criterion of a stage."""

    model_config = ConfigDict(extra="forbid")

    stage: str = Field(min_length=1, max_length=80)
    index: int = Field(ge=0, le=100)
    checked: bool = True


# --- qualification -----------------------------------------------------------------------------


class QualificationUpdate(BaseModel):
    """A dimension's status and evidence."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(max_length=20)
    evidence: str = ""


class QualificationItem(BaseModel):
    """A deal's standing on one dimension."""

    key: str
    name: str
    guidance: str
    status: str
    evidence: str
    updated_by: UserRef | None
    updated_at: dt.datetime | None
    required_now: bool
    required_next: bool


class QualificationRead(BaseModel):
    """A deal's qualification: every dimension, a completeness score and what the stages still need."""

    framework_key: str
    framework_name: str
    completeness: int
    items: list[QualificationItem]
    missing_now: list[Missing]
    missing_next: list[Missing]


# --- stakeholders ------------------------------------------------------------------------------


class StakeholderCreate(BaseModel):
    """Put a contact of the deal's account on its map."""

    model_config = ConfigDict(extra="forbid")

    contact_id: int = Field(ge=1, le=MAX_ID)
    role: str = Field(max_length=40)
    stance: str = Field(default="neutral", max_length=20)
    influence: str = Field(default="medium", max_length=20)
    reports_to_contact_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    plan: str = Field(default="", max_length=MAX_TEXT_LENGTH)


class StakeholderUpdate(BaseModel):
    """Change a stakeholder's role, stance, influence, reports-to line or plan."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(default=None, max_length=40)
    stance: str | None = Field(default=None, max_length=20)
    influence: str | None = Field(default=None, max_length=20)
    reports_to_contact_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    plan: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)


class StakeholderRead(BaseModel):
    """A stakeholder with the contact's facts and when we last engaged them."""

    id: int
    contact_id: int
    name: str
    title: str | None
    role: str
    stance: str
    influence: str
    reports_to_contact_id: int | None
    plan: str
    source: str
    last_engaged_at: dt.datetime | None
    engaged: bool


class Coverage(BaseModel):
    """How well the buying committee is covered."""

    stakeholders: int
    engaged: int
    economic_buyer_on_map: bool
    economic_buyer_engaged: bool
    blockers_without_plan: int
    single_threaded: bool


class OrgChartNode(BaseModel):
    """A box of the org chart, placed by the server."""

    stakeholder_id: int
    name: str
    title: str
    role: str
    stance: str
    engaged: bool
    x: int
    y: int


class OrgChartEdge(BaseModel):
    """A reports-to line between two boxes (from the manager's bottom to the report's top)."""

    x1: int
    y1: int
    x2: int
    y2: int


class OrgChart(BaseModel):
    """The stakeholder org chart, laid out: boxes, lines and the drawing's size."""

    width: int
    height: int
    box_width: int
    box_height: int
    nodes: list[OrgChartNode]
    edges: list[OrgChartEdge]


class StakeholderMap(BaseModel):
    """The buying committee of a deal."""

    stakeholders: list[StakeholderRead]
    coverage: Coverage
    chart: OrgChart


# --- action plans ------------------------------------------------------------------------------


class StepCreate(BaseModel):
    """A step of the mutual action plan."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    due_date: dt.date
    buyer_owner: str = Field(default="", max_length=200)
    seller_owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    milestone: str = Field(default="", max_length=200)


class StepUpdate(BaseModel):
    """Complete or reopen a step, or change its date or owners."""

    model_config = ConfigDict(extra="forbid")

    completed: bool | None = None
    due_date: dt.date | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)
    buyer_owner: str | None = Field(default=None, max_length=200)
    milestone: str | None = Field(default=None, max_length=200)


class StepRead(BaseModel):
    """A step as the deal room and the buyer see it."""

    id: int
    title: str
    buyer_owner: str
    seller_owner: UserRef | None
    due_date: dt.date
    milestone: str
    completed_at: dt.datetime | None
    overdue: bool


class ActionPlanRead(BaseModel):
    """The mutual action plan with its steps by due date."""

    id: int | None
    title: str
    created_at: dt.datetime | None
    steps: list[StepRead]
    overdue: int
    completed: int


class ShareLink(BaseModel):
    """A signed, expiring read-only link for the buyer."""

    path: str
    token: str
    expires_at: dt.datetime


class ShareRequest(BaseModel):
    """How long the buyer's link stays valid."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(default=14, ge=1, le=90)


# --- account plans and handoffs ----------------------------------------------------------------


class PlanItemCreate(BaseModel):
    """An objective, SWOT item or relationship goal; optionally a task or a link to a priority."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=30)
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    task_owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    task_due_date: dt.date | None = None


class PlanItemRead(BaseModel):
    """A line of the account plan."""

    id: int
    kind: str
    text: str
    priority_id: int | None
    priority_title: str | None
    task_owner: UserRef | None
    task_due_date: dt.date | None
    done: bool


class WhiteSpaceUpdate(BaseModel):
    """Set one product x business-unit cell."""

    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1, max_length=120)
    business_unit: str = Field(min_length=1, max_length=120)
    status: str = Field(max_length=20)


class AccountPlanUpdate(BaseModel):
    """The plan's summary and the business units its white space lists."""

    model_config = ConfigDict(extra="forbid")

    summary: str | None = Field(default=None, max_length=MAX_EVIDENCE_LENGTH)
    business_units: list[str] | None = Field(default=None, max_length=30)


class AccountPlanRead(BaseModel):
    """An account's plan: summary, items by kind, white space grid and its history."""

    account_id: int
    account_name: str
    summary: str
    business_units: list[str]
    products: list[str]
    items: list[PlanItemRead]
    white_space: dict[str, dict[str, str]]
    history: list[dict[str, Any]]
    can_edit: bool


class HandoffCreate(BaseModel):
    """Hand a won deal to customer success."""

    model_config = ConfigDict(extra="forbid")

    opportunity_id: int = Field(ge=1, le=MAX_ID)
    recipient_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    commitments: list[str] = Field(default_factory=list, max_length=50)
    notes: str = Field(default="", max_length=MAX_EVIDENCE_LENGTH)


class HandoffRead(BaseModel):
    """A handoff and its state."""

    id: int
    opportunity_id: int
    opportunity_name: str
    amount: Decimal | None
    recipient: UserRef | None
    created_by: UserRef | None
    commitments: list[str]
    notes: str
    status: str
    accepted_by: UserRef | None
    accepted_at: dt.datetime | None
    created_at: dt.datetime


# --- the deal room -----------------------------------------------------------------------------


class PlaybookNext(BaseModel):
    """What the playbook expects next: unmet requirements now and for the next stage, overdue steps."""

    current_stage: StageRead | None
    next_stage: StageRead | None
    missing_now: list[Missing]
    missing_next: list[Missing]
    overdue_steps: list[StepRead]
    flags: list[Missing]


class OverrideRead(BaseModel):
    """A recorded override."""

    from_stage: str
    to_stage: str
    reason: str
    actor: UserRef | None
    created_at: dt.datetime
    missing: list[Missing]


class ExitChecklistItem(BaseModel):
    """One exit criterion of a stage and whether the deal has it ticked."""

    stage: str
    index: int
    text: str
    checked: bool


class DealRoom(BaseModel):
    """Everything about one deal in one read."""

    opportunity: OpportunityRead
    process_key: str
    process_name: str
    stages: list[StageRead]
    current_position: int | None
    playbook: PlaybookNext
    exit_checklist: list[ExitChecklistItem]
    qualification: QualificationRead
    stakeholders: StakeholderMap
    action_plan: ActionPlanRead
    history: list[StageChange]
    activities: list[ActivityRead]
    activity_count: int
    overrides: list[OverrideRead]
    handoff: HandoffRead | None
    account_plan_exists: bool
    can_edit: bool
    can_override: bool
