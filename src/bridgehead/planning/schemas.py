"""Pydantic models at the edges of planning: quotas as clients send and read them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bridgehead.common.inputs import StrictInput
from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import MAX_AMOUNT, MAX_ID
from bridgehead.planning.models import QuotaBasis


def _check_amount(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    if value < 0:
        raise ValueError("must not be negative")
    if value > MAX_AMOUNT:
        raise ValueError(f"too large (the limit is {MAX_AMOUNT:,})")
    cents = value.quantize(Decimal("0.01"))
    if value != cents:
        raise ValueError("has more than two decimal places")
    # One written form per amount (250000 and 250000.00 are the same quota), so an unchanged row compares equal.
    return cents


class QuotaCreate(StrictInput):
    """A quota for one person, period and basis; setting it again for the same ones updates it."""

    owner_id: int = Field(ge=1, le=MAX_ID)
    period: str = Field(min_length=4, max_length=8, description="2026, 2026-Q1 or 2026-03")
    basis: QuotaBasis = QuotaBasis.BOOKINGS
    quota_amount: Decimal = Field(description="The full quota, before ramp (USD)")
    ramp_percent: int = Field(default=100, ge=0, le=100, description="Share of the full quota that counts")
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    note: str = Field(default="", max_length=2_000)
    external_id: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("quota_amount")
    @classmethod
    def _amount(cls, value: Decimal) -> Decimal:
        checked = _check_amount(value)
        assert checked is not None
        return checked


class QuotaUpdate(StrictInput):
    """A partial change (PATCH): only the fields sent change; null clears the segment.

    The owner, basis and period make the quota what it is: change them by deleting it and setting
    a new one.
    """

    quota_amount: Decimal | None = None
    ramp_percent: int | None = Field(default=None, ge=0, le=100)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    note: str | None = Field(default=None, max_length=2_000)

    @field_validator("quota_amount")
    @classmethod
    def _amount(cls, value: Decimal | None) -> Decimal | None:
        return _check_amount(value)


class QuotaQuery(PageRequest):
    """Filters of the quota list: quotas whose period lies inside ``period``, of whom, on which basis."""

    period: str | None = Field(default=None, max_length=8)
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    org_unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    basis: QuotaBasis | None = None


class QuotaRead(BaseModel):
    """A quota with what it takes to read it: whose, the quota that counts after ramp, and how far it is met."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    owner_name: str
    owner_email: str
    org_unit_name: str | None
    basis: QuotaBasis
    period: str
    period_start_date: dt.date
    period_end_date: dt.date
    quota_amount: Decimal
    ramp_percent: int
    effective_amount: Decimal
    segment_id: int | None
    segment_name: str | None
    segment_stance: str | None = Field(
        description="invest, maintain or deprioritise: a quota in a deprioritised segment contradicts the strategy"
    )
    note: str
    external_id: str | None
    attained_amount: Decimal
    attainment: float | None = Field(description="attained ÷ effective quota; null when the quota is 0")
    updated_at: dt.datetime


class AttainmentSummary(BaseModel):
    """The quotas of a list added up: how much is asked, how much is met."""

    quotas: int
    people: int
    effective_amount: Decimal
    attained_amount: Decimal
    attainment: float | None


class QuotaSheetResult(BaseModel):
    """What a quota sheet did (or, in a dry run, would do)."""

    rows: int
    created: int
    updated: int
    unchanged: int
    dry_run: bool
