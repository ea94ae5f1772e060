"""The demo organisation's change initiatives, across every stage gate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy.orm import Session


def build_initiatives(session: Session, *, priorities: Mapping[str, int], as_of: dt.date, seed: int) -> None:
    """Write about fifteen initiatives linked to ``priorities`` (ids by key), some stalled, one unconfirmed."""
    del session, priorities, as_of, seed
