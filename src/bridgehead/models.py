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
from bridgehead.strategy.models import (
    AccountFit,
    BackBrief,
    BackBriefEvent,
    IcpCriterion,
    PipelineDefinition,
    Priority,
    PriorityVersion,
    Segment,
    SegmentMember,
    SegmentPriority,
)

__all__ = [
    "Account",
    "AccountFit",
    "Activity",
    "ApiToken",
    "AuditEntry",
    "BackBrief",
    "BackBriefEvent",
    "Base",
    "Contact",
    "ContactRole",
    "IcpCriterion",
    "ImportRun",
    "LoginSession",
    "Opportunity",
    "OpportunityHistory",
    "OrgUnit",
    "PipelineDefinition",
    "Priority",
    "PriorityVersion",
    "QuarantinedRow",
    "Segment",
    "SegmentMember",
    "SegmentPriority",
    "User",
]
