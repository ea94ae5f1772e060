"""``bridgehead export …``: lists as CSV or XLSX, account owners and quotas for Salesforce Data Loader."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from bridgehead.connectors.schemas import ExportFormat

export_app = typer.Typer(
    help="Export lists as CSV/XLSX, and account owners and quotas for Salesforce Data Loader."
)
console = Console()

Format = Annotated[
    ExportFormat | None,
    typer.Option("--format", help="csv or xlsx (default: from the file name, else csv)."),
]
OwnerEmail = Annotated[str | None, typer.Option("--owner", help="Only records owned by this user (e-mail).")]
Search = Annotated[str | None, typer.Option("--q", help="Words in the name.")]


def _format_for(path: Path, chosen: ExportFormat | None) -> ExportFormat:
    if chosen is not None:
        return chosen
    return ExportFormat.XLSX if path.suffix.lower() == ".xlsx" else ExportFormat.CSV


def _validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "filters"
    return f"{where}: {error.get('msg', 'invalid')}"


@export_app.command("opportunities")
def export_opportunities(
    path: Annotated[Path, typer.Argument(help="File to write (.csv or .xlsx).")],
    export_format: Format = None,
    owner: OwnerEmail = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    status: Annotated[str | None, typer.Option(help="open, won or lost.")] = None,
    close_quarter: Annotated[str | None, typer.Option(help="A close quarter such as 2026-Q1.")] = None,
    amount_min: Annotated[Decimal | None, typer.Option(help="Smallest amount.")] = None,
    amount_max: Annotated[Decimal | None, typer.Option(help="Largest amount.")] = None,
    q: Search = None,
    sort: Annotated[str, typer.Option(help="Sort column; prefix - for descending.")] = "-close_date",
) -> None:
    """Every opportunity matching the filters of the opportunity list."""
    from bridgehead.auth.service import get_user_by_email
    from bridgehead.cli import _clean_failures, _fail, _session
    from bridgehead.config import get_settings
    from bridgehead.connectors.export import opportunity_export, write_table
    from bridgehead.crm.schemas import OpportunityFilters

    chosen = _format_for(path, export_format)
    with _clean_failures(), _session(get_settings()) as session:
        owner_id = get_user_by_email(session, owner).id if owner else None
        try:
            filters = OpportunityFilters.model_validate(
                {
                    "owner_id": owner_id,
                    "stage": stage,
                    "status": status,
                    "close_quarter": close_quarter,
                    "amount_min": amount_min,
                    "amount_max": amount_max,
                    "q": q,
                    "sort": sort,
                }
            )
        except ValidationError as exc:
            _fail(_validation_message(exc), 2)
        rows = write_table(opportunity_export(session, viewer=None, filters=filters), path, chosen)
        console.print(f"Wrote {rows:,} opportunities to {path}")


@export_app.command("accounts")
def export_accounts(
    path: Annotated[Path, typer.Argument(help="File to write (.csv or .xlsx).")],
    export_format: Format = None,
    owner: OwnerEmail = None,
    industry: Annotated[str | None, typer.Option(help="Only this industry.")] = None,
    country: Annotated[str | None, typer.Option(help="Only this country.")] = None,
    q: Search = None,
    sort: Annotated[str, typer.Option(help="Sort column; prefix - for descending.")] = "name",
) -> None:
    """Every account matching the filters of the account list."""
    from bridgehead.auth.service import get_user_by_email
    from bridgehead.cli import _clean_failures, _fail, _session
    from bridgehead.config import get_settings
    from bridgehead.connectors.export import account_export, write_table
    from bridgehead.crm.schemas import AccountFilters

    chosen = _format_for(path, export_format)
    with _clean_failures(), _session(get_settings()) as session:
        owner_id = get_user_by_email(session, owner).id if owner else None
        try:
            filters = AccountFilters.model_validate(
                {"owner_id": owner_id, "industry": industry, "country": country, "q": q, "sort": sort}
            )
        except ValidationError as exc:
            _fail(_validation_message(exc), 2)
        rows = write_table(account_export(session, viewer=None, filters=filters), path, chosen)
        console.print(f"Wrote {rows:,} accounts to {path}")


@export_app.command("account-owners")
def export_account_owners(
    path: Annotated[Path, typer.Argument(help="CSV file to write for Salesforce Data Loader (update).")],
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only accounts whose owner changed on or after this date."),
    ] = None,
) -> None:
    """Territory assignments as a Data Loader update file: Id,OwnerId (Salesforce ids)."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.config import get_settings
    from bridgehead.connectors.export import account_owner_export, account_owner_gaps, write_table

    day = since.date() if since else None
    with _clean_failures(), _session(get_settings()) as session:
        table = account_owner_export(session, actor=None, since=day)
        rows = write_table(table, path, ExportFormat.CSV, bom=False)
        gaps = account_owner_gaps(session, actor=None, since=day)
        console.print(f"Wrote {rows:,} account owners to {path}")
        _print_left_out(
            "accounts",
            {
                "without a Salesforce id": gaps["without_id"],
                "without an owner": gaps["without_owner"],
                "whose owner has no Salesforce id": gaps["owner_without_id"],
            },
        )


@export_app.command("quotas")
def export_quotas(
    path: Annotated[
        Path, typer.Argument(help="CSV file to write for Salesforce Data Loader (upsert on Id).")
    ],
    forecasting_type_id: Annotated[
        str,
        typer.Option(
            "--forecasting-type-id",
            help="Id of the Salesforce ForecastingType the quotas belong to (SELECT Id FROM ForecastingType).",
        ),
    ],
    period: Annotated[
        str | None, typer.Option(help="Only quotas inside this period: 2026, 2026-Q1 or 2026-03.")
    ] = None,
) -> None:
    """Bookings quotas as a ForecastingQuota upsert file: Id,QuotaOwnerId,StartDate,QuotaAmount,IsAmount,ForecastingTypeId."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.common.periods import parse_period
    from bridgehead.config import get_settings
    from bridgehead.connectors.export import salesforce_quota_export, salesforce_quota_gaps, write_table

    with _clean_failures(), _session(get_settings()) as session:
        chosen = parse_period(period) if period else None
        table = salesforce_quota_export(
            session, actor=None, forecasting_type_id=forecasting_type_id, period=chosen
        )
        rows = write_table(table, path, ExportFormat.CSV, bom=False)
        gaps = salesforce_quota_gaps(session, actor=None, period=chosen)
        console.print(f"Wrote {rows:,} quotas to {path}")
        _print_left_out(
            "quotas",
            {
                "on a basis other than bookings (Salesforce quotas are revenue)": gaps["not_bookings"],
                "for a whole year (Salesforce holds monthly or quarterly quotas)": gaps["yearly"],
                "whose owner has no Salesforce id": gaps["owner_without_id"],
            },
        )


def _print_left_out(noun: str, counts: dict[str, int]) -> None:
    """One line per reason rows were left out of an export file (reasons with none are not printed)."""
    for reason, count in counts.items():
        if count:
            console.print(f"  left out {count:,} {noun} {reason}")
