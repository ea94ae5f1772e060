"""The demo's execution gaps: playbook rules seeded, scans run over the last weeks, so the inbox has history.

Scans at four earlier moments and one at ``as_of`` let the detectors raise signals when a gap
appeared and resolve them when the data shows it cleared (a deal closed, an activity happened);
the resolved history is what agility is measured from. Every scan is the product's own, set-wise.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.intelligence.gaps.models import GapKind, GapRule
from bridgehead.intelligence.gaps.rules import SEGMENT_MINIMUMS, ensure_rules
from bridgehead.intelligence.gaps.scan import ScanResult, scan

# Enterprise financial-services committees are larger: the playbook asks for one more person.
ENTERPRISE_SEGMENT = "Enterprise financial services"
ENTERPRISE_MINIMUM = 4
HISTORY_WEEKS = (6, 4, 2)


def build_gap_signals(session: Session, *, as_of: dt.date) -> ScanResult:
    """Seed the rules (with the enterprise committee size), scan back-dated moments, then scan at ``as_of``."""
    ensure_rules(session)
    rule = session.scalars(select(GapRule).where(GapRule.kind == GapKind.SINGLE_THREADED)).one()
    rule.thresholds = {**rule.thresholds, SEGMENT_MINIMUMS: {ENTERPRISE_SEGMENT: ENTERPRISE_MINIMUM}}
    session.flush()
    moment = dt.datetime.combine(as_of, dt.time(), dt.UTC)
    for weeks in HISTORY_WEEKS:
        scan(session, now=moment - dt.timedelta(weeks=weeks))
    return scan(session, now=moment)
