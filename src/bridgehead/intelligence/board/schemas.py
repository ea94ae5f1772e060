"""The three-gap board at the edges: query strings, the board, a drill-down, and the plan figures."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from bridgehead.common.types import MAX_ID
from bridgehead.intelligence.schemas import OutputFormat


class GapName(enum.StrEnum):
    """The three gaps of DESIGN.md section 3."""

    ALIGNMENT = "alignment"
    EFFECTS = "effects"
    KNOWLEDGE = "knowledge"


GAP_TITLES = {
    GapName.ALIGNMENT: "Alignment gap",
    GapName.EFFECTS: "Effects gap",
    GapName.KNOWLEDGE: "Knowledge gap",
}
GAP_SUBTITLES = {
    GapName.ALIGNMENT: "plan vs actions",
    GapName.EFFECTS: "actions vs outcomes",
    GapName.KNOWLEDGE: "what we would like to know vs what we know",
}


class BoardQuery(BaseModel):
    """``?period=&org_unit_id=&format=&refresh=`` of the board."""

    model_config = ConfigDict(extra="ignore")

    period: str | None = Field(default=None, max_length=20)
    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    format: OutputFormat = OutputFormat.JSON
    # Read the figures afresh (and keep them as the snapshot) instead of answering from a snapshot.
    refresh: bool = False


class GapPoint(BaseModel):
    """A gap's value in one period of its trend."""

    period: str
    value: float | None


class GapCell(BaseModel):
    """One gap of one priority at one unit: the number (0-100, higher is worse), its trend, a summary."""

    gap: GapName
    value: float | None
    severity: str
    trend: list[GapPoint]
    summary: str


class PriorityRow(BaseModel):
    """A priority's three gaps at the chosen unit, measured with the plan that holds there."""

    priority_id: int
    title: str
    plan_priority_id: int
    plan_title: str
    planned_share: float
    planned_share_source: str
    cells: list[GapCell]
    quotas_against: int = Field(
        default=0,
        description="Quotas of the unit inside the period carried in a segment this priority deprioritises",
    )
    quotas_against_amount: Decimal = Field(default=Decimal("0.00"), description="Their amount after ramp")


class UnitOption(BaseModel):
    """An org unit the viewer may pick, with its depth in the tree."""

    id: int
    name: str
    kind: str
    depth: int


class Board(BaseModel):
    """Every active priority x the three gaps, at one org unit, for a period and the periods before it."""

    period: str
    periods: list[str]
    org_unit_id: int
    org_unit_name: str
    units: list[UnitOption]
    rows: list[PriorityRow]
    definitions: dict[str, str]
    # The moment the figures describe; from a snapshot when ``from_snapshot`` (see README, Three-gap
    # board), and ``changed_since`` when recorded data changed after it.
    as_of: dt.datetime
    from_snapshot: bool = False
    changed_since: bool = False


class MemberRow(BaseModel):
    """A unit or rep below the chosen unit: its own gap, its weight, and its part of the unit's gap."""

    kind: str
    id: int
    name: str
    value: float | None
    weight: float
    contribution: float | None
    open_signals: int


class GapPart(BaseModel):
    """One ingredient of a gap number, for the reader to check the arithmetic."""

    label: str
    value: str


class DealCause(BaseModel):
    """A deal behind the gap and why it counts."""

    id: int
    name: str
    account: str | None
    owner: str | None
    stage: str
    amount: Decimal | None
    close_date: dt.date | None
    reasons: list[str]
    url: str


class InboxLink(BaseModel):
    """The gap inbox filtered to this priority, unit and one signal kind."""

    kind: str
    url: str
    open_signals: int


class GapDrill(BaseModel):
    """A gap of a priority at a unit: the number, what it is made of, who and which deals cause it."""

    period: str
    priority_id: int
    title: str
    gap: GapName
    org_unit_id: int
    org_unit_name: str
    value: float | None
    severity: str
    definition: str
    parts: list[GapPart]
    trend: list[GapPoint]
    members: list[MemberRow]
    deals: list[DealCause]
    inbox: list[InboxLink]
    plan: PlanRead
    # The moment the figures describe; from a snapshot when ``from_snapshot`` (see README, Three-gap
    # board), and ``changed_since`` when recorded data changed after it.
    as_of: dt.datetime
    from_snapshot: bool = False
    changed_since: bool = False


class GapTrend(BaseModel):
    """One gap of a priority at a unit over the chosen period and the three before it."""

    priority_id: int
    title: str
    gap: GapName
    org_unit_id: int
    org_unit_name: str
    period: str
    points: list[GapPoint]
    as_of: dt.datetime


class PlanRead(BaseModel):
    """The plan figures the board uses for a priority, and where each comes from."""

    priority_id: int
    planned_share_percent: Decimal
    planned_share_source: str
    assumed_win_rate_percent: Decimal | None
    assumed_cycle_days: int | None


class PlanWrite(BaseModel):
    """Plan figures to store for a priority; empty means default (share) or prior-window baseline."""

    model_config = ConfigDict(extra="forbid")

    planned_share_percent: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2)
    assumed_win_rate_percent: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2)
    assumed_cycle_days: int | None = Field(default=None, ge=1, le=3650)


GapDrill.model_rebuild()
