"""Pydantic models at the edges of the connectors domain: import reports and runs, export queries."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bridgehead.common.pagination import QueryModel
from bridgehead.crm.schemas import AccountFilters, OpportunityFilters


class ExportFormat(StrEnum):
    """File formats a list can be exported as."""

    CSV = "csv"
    XLSX = "xlsx"


class EntityCountsRead(BaseModel):
    """What an import did (or would do) to one entity's rows."""

    created: int
    updated: int
    unchanged: int
    rejected: int


class RejectedRowRead(BaseModel):
    """A row an import refused: where it is, which field, which value and why."""

    model_config = ConfigDict(from_attributes=True)

    file: str
    line: int
    field: str | None
    value: str | None
    reason: str


class ImportReportRead(BaseModel):
    """The outcome of an import: counts per entity and the rejected rows."""

    run_id: int | None = Field(description="The stored import run; null for a dry run")
    source: str
    status: str = Field(description="dry_run, committed or failed (refused, nothing written)")
    policy: str
    dry_run: bool
    counts: dict[str, EntityCountsRead]
    rejected_rows: int
    problem_count: int
    problems: list[RejectedRowRead]
    problems_truncated: bool


class ImportRunRead(BaseModel):
    """One past import."""

    id: int
    source: str
    location: str
    policy: str
    status: str
    actor_id: int | None
    actor_name: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict[str, EntityCountsRead]
    rejected_rows: int


class ImportRunDetail(ImportRunRead):
    """One past import with the rows it set aside (or refused)."""

    rejected: list[RejectedRowRead]
    rejected_total: int


class OpportunityExportQuery(OpportunityFilters):
    """The opportunity list's filters and the file format."""

    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = ExportFormat.CSV


class AccountExportQuery(AccountFilters):
    """The account list's filters and the file format."""

    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = ExportFormat.CSV


class AccountOwnerExportQuery(QueryModel):
    """Which account owners to export for Salesforce Data Loader."""

    model_config = ConfigDict(extra="forbid")

    since: dt.date | None = Field(
        default=None, description="Only accounts whose owner (or record) changed on or after this date"
    )


class QuotaSalesforceExportQuery(QueryModel):
    """Which quotas to export for Salesforce Data Loader, and the forecast type they belong to."""

    model_config = ConfigDict(extra="forbid")

    forecasting_type_id: str = Field(
        default="", max_length=40, description="Id of the Salesforce ForecastingType the quotas belong to"
    )
    period: str | None = Field(default=None, max_length=8, description="Only quotas inside this period")


class ImportJobRead(BaseModel):
    """A background import and how far it has got; ``report`` once it has finished."""

    id: str
    status: Literal["queued", "running", "done", "refused", "failed"]
    step: str
    rows_done: int
    rows_total: int | None
    dry_run: bool
    quarantine: bool
    upload: str
    queued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    seconds: float
    run_id: int | None
    error: str | None
    signals_raised: int | None = None
    scan_error: str | None = None
    report: ImportReportRead | None
