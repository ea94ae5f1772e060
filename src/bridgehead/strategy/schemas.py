"""Pydantic models at the edges of the strategy domain: priorities, versions, back-briefs, trace.

Values that carry a business rule (the metric, the period, the target value for its metric) are
taken as they come and checked once, in the service, so the API, the pages and the CLI all give the
same error naming the field.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bridgehead.common.pagination import QueryModel
from bridgehead.common.types import MAX_ID
from bridgehead.crm.schemas import UserRef

_TEXT = 20_000


class PriorityStatement(BaseModel):
    """The fields that state a priority's intent; shared by creation and restatement."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    intent_what: str = Field(max_length=_TEXT, description="What the organisation will achieve")
    intent_why: str = Field(max_length=_TEXT, description="Why it matters: the purpose behind it")
    target_metric: str = Field(max_length=40, description="One of the target metrics, e.g. bookings_amount")
    target_scope: str = Field(default="", max_length=300, description="What the target is measured over")
    target_value: Decimal = Field(
        description="Money in whole currency units, percentages 0-100, counts or days"
    )
    target_period: str = Field(max_length=20, description="A year (2026) or a quarter (2026-Q4)")
    boundaries: str = Field(default="", max_length=_TEXT, description="What not to do while pursuing it")
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Accountable user (default: you)")
    status: str = Field(default="active", max_length=20)
    effective_from: dt.date | None = Field(
        default=None, description="When this statement applies (default today)"
    )
    change_note: str = Field(default="", max_length=2000)


class PriorityCreate(PriorityStatement):
    """A new top-level priority (usually at company level)."""

    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Default: the company")


class RestatementCreate(PriorityStatement):
    """A child priority: what the parent's intent means for a unit below the parent's unit."""

    org_unit_id: int = Field(ge=1, le=MAX_ID)


class PriorityUpdate(BaseModel):
    """A change to a priority; only the fields sent change. Every change makes a new version."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    intent_what: str | None = Field(default=None, max_length=_TEXT)
    intent_why: str | None = Field(default=None, max_length=_TEXT)
    target_metric: str | None = Field(default=None, max_length=40)
    target_scope: str | None = Field(default=None, max_length=300)
    target_value: Decimal | None = None
    target_period: str | None = Field(default=None, max_length=20)
    boundaries: str | None = Field(default=None, max_length=_TEXT)
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    status: str | None = Field(default=None, max_length=20)
    parent_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Move under another priority")
    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    effective_from: dt.date | None = None
    change_note: str = Field(default="", max_length=2000)


class PriorityFilters(QueryModel):
    """Filters of the priority list."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(default=None, max_length=20)
    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    parent_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    top_level: bool | None = Field(default=None, description="Only priorities without a parent")
    q: str | None = Field(default=None, max_length=100, description="Words in the title")


class UnitRef(BaseModel):
    """An org unit as other records mention it."""

    id: int
    name: str
    kind: str


class BackBriefCounts(BaseModel):
    """How many units below a priority's unit are in each back-brief state."""

    missing: int = 0
    draft: int = 0
    submitted: int = 0
    returned: int = 0
    accepted: int = 0

    @property
    def expected(self) -> int:
        """Units that should back-brief."""
        return self.missing + self.draft + self.submitted + self.returned + self.accepted


class PriorityRead(BaseModel):
    """A priority as lists and detail pages show it."""

    id: int
    parent_id: int | None
    org_unit: UnitRef
    owner: UserRef | None
    title: str
    intent_what: str
    intent_why: str
    target_metric: str
    target_scope: str
    target_value: Decimal
    target_period: str
    boundaries: str
    status: str
    version: int
    effective_from: dt.date
    created_at: dt.datetime
    updated_at: dt.datetime
    depth: int = 0
    back_briefs: BackBriefCounts = Field(default_factory=BackBriefCounts)


class FieldChange(BaseModel):
    """One field that differs between a version and the one before it."""

    field: str
    label: str
    before: Any
    after: Any


class PriorityVersionRead(BaseModel):
    """One version of a priority: the statement, when it applies, who changed what."""

    version: int
    effective_from: dt.date
    changed_by: UserRef | None
    changed_at: dt.datetime
    change_note: str
    statement: dict[str, Any]
    changes: list[FieldChange]


class BackBriefWrite(BaseModel):
    """A unit's back-brief text; writing a returned or accepted back-brief starts a new revision."""

    model_config = ConfigDict(extra="forbid")

    plan: str = Field(default="", max_length=_TEXT, description="How the unit will achieve the intent")
    implied_tasks: str = Field(default="", max_length=_TEXT)
    resources_needed: str = Field(default="", max_length=_TEXT)
    risks: str = Field(default="", max_length=_TEXT)
    needs_from_others: str = Field(default="", max_length=_TEXT)


class DecisionComment(BaseModel):
    """A comment on accepting (optional) or returning (required) a back-brief."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=_TEXT)


class BackBriefEventRead(BaseModel):
    """One step of a back-brief's history, with its text as it stood."""

    action: str
    actor: UserRef | None
    occurred_at: dt.datetime
    comment: str
    revision: int
    content: dict[str, Any]


class BackBriefRead(BaseModel):
    """A back-brief with its history, newest step last."""

    id: int
    priority_id: int
    org_unit: UnitRef
    author: UserRef | None
    status: str
    plan: str
    implied_tasks: str
    resources_needed: str
    risks: str
    needs_from_others: str
    revision: int
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    decided_by: UserRef | None
    updated_at: dt.datetime
    events: list[BackBriefEventRead] = Field(default_factory=list)


class BackBriefSlot(BaseModel):
    """A unit that should back-brief a priority, and where it stands ("missing" if nothing written)."""

    org_unit: UnitRef
    parent_unit_id: int | None
    depth: int
    status: str
    back_brief: BackBriefRead | None


class SegmentLink(BaseModel):
    """A segment on a trace: its stance, and how many visible accounts it holds."""

    id: int
    name: str
    stance: str
    accounts: int | None = None


class PipelineDefinitionRef(BaseModel):
    """A pipeline definition on a trace."""

    id: int
    name: str
    priority_id: int


class PriorityChain(BaseModel):
    """A priority and its ancestors, the company priority last; and what links the record to it."""

    priority: PriorityRead
    ancestors: list[PriorityRead]
    via_segments: list[SegmentLink]
    via_definitions: list[PipelineDefinitionRef]


class RecordTrace(BaseModel):
    """The trace of an account or opportunity up to the priorities it serves."""

    kind: str
    id: int
    name: str
    account_id: int | None
    segments: list[SegmentLink]
    definitions: list[PipelineDefinitionRef]
    serves: list[PriorityChain]
    deprioritised_by: list[PriorityChain]
    in_deprioritised_segment: bool
    serves_no_priority: bool
    summary: str


class ExecutionFigures(BaseModel):
    """What executes a priority in its target period, within the viewer's visibility."""

    period_start: dt.date
    period_end: dt.date
    scoped_to_unit: bool
    inherited_from_priority_id: int | None
    accounts: int
    open_count: int
    open_amount: Decimal
    won_count: int
    won_amount: Decimal
    lost_count: int
    win_rate: Decimal | None
    pipeline_created_amount: Decimal
    activities: int
    actual: Decimal | None
    actual_label: str
    # The drift: open pipeline this priority's deprioritised segments still carry.
    deprioritised_open_count: int = 0
    deprioritised_open_amount: Decimal = Decimal(0)


class PriorityTrace(BaseModel):
    """For a priority: its chain, what executes it, back-brief status per unit and its restatements."""

    kind: str = "priority"
    priority: PriorityRead
    ancestors: list[PriorityRead]
    restatements: list[PriorityRead]
    segments: list[SegmentLink]
    definitions: list[PipelineDefinitionRef]
    execution: ExecutionFigures
    back_briefs: list[BackBriefSlot]
    counts: BackBriefCounts
