"""The demo organisation's deal execution: stakeholder maps, qualification and action plans of varied quality."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session


def build_deal_execution(session: Session, *, as_of: dt.date, seed: int) -> None:
    """Write sales processes, stakeholder maps, qualification, action plans, account plans and handoffs."""
    del session, as_of, seed
