"""The demo organisation's quota sheet: a bookings quota per rep for each quarter of the last year and
the next one, set from what the rep won in the four quarters before (plus 30 %, rounded up to
$5,000), so attainment on the quota page spreads around 100 % the way a real team's does.

One contradiction is planted for the three-gap board to find: the APAC Commercial team's quotas for
this quarter and the next are still carried in the Small business segment, which the upmarket
priority deprioritises (last year's plan, not yet rewritten)."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import Decimal

from sqlalchemy import BigInteger, func, insert, select, type_coerce
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.common.types import Period
from bridgehead.crm.models import Opportunity, OrgUnit
from bridgehead.planning.models import Quota, QuotaBasis
from bridgehead.strategy.models import Segment

QUOTA_QUARTERS_BACK = 3
GROWTH = 1.30
ROUNDING = 5_000
FLOOR = 50_000
CONTRADICTING_SEGMENT = "Small business"
CONTRADICTING_TEAMS = "DEMO-TEAM-APAC-COMMERCIAL"


def _quota_quarters(as_of: dt.date) -> list[Period]:
    current = Period.containing(as_of)
    quarters = [current]
    for _ in range(QUOTA_QUARTERS_BACK):
        quarters.insert(0, quarters[0].previous())
    return [*quarters, current.next()]


def build_quotas(session: Session, *, as_of: dt.date) -> int:
    """Store the demo quotas (one bulk insert); returns how many."""
    quarters = _quota_quarters(as_of)
    baseline_end = quarters[0].start
    baseline_start = dt.date(baseline_end.year - 1, baseline_end.month, 1)
    reps = list(session.scalars(select(User.id).where(User.role == Role.REP, User.is_active.is_(True))))
    if not reps:
        return 0
    small_business = session.scalar(select(Segment.id).where(Segment.name == CONTRADICTING_SEGMENT))
    apac_commercial = set(
        session.scalars(
            select(User.id)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.external_id.like(f"{CONTRADICTING_TEAMS}%"))
        )
    )
    contradicting_quarters = {quarters[-2].label, quarters[-1].label}
    won = dict(
        session.execute(
            select(Opportunity.owner_id, func.sum(type_coerce(Opportunity.amount, BigInteger)))
            .where(
                Opportunity.is_won.is_(True),
                Opportunity.close_date >= baseline_start,
                Opportunity.close_date < baseline_end,
                Opportunity.owner_id.in_(reps),
            )
            .group_by(Opportunity.owner_id)
        ).all()
    )
    quarterly = {rep: int(won.get(rep) or 0) / 100 / 4 for rep in reps}
    typical = statistics.median([value for value in quarterly.values() if value > 0] or [FLOOR])
    rows = []
    for rep in reps:
        base = quarterly[rep] if quarterly[rep] > 0 else typical
        amount = max(FLOOR, math.ceil(base * GROWTH / ROUNDING) * ROUNDING)
        for quarter in quarters:
            contradicts = (
                small_business is not None
                and rep in apac_commercial
                and quarter.label in contradicting_quarters
            )
            rows.append(
                {
                    "owner_id": rep,
                    "basis": QuotaBasis.BOOKINGS,
                    "period": quarter.label,
                    "period_start_date": quarter.start,
                    "period_end_date": quarter.end,
                    "quota_amount": Decimal(amount),
                    "ramp_percent": 100,
                    "segment_id": small_business if contradicts else None,
                    "note": "carried over from last year's SMB plan" if contradicts else "",
                }
            )
    session.execute(insert(Quota), rows)
    return len(rows)
