"""Pydantic models at the edges of intelligence: metric queries in, metric tables out."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from bridgehead.common.pagination import QueryModel
from bridgehead.common.types import MAX_AMOUNT, MAX_ID
from bridgehead.intelligence.metrics.periods import MAX_TREND_PERIODS, Grain
from bridgehead.intelligence.slices import Dimension


class OutputFormat(enum.StrEnum):
    """How an endpoint answers: JSON, or the same table as CSV."""

    JSON = "json"
    CSV = "csv"


class TrendMetric(enum.StrEnum):
    """Metrics that can be followed over periods."""

    WIN_RATE = "win_rate"
    WON_AMOUNT = "won_amount"
    AVERAGE_DEAL_SIZE = "average_deal_size"
    MEDIAN_CYCLE_DAYS = "median_cycle_days"
    PIPELINE_CREATED = "pipeline_created"
    ACTIVITIES = "activities"
    QUOTA_ATTAINMENT = "quota_attainment"


def _clean(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError(f"{field} must not contain NUL characters")
    cleaned = value.strip()
    return cleaned or None


class MetricQuery(QueryModel):
    """Filters every metric endpoint and page accepts (empty values mean unset)."""

    period: str | None = Field(
        default=None, max_length=10, description="2026, 2026-Q1 or 2026-03; default this quarter"
    )
    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    rep_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    product: str | None = Field(default=None, max_length=120)
    priority_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    target: Decimal | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, max_digits=16, decimal_places=2, description="target for coverage"
    )
    format: OutputFormat = OutputFormat.JSON

    @field_validator("product", "period")
    @classmethod
    def _no_nul(cls, value: str | None, info: Any) -> str | None:
        return _clean(value, info.field_name)


class SlicedQuery(MetricQuery):
    """A metric query grouped by a dimension."""

    by: Dimension = Dimension.ALL


class TrendQuery(MetricQuery):
    """A metric over consecutive periods ending with ``period``."""

    metric: TrendMetric = TrendMetric.WIN_RATE
    grain: Grain = Grain.QUARTER
    periods: int = Field(default=8, ge=1, le=MAX_TREND_PERIODS)
    by: Dimension = Dimension.ALL


class WaterfallQuery(MetricQuery):
    """Two dates to compare (default: the last seven days) and an optional close-date window."""

    from_date: dt.date | None = Field(default=None, alias="from")
    to_date: dt.date | None = Field(default=None, alias="to")
    close_period: str | None = Field(default=None, max_length=10)

    model_config = {"populate_by_name": True}

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("'from' must not be after 'to'")
        return self


class MetricValue(BaseModel):
    """One headline metric: its value with unit, or why it cannot be computed yet."""

    key: str
    label: str
    value: Decimal | float | int | None
    unit: str
    available: bool = True
    note: str = ""


class Headline(BaseModel):
    """The headline table for a period and filters."""

    period: str
    period_start: dt.date
    period_end: dt.date
    metrics: list[MetricValue]
    activities_by_kind: dict[str, int]


class SliceRow(BaseModel):
    """The main metrics of one group of a slice."""

    key: str | None
    label: str
    won: int
    lost: int
    closed: int
    win_rate: float | None
    won_amount: Decimal
    average_deal_size: Decimal | None
    median_cycle_won_days: float | None
    median_cycle_lost_days: float | None
    pipeline_created_count: int
    pipeline_created_amount: Decimal
    open_count: int
    open_amount: Decimal
    weighted_forecast: Decimal
    activities: int
    quota_amount: Decimal | None = Field(
        default=None, description="Bookings quotas (after ramp) inside the period of the group's people"
    )
    quota_attainment: float | None = Field(default=None, description="Won amount of those quotas ÷ quota")


class SlicedMetrics(BaseModel):
    """A metric table grouped by one dimension."""

    period: str
    by: Dimension
    rows: list[SliceRow]


class CycleRow(BaseModel):
    """Sales cycle of one group: median days for won and lost deals."""

    key: str | None
    label: str
    won: int
    lost: int
    median_won_days: float | None
    median_lost_days: float | None
    median_all_days: float | None


class CycleMetrics(BaseModel):
    """Sales cycle per group (close date - created date, whole days)."""

    period: str
    by: Dimension
    rows: list[CycleRow]


class TrendPoint(BaseModel):
    """A metric's value in one period (and group)."""

    period: str
    key: str | None
    label: str
    value: Decimal | float | int | None


class Trend(BaseModel):
    """A metric over consecutive periods."""

    metric: TrendMetric
    unit: str
    grain: Grain
    by: Dimension
    periods: list[str]
    points: list[TrendPoint]


class FunnelStepRead(BaseModel):
    """Deals that reached a stage and the share that reached the next."""

    stage: str
    reached: int
    conversion_to_next: float | None


class Funnel(BaseModel):
    """Stage conversion of the deals created in a period, from stage history."""

    period: str
    deals_with_history: int
    steps: list[FunnelStepRead]
    note: str = ""


class BreakdownRow(BaseModel):
    """Closed deals grouped by a reason, competitor or segment."""

    label: str
    won: int
    lost: int
    win_rate: float | None
    won_amount: Decimal
    lost_amount: Decimal


class WinLoss(BaseModel):
    """Win/loss analysis: losses by reason, by competitor, by segment; no decision apart from competitive losses."""

    period: str
    won: int
    lost: int
    win_rate: float | None
    lost_competitive: int
    lost_no_decision: int
    lost_other: int
    by_reason: list[BreakdownRow]
    by_competitor: list[BreakdownRow]
    by_segment: list[BreakdownRow]


class WaterfallBarRead(BaseModel):
    """One bar of the waterfall."""

    label: str
    amount: Decimal
    start: Decimal
    end: Decimal
    deals: int


class Waterfall(BaseModel):
    """How the open pipeline moved between two dates."""

    from_date: dt.date
    to_date: dt.date
    close_period: str | None
    bars: list[WaterfallBarRead]
    advanced: int
    regressed: int
    close_date_later: int
    close_date_earlier: int
    note: str = ""


class FilterOption(BaseModel):
    """A choice in a filter drop-down."""

    id: int | str
    label: str


class FilterOptions(BaseModel):
    """What the metric filters can be set to, within what the viewer sees."""

    org_units: list[FilterOption]
    reps: list[FilterOption]
    segments: list[FilterOption]
    products: list[FilterOption]
    priorities: list[FilterOption]


class ChartQuery(MetricQuery):
    """Everything a chart may be asked for: the metric filters plus slice, trend and waterfall options."""

    by: Dimension = Dimension.OFFICE
    metric: TrendMetric = TrendMetric.WIN_RATE
    grain: Grain = Grain.QUARTER
    periods: int = Field(default=8, ge=1, le=MAX_TREND_PERIODS)
    from_date: dt.date | None = Field(default=None, alias="from")
    to_date: dt.date | None = Field(default=None, alias="to")
    close_period: str | None = Field(default=None, max_length=10)

    model_config = {"populate_by_name": True}
