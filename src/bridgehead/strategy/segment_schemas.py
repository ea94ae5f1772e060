"""Pydantic models at the edges of segments, ICP fit and pipeline definitions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import MAX_ID
from bridgehead.strategy.models import BusinessKind, SegmentStance


def _no_nul(text: str) -> str:
    # PostgreSQL cannot store NUL characters; refuse them at the edge instead of failing in the database.
    if "\x00" in text:
        raise ValueError("NUL characters are not allowed")
    return text


CleanText = Annotated[str, AfterValidator(_no_nul)]
ObjectRef = Annotated[int, Field(ge=1, le=MAX_ID)]


class SegmentCreate(BaseModel):
    """A new segment: the rule is checked by ``rules.check_rule`` in the service."""

    model_config = ConfigDict(extra="forbid")

    name: CleanText = Field(min_length=1, max_length=120)
    description: CleanText = Field(default="", max_length=5000)
    stance: SegmentStance
    rule: dict[str, Any]
    priority_ids: list[ObjectRef] = Field(default_factory=list, max_length=50)
    is_active: bool = True


class SegmentUpdate(BaseModel):
    """A change to a segment; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: CleanText | None = Field(default=None, min_length=1, max_length=120)
    description: CleanText | None = Field(default=None, max_length=5000)
    stance: SegmentStance | None = None
    rule: dict[str, Any] | None = None
    priority_ids: list[ObjectRef] | None = Field(default=None, max_length=50)
    is_active: bool | None = None


class SegmentRead(BaseModel):
    """A segment as the API returns it."""

    id: int
    name: str
    description: str
    stance: SegmentStance
    rule: dict[str, Any]
    rule_text: str
    priority_ids: list[int]
    is_active: bool
    member_count: int
    evaluated_at: dt.datetime | None


class RulePreviewRequest(BaseModel):
    """A rule to count without storing anything; ``segment_id`` leaves that segment out of the overlaps."""

    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any]
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class OverlapRead(BaseModel):
    """Accounts a rule shares with one stored segment."""

    segment_id: int
    segment_name: str
    stance: SegmentStance
    shared_accounts: int


class SampleAccount(BaseModel):
    """One matched account shown as an example."""

    id: int
    name: str
    industry: str | None
    employees: int | None
    country: str | None


class RulePreview(BaseModel):
    """What a rule matches now: accounts, open pipeline, won in the last 12 months, overlaps, a sample."""

    matched_accounts: int
    total_accounts: int
    open_count: int
    open_amount: Decimal
    won_count: int
    won_amount: Decimal
    won_since: dt.date
    overlaps: list[OverlapRead]
    sample: list[SampleAccount]
    rule_text: str


class MemberQuery(PageRequest):
    """Paging of a segment's members."""


class EvaluationResult(BaseModel):
    """Members per evaluated segment and how long it took."""

    member_counts: dict[int, int]
    seconds: float


class IcpCriterionCreate(BaseModel):
    """A new ICP criterion."""

    model_config = ConfigDict(extra="forbid")

    label: CleanText = Field(min_length=1, max_length=200)
    rule: dict[str, Any]
    weight: int = Field(ge=1, le=100)
    position: int | None = Field(default=None, ge=0, le=10_000)


class IcpCriterionUpdate(BaseModel):
    """A change to an ICP criterion."""

    model_config = ConfigDict(extra="forbid")

    label: CleanText | None = Field(default=None, min_length=1, max_length=200)
    rule: dict[str, Any] | None = None
    weight: int | None = Field(default=None, ge=1, le=100)
    position: int | None = Field(default=None, ge=0, le=10_000)


class IcpCriterionRead(BaseModel):
    """An ICP criterion with how many accounts meet it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
    rule: dict[str, Any]
    rule_text: str = ""
    weight: int
    position: int


class CriterionResult(BaseModel):
    """One criterion, met or missed, as a reason of a fit score."""

    id: int
    label: str
    weight: int
    met: bool


class AccountFitRead(BaseModel):
    """An account's ICP fit: 0-100 and the criteria met and missed."""

    account_id: int
    account_name: str
    score: int | None
    computed_at: dt.datetime | None
    reasons: list[CriterionResult]


class FitListItem(BaseModel):
    """One row of the top/bottom fit list."""

    account_id: int
    account_name: str
    industry: str | None
    employees: int | None
    score: int


class ScoreBucket(BaseModel):
    """How many accounts score within ``[low, high]``."""

    low: int
    high: int
    accounts: int


class PipelineDefinitionCreate(BaseModel):
    """A new pipeline definition for a priority."""

    model_config = ConfigDict(extra="forbid")

    priority_id: int = Field(ge=1, le=MAX_ID)
    name: CleanText = Field(min_length=1, max_length=120)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    products: list[CleanText] = Field(default_factory=list, max_length=200)
    opportunity_types: list[CleanText] = Field(default_factory=list, max_length=200)
    business_kind: BusinessKind = BusinessKind.ANY


class PipelineDefinitionUpdate(BaseModel):
    """A change to a pipeline definition; ``segment_id: null`` clears the segment."""

    model_config = ConfigDict(extra="forbid")

    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: CleanText | None = Field(default=None, min_length=1, max_length=120)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    products: list[CleanText] | None = Field(default=None, max_length=200)
    opportunity_types: list[CleanText] | None = Field(default=None, max_length=200)
    business_kind: BusinessKind | None = None


class PipelineDefinitionRead(BaseModel):
    """A pipeline definition with what it matches now."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    priority_id: int
    name: str
    segment_id: int | None
    products: list[str]
    opportunity_types: list[str]
    business_kind: BusinessKind


class PipelinePreview(BaseModel):
    """Opportunities a pipeline definition counts: open ones and their amount, all of them."""

    open_count: int
    open_amount: Decimal
    total_count: int
