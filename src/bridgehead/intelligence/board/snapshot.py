"""Snapshots of what the three-gap board read, so that a board which takes seconds to read answers at once.

Reading a board's inputs groups every deal and activity of the unit: 5.4 s for the company at demo
``--scale 10`` (250,000 deals, 2 million activities) on SQLite. Everything after that is arithmetic
over a few rows per owner. So the inputs of each priority as planned at a unit are kept in
``board_snapshot``, per viewer class and window of periods, with the moment they describe (the
board's "as of") and the newest audit entry at that moment (every recorded change, an import
included, writes one).

A snapshot is used while it is younger than the allowed age and either nothing was recorded since,
or reading afresh is slow (``LIVE_UNDER_SECONDS`` or more): the board then says that data changed
since, and offers a refresh. A cheap board is read again after every change, so a small
organisation always sees live figures. Imports refresh the company board when they finish.

What is kept are the rows, not the gaps: the plan figures (planned share, assumed win rate and
cycle) are applied when the board is shown, so editing them shows at once, and a changed priority
definition gives another key, read afresh.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import User
from bridgehead.auth.service import visibility_for
from bridgehead.common.types import Period
from bridgehead.db import is_write_conflict, no_lock_wait
from bridgehead.intelligence.board import compute, queries
from bridgehead.intelligence.board.measure import Inputs, Owner, Scopes, read_inputs, stale_days
from bridgehead.intelligence.board.models import BoardSnapshot
from bridgehead.intelligence.board.plan import PlanContext

log = logging.getLogger(__name__)

# Bump when the payload's layout changes: older rows then no longer match any key.
FORMAT = "board-inputs/1"
# A board read faster than this is read again as soon as recorded data changes.
LIVE_UNDER_SECONDS = 1.0
# Snapshots older than this are deleted whenever one is stored (boards nobody looks at any more).
KEEP = dt.timedelta(days=7)


@dataclass(frozen=True)
class Freshness:
    """How old a snapshot may be, and whether to read afresh regardless (a refresh)."""

    max_age: dt.timedelta
    refresh: bool = False


def freshness_for(max_age_minutes: int, *, refresh: bool = False) -> Freshness | None:
    """The freshness of a view under the ``board_snapshot_minutes`` setting (0: no snapshots)."""
    if max_age_minutes <= 0:
        return None
    return Freshness(dt.timedelta(minutes=max_age_minutes), refresh=refresh)


@dataclass(frozen=True)
class Reading:
    """The inputs of every priority, the moment they describe, and where they came from."""

    inputs: list[Inputs]
    as_of: dt.datetime
    from_snapshot: bool
    # Recorded changes (audit entries) after ``as_of``: the figures may no longer be current.
    changed_since: bool


def viewer_class(viewer: User | None) -> str:
    """Who sees the same board: everyone who sees every record shares one; a manager has their own."""
    if viewer is None or visibility_for(viewer).sees_everything:
        return "everything"
    return f"user:{viewer.id}"


# Recorded changes that touch nothing the board reads: a gap signal acknowledged or snoozed (people
# do that all day), an API token issued or revoked.
UNREAD_CHANGES = ("gap_signal", "api_token")


def data_stamp(session: Session) -> int:
    """The newest audit entry's id (0 for none) among the changes the board may read: it grows with
    every such change, an import included."""
    newest = select(func.max(AuditEntry.id)).where(AuditEntry.object_type.not_in(UNREAD_CHANGES))
    return int(session.scalar(newest) or 0)


def _condition_text(session: Session, condition: ColumnElement[bool]) -> str:
    compiled = condition.compile(dialect=session.get_bind().dialect)
    return f"{compiled}|{sorted(compiled.params.items())!r}"


def key_of(
    session: Session,
    context: PlanContext,
    viewer: str,
    periods: Sequence[Period],
    baseline: Period,
    freshness_days: int,
) -> str:
    """A digest of everything one priority's inputs are read with."""
    parts = [
        FORMAT,
        f"unit {context.unit_id}",
        viewer,
        f"periods {baseline.label} {' '.join(period.label for period in periods)}",
        f"stale {freshness_days}",
        f"priority {context.priority.id} chain {context.chain_ids}",
        _condition_text(session, context.counts_toward),
        _condition_text(session, context.off_strategy),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def encode(inputs: Inputs) -> bytes:
    """One priority's inputs as compressed JSON, with the whole unit's forecast spreads simulated."""

    def per_owner(table: dict[str, dict[Owner, Any]]) -> dict[str, list[list[Any]]]:
        return {
            label: [[owner, *astuple(value)] for owner, value in rows.items()]
            for label, rows in table.items()
        }

    spreads = {period.label: inputs.spread(period.label, None) for period in inputs.periods}
    document = {
        "effort": per_owner(inputs.effort),
        "outcomes": {
            label: [
                [owner, value.won, value.lost, value.won_cents, sorted(value.cycle_days.items())]
                for owner, value in rows.items()
            ]
            for label, rows in inputs.outcomes.items()
        },
        "evidence": per_owner(inputs.evidence),
        # Nested as text: a board with its spreads stored never needs the deals, and reading the
        # outer document then skips them as one string (most of the payload).
        "forecast": json.dumps(
            {
                label: [deals.owners, deals.cents, deals.probabilities]
                for label, deals in inputs.forecast.items()
            },
            separators=(",", ":"),
        ),
        "initiatives": {
            label: [[owner, total, missing] for owner, (total, missing) in rows.items()]
            for label, rows in inputs.initiatives.items()
        },
        "spreads": {label: None if spread is None else astuple(spread) for label, spread in spreads.items()},
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode())


class _LazyForecast(Mapping[str, queries.ForecastDeals]):
    """The forecast deals per period label, decoded from their JSON text on first use."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._deals: dict[str, queries.ForecastDeals] | None = None

    def _decoded(self) -> dict[str, queries.ForecastDeals]:
        if self._deals is None:
            self._deals = {
                label: queries.ForecastDeals(owners, cents, probabilities)
                for label, (owners, cents, probabilities) in json.loads(self._text).items()
            }
        return self._deals

    def __getitem__(self, label: str) -> queries.ForecastDeals:
        return self._decoded()[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def decode(payload: bytes, periods: Sequence[Period], baseline: Period) -> Inputs:
    """The inputs ``encode`` stored, for the window of periods they were read for."""
    document = json.loads(zlib.decompress(payload))
    return Inputs(
        periods=list(periods),
        baseline=baseline,
        effort={
            label: {row[0]: compute.Effort(*row[1:]) for row in rows}
            for label, rows in document["effort"].items()
        },
        outcomes={
            label: {
                owner: compute.Outcomes(won, lost, cents, {int(day): count for day, count in days})
                for owner, won, lost, cents, days in rows
            }
            for label, rows in document["outcomes"].items()
        },
        evidence={
            label: {row[0]: compute.Evidence(*row[1:]) for row in rows}
            for label, rows in document["evidence"].items()
        },
        forecast=_LazyForecast(document["forecast"]),
        initiatives={
            label: {owner: (total, missing) for owner, total, missing in rows}
            for label, rows in document["initiatives"].items()
        },
        unit_spreads={
            label: None if values is None else compute.Spread(*values)
            for label, values in document["spreads"].items()
        },
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Decoding builds tens of thousands of small containers at once, none of them in a cycle; the
    cyclic garbage collector would walk them again and again meanwhile (at demo ``--scale 10``, half
    of decoding's 0.13 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _usable(
    session: Session, keys: list[str], *, now: dt.datetime, stamp: int, max_age: dt.timedelta
) -> list[BoardSnapshot] | None:
    rows = {row.key: row for row in session.scalars(select(BoardSnapshot).where(BoardSnapshot.key.in_(keys)))}
    found = [rows.get(key) for key in keys]
    usable = [
        row
        for row in found
        if row is not None
        and now - max_age <= row.computed_at <= now
        and (row.data_stamp == stamp or row.compute_seconds >= LIVE_UNDER_SECONDS)
    ]
    return usable if len(usable) == len(keys) else None


def _store(
    session: Session,
    contexts: Sequence[PlanContext],
    keys: list[str],
    inputs: list[Inputs],
    *,
    period: str,
    now: dt.datetime,
    stamp: int,
    seconds: float,
) -> bool:
    """Replace the snapshots of ``keys``; skipped, not waited for, while another writer holds the
    database (a long import on SQLite): the board is then simply read again next time."""
    rows = [
        {
            "key": key,
            "org_unit_id": context.unit_id,
            "priority_id": context.priority.id,
            "period": period,
            "computed_at": now,
            "data_stamp": stamp,
            "compute_seconds": seconds,
            "payload": encode(item),
        }
        for key, context, item in zip(keys, contexts, inputs, strict=True)
    ]
    try:
        # The savepoint ends before the lock wait is restored: on PostgreSQL a failed statement
        # leaves the transaction unusable until its savepoint is rolled back.
        with no_lock_wait(session), session.begin_nested():
            session.execute(
                delete(BoardSnapshot).where(
                    or_(BoardSnapshot.key.in_(keys), BoardSnapshot.computed_at < now - KEEP)
                )
            )
            session.execute(insert(BoardSnapshot), rows)
    except (OperationalError, IntegrityError) as exc:
        # Another writer's lock, or a concurrent request storing the same key first.
        if isinstance(exc, OperationalError) and not is_write_conflict(exc):
            raise
        log.info("board snapshot not stored (%s); it is read afresh next time", exc.orig)
        return False
    return True


def forget_all(session: Session) -> None:
    """Delete every snapshot: every board is read afresh at its next view."""
    session.execute(delete(BoardSnapshot))


def read(
    session: Session,
    contexts: Sequence[PlanContext],
    scopes: Scopes,
    periods: Sequence[Period],
    baseline: Period,
    *,
    viewer: User | None,
    now: dt.datetime,
    freshness: Freshness | None,
) -> Reading:
    """Every priority's inputs: from usable snapshots, else read (and stored when ``freshness`` is
    given; ``None`` reads afresh and stores nothing)."""
    if freshness is None:
        return Reading(read_inputs(session, contexts, scopes, periods, baseline, now=now), now, False, False)
    freshness_days = stale_days(session)
    who = viewer_class(viewer)
    keys = [key_of(session, context, who, periods, baseline, freshness_days) for context in contexts]
    stamp = data_stamp(session)
    if not freshness.refresh:
        found = _usable(session, keys, now=now, stamp=stamp, max_age=freshness.max_age)
        if found is not None:
            with _collector_paused():
                inputs = [decode(row.payload, periods, baseline) for row in found]
            return Reading(
                inputs=inputs,
                as_of=min(row.computed_at for row in found),
                from_snapshot=True,
                changed_since=any(row.data_stamp != stamp for row in found),
            )
    started = time.perf_counter()
    inputs = read_inputs(session, contexts, scopes, periods, baseline, now=now)
    seconds = time.perf_counter() - started
    _store(session, contexts, keys, inputs, period=periods[-1].label, now=now, stamp=stamp, seconds=seconds)
    return Reading(inputs, now, False, False)
