"""The demo organisation's strategy: company priorities, their restatements and back-briefs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session


def build_strategy(session: Session, *, as_of: dt.date, seed: int) -> dict[str, int]:
    """Write the demo priorities; return their ids by key ("enterprise_fs", "install_base", "velocity")."""
    del session, as_of, seed
    return {}
