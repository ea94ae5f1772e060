"""A per-connection scratch table holding, per deal, which priorities on the board it counts toward.

A priority's condition can be costly (segment membership, "existing business" is a correlated
EXISTS per deal) and the board reads it in several grouped queries; evaluated once, for every
priority in one pass, into ``board_deal_mask`` (one row per deal, a bit per priority and kind) it
becomes a primary-key join for every one of them, and the grouped queries group by the mask (a
handful of distinct values) instead of carrying a flag column per priority. The table is TEMPORARY
and outside the application's metadata: no migration, no other session sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    MetaData,
    Table,
    case,
    delete,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from bridgehead.common.sql import Unindexed
from bridgehead.common.types import PrimaryKey
from bridgehead.crm.models import Opportunity
from bridgehead.db import analyze_scratch
from bridgehead.intelligence.metrics.scope import Scope

# Two bits per priority ("on" and "off") in a signed 64-bit integer.
MAX_SLOTS = 31

_metadata = MetaData()


@dataclass(frozen=True)
class EffortConditions:
    """Which deals count toward a priority, and which are off-strategy for it (both over ``Opportunity``)."""

    priority: ColumnElement[bool]
    off_strategy: ColumnElement[bool]


deal_mask = Table(
    "board_deal_mask",
    _metadata,
    Column("opportunity_id", PrimaryKey, primary_key=True, autoincrement=False),
    # Bit 2·slot: the deal counts toward the priority in that slot; bit 2·slot+1: it is off-strategy
    # for it (at a deprioritised segment and not counting toward it).
    Column("mask", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


def on_bit(slot: int) -> int:
    """The mask bit of deals counting toward the priority in ``slot``."""
    return 1 << (2 * slot)


def off_bit(slot: int) -> int:
    """The mask bit of deals off-strategy for the priority in ``slot``."""
    return 1 << (2 * slot + 1)


@dataclass(frozen=True)
class Masks:
    """The priorities of one pass: how many, and which of them each mask value names."""

    slots: int
    _on: dict[int, tuple[int, ...]] = field(default_factory=dict, compare=False)
    _off: dict[int, tuple[int, ...]] = field(default_factory=dict, compare=False)

    @property
    def any_on(self) -> int:
        """The bits of every priority's "on" kind (a deal of some priority has one of them set)."""
        return sum(on_bit(slot) for slot in range(self.slots))

    def on(self, mask: int | None) -> tuple[int, ...]:
        """The slots whose priority the deal counts toward."""
        return self._slots(mask, on_bit, self._on)

    def off(self, mask: int | None) -> tuple[int, ...]:
        """The slots whose priority the deal is off-strategy for."""
        return self._slots(mask, off_bit, self._off)

    def _slots(
        self, mask: int | None, bit: Callable[[int], int], known: dict[int, tuple[int, ...]]
    ) -> tuple[int, ...]:
        # A handful of distinct masks, each decoded once.
        value = int(mask or 0)
        if value not in known:
            known[value] = tuple(slot for slot in range(self.slots) if value & bit(slot))
        return known[value]


def _bits(conditions: Sequence[EffortConditions]) -> Any:
    # One CASE per priority: its "off" bit is tested only when its own condition failed, so that
    # condition (with a correlated EXISTS for "existing business") is evaluated once per deal, not
    # again inside "off-strategy and not counting toward it".
    terms: list[Any] = [
        case(
            (item.priority, literal(on_bit(slot), BigInteger)),
            (item.off_strategy, literal(off_bit(slot), BigInteger)),
            else_=literal(0, BigInteger),
        )
        for slot, item in enumerate(conditions)
    ]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


@contextmanager
def flagged(
    session: Session, everything: Scope, conditions: Sequence[EffortConditions], *, most_deals: bool = False
) -> Iterator[Masks]:
    """Evaluate every priority's conditions once over the deals in ``everything`` into the scratch
    table (at most ``MAX_SLOTS`` priorities); yield how to read its masks, and empty it afterwards.

    ``most_deals``: the scope keeps (nearly) every deal, as the whole organisation's does; the deals
    are then read in table order rather than through the owner index."""
    if not 0 < len(conditions) <= MAX_SLOTS:
        raise ValueError(f"between 1 and {MAX_SLOTS} priorities per pass, not {len(conditions)}")
    deal_mask.create(session.connection(), checkfirst=True)
    session.execute(delete(deal_mask))
    # Every deal in scope gets a row, a mask of 0 too: filtering on the mask would evaluate every
    # condition twice (SQLite substitutes the expression into the WHERE clause).
    where = everything.opportunity
    if most_deals and everything.owner_only is not None:
        where = everything.owner_only(Unindexed(Opportunity.owner_id.expression))
    computed = select(Opportunity.id, _bits(conditions)).where(*where)
    session.execute(insert(deal_mask).from_select(["opportunity_id", "mask"], computed))
    analyze_scratch(session, deal_mask)  # the grouped queries join it
    try:
        yield Masks(len(conditions))
    finally:
        session.execute(delete(deal_mask))
