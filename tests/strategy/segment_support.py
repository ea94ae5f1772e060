"""Small builders for the segment, ICP and pipeline-definition tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from bridgehead.strategy.models import Priority, PriorityStatus, TargetMetric
from tests.factories import make_org_unit


def make_priority(session: Session, title: str = "Move upmarket") -> Priority:
    """A bare company priority row (the priority service is another module's; these tests need only the id)."""
    unit = make_org_unit(session)
    priority = Priority(
        org_unit_id=unit.id,
        title=title,
        intent_what="Win enterprise financial services",
        intent_why="Where we win",
        target_metric=TargetMetric.BOOKINGS_AMOUNT,
        target_scope="enterprise FS",
        target_value=Decimal("1000000"),
        target_period="2026",
        boundaries="",
        status=PriorityStatus.ACTIVE,
        effective_from=dt.date(2026, 1, 1),
    )
    session.add(priority)
    session.flush()
    return priority
