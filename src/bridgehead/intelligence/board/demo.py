"""The demo organisation's plan figures for the three-gap board.

The CRO's plan puts 35% of new pipeline and activity into the upmarket move (the intent says
enterprise FS should become the largest share of new bookings) and 40% into the installed base;
the cycle priority counts all pipeline, so its share needs no figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.orm import Session

from bridgehead.intelligence.board.models import PriorityPlan

_PLANNED_SHARES = {"enterprise_fs": Decimal(35), "install_base": Decimal(40)}


def build_plan_figures(session: Session, *, priorities: Mapping[str, int]) -> None:
    """Store the planned shares of the demo priorities (ids by key)."""
    for key, share in _PLANNED_SHARES.items():
        if key in priorities:
            session.add(PriorityPlan(priority_id=priorities[key], planned_share_percent=share))
    session.flush()
