"""Pydantic models at the edges of the CRM domain: filters in, read models out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bridgehead.common.pagination import PageRequest, QueryModel
from bridgehead.common.types import MAX_AMOUNT, MAX_ID, Period


class OpportunityStatus(StrEnum):
    """Coarse state of a deal, for filtering."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


class OpportunitySort(StrEnum):
    """Columns an opportunity list can be sorted by; prefix ``-`` for descending."""

    NAME = "name"
    NAME_DESC = "-name"
    AMOUNT = "amount"
    AMOUNT_DESC = "-amount"
    CLOSE_DATE = "close_date"
    CLOSE_DATE_DESC = "-close_date"
    STAGE = "stage"
    STAGE_DESC = "-stage"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    PROBABILITY = "probability"
    PROBABILITY_DESC = "-probability"


class AccountSort(StrEnum):
    """Columns an account list can be sorted by; prefix ``-`` for descending."""

    NAME = "name"
    NAME_DESC = "-name"
    INDUSTRY = "industry"
    INDUSTRY_DESC = "-industry"
    EMPLOYEES = "employees"
    EMPLOYEES_DESC = "-employees"
    ANNUAL_REVENUE = "annual_revenue"
    ANNUAL_REVENUE_DESC = "-annual_revenue"
    COUNTRY = "country"
    COUNTRY_DESC = "-country"


def _clean_text(value: str | None) -> str | None:
    """A trimmed text filter, None when blank; NUL characters are refused (PostgreSQL cannot hold them)."""
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip() or None


class OpportunityFilters(QueryModel):
    """Filters of the opportunity list, shared by the API and the page."""

    model_config = ConfigDict(extra="forbid")

    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    stage: str | None = Field(default=None, max_length=80)
    status: OpportunityStatus | None = None
    close_quarter: str | None = Field(default=None, description="A calendar quarter such as 2026-Q1")
    amount_min: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    amount_max: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    q: str | None = Field(default=None, max_length=100, description="Words in the deal name")
    sort: OpportunitySort = OpportunitySort.CLOSE_DATE_DESC

    @field_validator("close_quarter")
    @classmethod
    def _check_quarter(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return Period.parse_quarter(value).label

    @field_validator("stage", "q")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return _clean_text(value)

    @model_validator(mode="after")
    def _check_amount_range(self) -> Self:
        if self.amount_min is not None and self.amount_max is not None and self.amount_min > self.amount_max:
            raise ValueError("amount_min must not exceed amount_max")
        return self

    @property
    def period(self) -> Period | None:
        """The close quarter as a date range."""
        return Period.parse_quarter(self.close_quarter) if self.close_quarter else None


class AccountFilters(QueryModel):
    """Filters of the account list, shared by the API and the page."""

    model_config = ConfigDict(extra="forbid")

    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    industry: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    q: str | None = Field(default=None, max_length=100, description="Words in the account name")
    sort: AccountSort = AccountSort.NAME

    @field_validator("industry", "country", "q")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return _clean_text(value)


class OpportunityQuery(OpportunityFilters, PageRequest):
    """Query parameters of the opportunity list: filters plus the page; unknown ones are refused."""

    model_config = ConfigDict(extra="forbid")

    def filters(self) -> OpportunityFilters:
        """Only the filters."""
        return OpportunityFilters.model_validate(self.model_dump(exclude={"page", "page_size"}))

    def page_request(self) -> PageRequest:
        """Only the page."""
        return PageRequest(page=self.page, page_size=self.page_size)


class AccountQuery(AccountFilters, PageRequest):
    """Query parameters of the account list: filters plus the page; unknown ones are refused."""

    model_config = ConfigDict(extra="forbid")

    def filters(self) -> AccountFilters:
        """Only the filters."""
        return AccountFilters.model_validate(self.model_dump(exclude={"page", "page_size"}))

    def page_request(self) -> PageRequest:
        """Only the page."""
        return PageRequest(page=self.page, page_size=self.page_size)


class UserRef(BaseModel):
    """A user as other records mention them."""

    id: int
    full_name: str


class AccountRead(BaseModel):
    """An account in a list."""

    id: int
    external_id: str | None
    name: str
    industry: str | None
    employees: int | None
    annual_revenue_amount: Decimal | None
    currency_code: str
    country: str | None
    state: str | None
    owner: UserRef | None
    parent_account_id: int | None
    custom_fields: dict[str, Any]


class ContactRead(BaseModel):
    """A person at an account."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str | None
    first_name: str | None
    last_name: str
    full_name: str
    email: str | None
    title: str | None
    department: str | None
    reports_to_id: int | None


class OpportunityRead(BaseModel):
    """An opportunity in a list."""

    id: int
    external_id: str | None
    name: str
    account_id: int | None
    account_name: str | None
    owner: UserRef | None
    amount: Decimal | None
    currency_code: str
    stage: str
    probability: int | None
    close_date: dt.date | None
    created_at: dt.datetime
    is_closed: bool
    is_won: bool
    forecast_category: str | None
    type: str | None
    lead_source: str | None
    loss_reason: str | None
    primary_competitor: str | None
    product: str | None


class StageChange(BaseModel):
    """One row of an opportunity's history, with what changed since the row before."""

    changed_at: dt.datetime
    stage: str
    amount: Decimal | None
    close_date: dt.date | None
    probability: int | None
    forecast_category: str | None
    changed_by: UserRef | None
    changed_fields: list[str]


class ContactRoleRead(BaseModel):
    """A contact in an opportunity's buying committee."""

    contact: ContactRead
    role: str
    is_primary: bool


class ActivityRead(BaseModel):
    """A touch recorded against a deal or account."""

    id: int
    kind: str
    direction: str
    subject: str | None
    occurred_at: dt.datetime
    owner: UserRef | None
    contact_name: str | None


class PipelineSummary(BaseModel):
    """Money at an account: what is open, what was won, what was lost."""

    open_count: int
    open_amount: Decimal
    won_count: int
    won_amount: Decimal
    lost_count: int


class AccountDetail(AccountRead):
    """An account with its people, deals and pipeline."""

    parent_account_name: str | None
    summary: PipelineSummary
    contacts: list[ContactRead]
    opportunities: list[OpportunityRead]


class OpportunityDetail(OpportunityRead):
    """An opportunity with its stage history, buying committee and latest activities."""

    custom_fields: dict[str, Any]
    history: list[StageChange]
    contact_roles: list[ContactRoleRead]
    recent_activities: list[ActivityRead]
    activity_count: int
