"""A per-connection scratch table holding which deals count toward each priority on the board.

A priority's condition can be costly (segment membership, "existing business" is a correlated
EXISTS per deal) and the board reads it in several grouped queries; evaluated once into
``board_deal_flag`` it becomes an indexed semi-join for every one of them. The table is TEMPORARY
and outside the application's metadata: no migration, no other session sees it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    literal,
    not_,
    select,
)
from sqlalchemy.orm import Session

from bridgehead.crm.models import Opportunity
from bridgehead.intelligence.board.queries import EffortConditions
from bridgehead.intelligence.metrics.scope import Scope

_metadata = MetaData()

deal_flag = Table(
    "board_deal_flag",
    _metadata,
    Column("slot", Integer, nullable=False),  # the priority's position on the board
    Column("kind", String(3), nullable=False),  # "on": counts toward it; "off": off-strategy for it
    Column("opportunity_id", BigInteger, nullable=False),
    Index("ix_board_deal_flag_slot_kind_opportunity_id", "slot", "kind", "opportunity_id"),
    prefixes=["TEMPORARY"],
)


def _member(slot: int, kind: str) -> Any:
    ids = select(deal_flag.c.opportunity_id).where(deal_flag.c.slot == slot, deal_flag.c.kind == kind)
    return Opportunity.id.in_(ids)


@contextmanager
def flagged(
    session: Session, everything: Scope, conditions: Sequence[EffortConditions]
) -> Iterator[list[EffortConditions]]:
    """Evaluate each priority's conditions once over the deals in ``everything``; yield equivalent
    conditions that read the scratch table, and empty it afterwards."""
    deal_flag.create(session.connection(), checkfirst=True)
    session.execute(delete(deal_flag))
    for slot, item in enumerate(conditions):
        for kind, condition in (("on", item.priority), ("off", item.off_strategy & not_(item.priority))):
            session.execute(
                insert(deal_flag).from_select(
                    ["slot", "kind", "opportunity_id"],
                    select(literal(slot), literal(kind), Opportunity.id).where(
                        *everything.opportunity, condition
                    ),
                )
            )
    try:
        yield [EffortConditions(_member(slot, "on"), _member(slot, "off")) for slot in range(len(conditions))]
    finally:
        session.execute(delete(deal_flag))
