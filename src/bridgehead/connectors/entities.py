"""What an import can write: each CRM entity's fields, their types, and the references between them.

Sources (Salesforce, HubSpot, a CSV mapping) translate their columns into these field names; the
engine parses, validates, resolves references and upserts by external id, the same for all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import (
    Account,
    Activity,
    ActivityDirection,
    ActivityKind,
    Contact,
    ContactRole,
    ForecastCategory,
    Opportunity,
    OpportunityHistory,
    OrgUnit,
    OrgUnitKind,
)


class Kind(enum.StrEnum):
    """How a field's text is parsed."""

    TEXT = "text"
    EMAIL = "email"
    INT = "int"
    MONEY = "money"
    PERCENT = "percent"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    REF = "ref"


@dataclass(frozen=True)
class FieldSpec:
    """One importable field. A ``REF`` names another record by its external id."""

    name: str
    kind: Kind
    column: str
    required: bool = False
    max_length: int = 255
    choices: type[enum.StrEnum] | None = None
    ref_entity: str | None = None


@dataclass(frozen=True)
class EntitySpec:
    """An importable entity: its table, fields, and values new rows get when the source is silent."""

    name: str
    label: str
    table: Table
    fields: tuple[FieldSpec, ...]
    insert_defaults: dict[str, Any] = field(default_factory=dict)
    # History rows are facts about the past: a re-import adds the new ones and never rewrites old ones.
    append_only: bool = False
    # Columns that must stay unique across records (besides the external id).
    unique_columns: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        """All field names, for mapping validation and suggestions."""
        return [spec.name for spec in self.fields]


def _text(
    name: str, *, required: bool = False, max_length: int = 255, column: str | None = None
) -> FieldSpec:
    return FieldSpec(name, Kind.TEXT, column or name, required=required, max_length=max_length)


def _ref(name: str, entity: str, column: str) -> FieldSpec:
    return FieldSpec(name, Kind.REF, column, ref_entity=entity)


ORG_UNIT = EntitySpec(
    "org_unit",
    "org units",
    OrgUnit.__table__,  # type: ignore[arg-type]
    (
        _text("name", required=True, max_length=200),
        FieldSpec("kind", Kind.CHOICE, "kind", required=True, choices=OrgUnitKind),
        _ref("parent", "org_unit", "parent_id"),
    ),
)

USER = EntitySpec(
    "user",
    "users",
    User.__table__,  # type: ignore[arg-type]
    (
        _text("full_name", required=True, max_length=200),
        FieldSpec("email", Kind.EMAIL, "email", max_length=254),
        FieldSpec("role", Kind.CHOICE, "role", choices=Role),
        FieldSpec("is_active", Kind.BOOL, "is_active"),
        _ref("manager", "user", "manager_id"),
        _ref("org_unit", "org_unit", "org_unit_id"),
    ),
    insert_defaults={"role": Role.REP.value, "is_active": True},
    unique_columns=("email",),
)

ACCOUNT = EntitySpec(
    "account",
    "accounts",
    Account.__table__,  # type: ignore[arg-type]
    (
        _text("name", required=True),
        _text("industry", max_length=100),
        FieldSpec("employees", Kind.INT, "employees"),
        FieldSpec("annual_revenue", Kind.MONEY, "annual_revenue_amount"),
        _text("currency_code", max_length=3),
        _text("country", max_length=100),
        _text("state", max_length=100),
        _ref("owner", "user", "owner_id"),
        _ref("parent_account", "account", "parent_account_id"),
    ),
    insert_defaults={"currency_code": "USD"},
)

CONTACT = EntitySpec(
    "contact",
    "contacts",
    Contact.__table__,  # type: ignore[arg-type]
    (
        _text("first_name", max_length=100),
        _text("last_name", required=True, max_length=100),
        FieldSpec("email", Kind.EMAIL, "email", max_length=254),
        _text("title", max_length=200),
        _text("department", max_length=100),
        _ref("account", "account", "account_id"),
        _ref("reports_to", "contact", "reports_to_id"),
        _ref("owner", "user", "owner_id"),
    ),
)

OPPORTUNITY = EntitySpec(
    "opportunity",
    "opportunities",
    Opportunity.__table__,  # type: ignore[arg-type]
    (
        _text("name", required=True),
        FieldSpec("amount", Kind.MONEY, "amount"),
        _text("currency_code", max_length=3),
        _text("stage", required=True, max_length=80),
        FieldSpec("probability", Kind.PERCENT, "probability"),
        FieldSpec("close_date", Kind.DATE, "close_date"),
        FieldSpec("created_at", Kind.DATETIME, "created_at"),
        FieldSpec("is_closed", Kind.BOOL, "is_closed"),
        FieldSpec("is_won", Kind.BOOL, "is_won"),
        FieldSpec("forecast_category", Kind.CHOICE, "forecast_category", choices=ForecastCategory),
        _text("type", max_length=80),
        _text("lead_source", max_length=80),
        _text("loss_reason", max_length=120),
        _text("primary_competitor", max_length=120),
        _text("product", max_length=120),
        _ref("account", "account", "account_id"),
        _ref("owner", "user", "owner_id"),
    ),
    insert_defaults={"currency_code": "USD", "is_closed": False, "is_won": False},
)

OPPORTUNITY_HISTORY = EntitySpec(
    "opportunity_history",
    "stage-history rows",
    OpportunityHistory.__table__,  # type: ignore[arg-type]
    (
        _ref("opportunity", "opportunity", "opportunity_id"),
        FieldSpec("changed_at", Kind.DATETIME, "changed_at", required=True),
        _text("stage", required=True, max_length=80),
        FieldSpec("amount", Kind.MONEY, "amount"),
        FieldSpec("close_date", Kind.DATE, "close_date"),
        FieldSpec("probability", Kind.PERCENT, "probability"),
        FieldSpec("forecast_category", Kind.CHOICE, "forecast_category", choices=ForecastCategory),
        _ref("changed_by", "user", "changed_by_id"),
    ),
    append_only=True,
)

CONTACT_ROLE = EntitySpec(
    "contact_role",
    "contact roles",
    ContactRole.__table__,  # type: ignore[arg-type]
    (
        _ref("opportunity", "opportunity", "opportunity_id"),
        _ref("contact", "contact", "contact_id"),
        _text("role", required=True, max_length=80),
        FieldSpec("is_primary", Kind.BOOL, "is_primary"),
    ),
    insert_defaults={"is_primary": False},
)

ACTIVITY = EntitySpec(
    "activity",
    "activities",
    Activity.__table__,  # type: ignore[arg-type]
    (
        FieldSpec("kind", Kind.CHOICE, "kind", required=True, choices=ActivityKind),
        FieldSpec("direction", Kind.CHOICE, "direction", choices=ActivityDirection),
        _text("subject"),
        FieldSpec("occurred_at", Kind.DATETIME, "occurred_at", required=True),
        FieldSpec("duration_minutes", Kind.INT, "duration_minutes"),
        _ref("owner", "user", "owner_id"),
        _ref("account", "account", "account_id"),
        _ref("contact", "contact", "contact_id"),
        _ref("opportunity", "opportunity", "opportunity_id"),
    ),
    insert_defaults={"direction": ActivityDirection.OUTBOUND.value},
)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (ORG_UNIT, USER, ACCOUNT, CONTACT, OPPORTUNITY, OPPORTUNITY_HISTORY, CONTACT_ROLE, ACTIVITY)
}
# Parents before children, so every reference can be resolved when its row is written.
IMPORT_ORDER = tuple(ENTITIES)
