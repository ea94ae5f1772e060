"""Import every domain's tables so that ``Base.metadata`` is complete (Alembic, tests, init)."""

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import ApiToken, LoginSession, User
from bridgehead.connectors.models import ImportRun, QuarantinedRow
from bridgehead.crm.models import (
    Account,
    Activity,
    Contact,
    ContactRole,
    Opportunity,
    OpportunityHistory,
    OrgUnit,
)
from bridgehead.db import Base

__all__ = [
    "Account",
    "Activity",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Contact",
    "ContactRole",
    "ImportRun",
    "LoginSession",
    "Opportunity",
    "OpportunityHistory",
    "OrgUnit",
    "QuarantinedRow",
    "User",
]
