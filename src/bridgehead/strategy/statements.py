"""The statement of a priority: its fields, labels and units, and the checks every value must pass.

Pure functions (no session): the API, the pages, the CLI and the demo all go through these, so a
bad metric, period or target value gets the same error naming the field wherever it comes from.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from bridgehead.common.types import MAX_AMOUNT, Period
from bridgehead.errors import ValidationFailed
from bridgehead.strategy.models import PriorityStatus, TargetMetric

STATEMENT_FIELDS = (
    "title",
    "intent_what",
    "intent_why",
    "target_metric",
    "target_scope",
    "target_value",
    "target_period",
    "boundaries",
    "owner_id",
    "status",
    "parent_id",
    "org_unit_id",
    "effective_from",
)
FIELD_LABELS = {
    "title": "Title",
    "intent_what": "What",
    "intent_why": "Why",
    "target_metric": "Target metric",
    "target_scope": "Target scope",
    "target_value": "Target value",
    "target_period": "Target period",
    "boundaries": "Boundaries",
    "owner_id": "Owner",
    "status": "Status",
    "parent_id": "Parent priority",
    "org_unit_id": "Org unit",
    "effective_from": "Effective from",
}
METRIC_LABELS = {
    TargetMetric.BOOKINGS_AMOUNT: "Bookings (won amount)",
    TargetMetric.PIPELINE_CREATED_AMOUNT: "Pipeline created",
    TargetMetric.WIN_RATE: "Win rate (%)",
    TargetMetric.NEW_LOGOS: "New logos",
    TargetMetric.AVERAGE_DEAL_SIZE: "Average won deal size",
    TargetMetric.SALES_CYCLE_DAYS: "Sales cycle (days)",
    TargetMetric.SHARE_OF_PIPELINE: "Share of pipeline (%)",
}
MONEY_METRICS = frozenset(
    {TargetMetric.BOOKINGS_AMOUNT, TargetMetric.PIPELINE_CREATED_AMOUNT, TargetMetric.AVERAGE_DEAL_SIZE}
)
PERCENT_METRICS = frozenset({TargetMetric.WIN_RATE, TargetMetric.SHARE_OF_PIPELINE})
# Where a priority may go next; reopening an achieved or dropped priority is a deliberate step back.
STATUS_MOVES: dict[PriorityStatus, frozenset[PriorityStatus]] = {
    PriorityStatus.DRAFT: frozenset({PriorityStatus.ACTIVE, PriorityStatus.DROPPED}),
    PriorityStatus.ACTIVE: frozenset({PriorityStatus.ACHIEVED, PriorityStatus.DROPPED, PriorityStatus.DRAFT}),
    PriorityStatus.ACHIEVED: frozenset({PriorityStatus.ACTIVE}),
    PriorityStatus.DROPPED: frozenset({PriorityStatus.ACTIVE}),
}
_YEAR = re.compile(r"^(\d{4})$")
MAX_CYCLE_DAYS = Decimal(3650)
MAX_NEW_LOGOS = Decimal(1_000_000)

# --- checks ------------------------------------------------------------------------------------


def check_text(value: str | None, field: str, *, required: bool = True) -> str:
    """Trimmed text; required text must not be blank; NUL characters are refused."""
    text = (value or "").strip()
    if "\x00" in text:
        raise ValidationFailed("must not contain NUL characters", field=field, value=repr(value))
    if required and not text:
        raise ValidationFailed(
            f"{FIELD_LABELS.get(field, field)} must not be empty", field=field, value=value
        )
    return text


def check_metric(value: str | TargetMetric) -> TargetMetric:
    """Parse a target metric or raise ``ValidationFailed`` listing the valid ones."""
    try:
        return TargetMetric(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in TargetMetric)
        raise ValidationFailed(
            f"unknown target metric; use one of {valid}", field="target_metric", value=value
        ) from None


def check_status(value: str | PriorityStatus) -> PriorityStatus:
    """Parse a priority status or raise ``ValidationFailed`` listing the valid ones."""
    try:
        return PriorityStatus(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in PriorityStatus)
        raise ValidationFailed(f"unknown status; use one of {valid}", field="status", value=value) from None


def parse_target_period(value: str) -> Period:
    """A target period: a year (``2026``) or a calendar quarter (``2026-Q4``); ``ValidationFailed`` otherwise."""
    text = str(value).strip().upper()
    year_match = _YEAR.match(text)
    if year_match:
        year = int(year_match.group(1))
        if 1900 <= year <= 2999:
            return Period(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), str(year))
    else:
        try:
            return Period.parse_quarter(text)
        except ValueError:
            pass
    raise ValidationFailed(
        "target period must be a year like 2026 or a quarter like 2026-Q4", field="target_period", value=value
    )


def check_target_value(metric: TargetMetric, value: Decimal | str | int) -> Decimal:
    """The target value if it is sane for ``metric`` (money > 0 in cents, percentages 0-100, ...)."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed("target value must be a number", field="target_value", value=value) from None
    if not amount.is_finite():
        raise ValidationFailed("target value must be a finite number", field="target_value", value=value)
    if metric in PERCENT_METRICS:
        if not Decimal(0) <= amount <= Decimal(100):
            raise ValidationFailed(
                f"{metric.value} is a percentage: use 0 to 100", field="target_value", value=value
            )
        return amount.quantize(Decimal("0.01"))
    if amount <= 0:
        raise ValidationFailed(f"{metric.value} must be greater than 0", field="target_value", value=value)
    if metric in MONEY_METRICS:
        if amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
            raise ValidationFailed(
                f"{metric.value} is money: at most {MAX_AMOUNT:,} with at most 2 decimals",
                field="target_value",
                value=value,
            )
        return amount.quantize(Decimal("0.01"))
    if metric == TargetMetric.NEW_LOGOS:
        if amount != amount.to_integral_value() or amount > MAX_NEW_LOGOS:
            raise ValidationFailed(
                "new_logos is a whole number of accounts", field="target_value", value=value
            )
        return amount.quantize(Decimal(1))
    if amount > MAX_CYCLE_DAYS:
        raise ValidationFailed(
            f"sales_cycle_days must be at most {MAX_CYCLE_DAYS} days", field="target_value", value=value
        )
    return amount.quantize(Decimal("0.1"))


def metric_label(metric: str) -> str:
    """A reader's name for a target metric value."""
    try:
        return METRIC_LABELS[TargetMetric(metric)]
    except ValueError:
        return metric


def format_target(metric: str, value: Decimal) -> str:
    """A target as a person reads it: ``$12,000,000``, ``35%``, ``45 days``, ``120 new logos``."""
    try:
        kind = TargetMetric(metric)
    except ValueError:
        return str(value)
    if kind in MONEY_METRICS:
        return f"${value:,.0f}"
    if kind in PERCENT_METRICS:
        return f"{value.normalize():f}%"
    if kind == TargetMetric.SALES_CYCLE_DAYS:
        return f"{value.normalize():f} days"
    return f"{value:,.0f} new logos"
