"""The gap scan: every detector set-wise, signals raised, refreshed and resolved with a few statements per kind.

For each kind the detector's hits are matched once to the kind's open signals into a scratch
(temporary) table (``fill_matched``): the new gaps, the signals found again whose contents changed,
and the open signals no hit found again (on PostgreSQL one FULL JOIN that leaves out the signals
found again unchanged; on SQLite an outer join per hit on the open-signal index, then the signals
no hit found). Then one UPDATE resolves the signals no hit found, one UPDATE rewrites the changed
ones (a scoped scan also stamps those found again as seen), and one INSERT … SELECT raises the new
gaps. When nothing of a kind is open in scope the detector's rows go straight into ``gap_signal``;
a first full scan (nothing open at all) also drops the signal table's secondary indexes and builds
them once at the end. No deal is ever loaded into Python, so the scan costs a handful of statements
per detector whatever the number of deals. On large databases a second connection detects about
half of the kinds (``helper``, ``pg_helper``); in a re-scan it matches them too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import CompoundSelect, FromClause, Select

from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.connectors.models import ImportRun
from bridgehead.connectors.report import ImportReport
from bridgehead.crm.models import Account, Opportunity
from bridgehead.db import analyze_scratch, sqlite_index_build, sqlite_page_cache
from bridgehead.deals.compliance import import_scope
from bridgehead.deals.models import SalesProcess
from bridgehead.deals.process import ProcessContext, processes
from bridgehead.intelligence.gaps import detect_activity, detect_deals, scratch
from bridgehead.intelligence.gaps.helper import (
    HelperFailed,
    HelperKind,
    can_help,
    helper_rows,
    matched_rows,
    start_helper,
)
from bridgehead.intelligence.gaps.models import GapKind, GapKindScan, GapRule, GapSignal
from bridgehead.intelligence.gaps.pg_helper import (
    SIGNAL_COLUMNS,
    HelperHits,
    PostgresHelper,
    SharedKinds,
    tagged_hits,
)
from bridgehead.intelligence.gaps.rules import EffectiveRule, effective_rules
from bridgehead.intelligence.gaps.service import full_scan_times
from bridgehead.intelligence.gaps.sqltools import HIT_COLUMNS, DetectContext, Detection, subject_keys_of

Detector = Callable[[Session, DetectContext], Detection]

DETECTORS: dict[GapKind, Detector] = {
    GapKind.SINGLE_THREADED: detect_deals.single_threaded,
    GapKind.NO_ECONOMIC_BUYER: detect_deals.no_economic_buyer,
    GapKind.SLOW_FOLLOW_UP: detect_activity.slow_follow_up,
    GapKind.STALE_DEAL: detect_activity.stale_deal,
    GapKind.QUALIFICATION_INCOMPLETE: detect_deals.qualification_incomplete,
    GapKind.CLOSE_DATE_PUSHED: detect_activity.close_date_pushed,
    GapKind.CLOSE_DATE_PAST: detect_activity.close_date_past,
    GapKind.MISSING_FIELDS: detect_deals.missing_fields,
    GapKind.OFF_STRATEGY: detect_activity.off_strategy,
    GapKind.NO_ACTION_PLAN: detect_deals.no_action_plan,
    GapKind.ACTION_PLAN_OVERDUE: detect_deals.action_plan_overdue,
    GapKind.HANDOFF_NOT_ACCEPTED: detect_deals.handoff_not_accepted,
}


def detected_rows(
    session: Session,
    kind: GapKind,
    rule: EffectiveRule,
    contexts: Sequence[ProcessContext],
    now: dt.datetime,
    scope: ScanScope | None = None,
) -> Select[Any]:
    """The hits of ``kind``'s detector (a SELECT of the hit columns) over ``scope``, or every deal."""
    context = DetectContext(
        dialect=session.get_bind().dialect.name,
        now=now,
        rule=rule,
        contexts=contexts,
        deal_scope=scope.deals if scope is not None else true(),
        account_scope=scope.accounts if scope is not None else None,
        scope_deal_ids=scope.deal_ids() if scope is not None else None,
    )
    return DETECTORS[kind](session, context).rows


# Most to least expensive on SQLite at 1,000,000 deals (bench_gaps): with a helper connection both
# take kinds in this order, so the long detectors start first and the short ones even out the end.
COST_ORDER = (
    GapKind.QUALIFICATION_INCOMPLETE,
    GapKind.SINGLE_THREADED,
    GapKind.CLOSE_DATE_PUSHED,
    GapKind.SLOW_FOLLOW_UP,
    GapKind.STALE_DEAL,
    GapKind.CLOSE_DATE_PAST,
    GapKind.NO_ACTION_PLAN,
    GapKind.NO_ECONOMIC_BUYER,
    GapKind.MISSING_FIELDS,
    GapKind.HANDOFF_NOT_ACCEPTED,
    GapKind.ACTION_PLAN_OVERDUE,
    GapKind.OFF_STRATEGY,
)

# Below this many deals a full scan runs on its own connection: starting the helper's interpreter
# and connection (about a second) would cost more than the helper saves (at 1,000,000 deals it
# saved 4-5 s of 15-16 s of detection).
HELPER_MIN_DEALS = 200_000

# With PostgreSQL's helper connection, which kinds each side takes first (then whatever is left,
# most expensive first). The scan's own connection writes every signal, the helper's hits too
# (copied in as each kind finishes), so it takes the kinds that write many rows for little
# detection (stale deals, close dates past) first and the detection-heavy ones last; the helper
# takes the kinds that read the deal stages, so that the scan's connection need not fill them at
# all (``scratch.ScanScratch``). At 1,000,000 deals a first scan's detection ended about 0.5 s
# sooner than with both taking kinds in cost order, the stages filled on both. (SQLite's helper
# process hands its hits over only at its end: there both take kinds in cost order.)
WRITER_ORDER = (
    GapKind.STALE_DEAL,
    GapKind.CLOSE_DATE_PAST,
    GapKind.HANDOFF_NOT_ACCEPTED,
    GapKind.OFF_STRATEGY,
    GapKind.CLOSE_DATE_PUSHED,
    GapKind.SLOW_FOLLOW_UP,
)
HELPER_ORDER = tuple(kind for kind in COST_ORDER if kind in scratch.STAGED_KINDS)

# Partial indexes a first scan's rows stay out of: nothing is resolved yet, and only account
# subjects (a few thousand of 1.4 million signals at 1,000,000 deals) name an account. Rebuilding
# one after the insert would read the whole table again for those few entries.
KEPT_BY_A_FIRST_SCAN = frozenset({"ix_gap_signal_owner_id_resolved_at", "ix_gap_signal_account_id"})

# Core statements on the table (not the ORM class): row counts come back on both databases.
_signals: Table = GapSignal.__table__  # type: ignore[assignment]
_hits = scratch.hits


@dataclass(frozen=True)
class ScanScope:
    """Which deals (a condition over ``Opportunity``) and accounts (a subquery of ids) a scan covers."""

    deals: ColumnElement[bool]
    accounts: Select[Any] | CompoundSelect[Any] | None = None
    # The deal ids and subject keys ``scan`` held in scratch tables for the scan (``scratch.ScanScratch``).
    held_deal_ids: Select[Any] | None = None
    held_subject_keys: Select[Any] | None = None

    def deal_ids(self) -> Select[Any]:
        """The ids of the deals in scope: those held for the scan, else selected by ``deals``."""
        return (
            self.held_deal_ids if self.held_deal_ids is not None else select(Opportunity.id).where(self.deals)
        )

    def subject_keys(self) -> Select[Any] | CompoundSelect[Any]:
        """The subject keys of the deals and accounts in scope (every account's when ``accounts`` is None)."""
        if self.held_subject_keys is not None:
            return self.held_subject_keys
        return subject_keys_of(self.deal_ids(), self.accounts)


@dataclass
class KindResult:
    """What one detector did in a scan."""

    kind: GapKind
    raised: int = 0
    still_open: int = 0
    resolved: int = 0
    enabled: bool = True


@dataclass
class ScanResult:
    """What a scan did, per kind in detector order; which kinds a helper process detected, and why
    a helper that was started failed (its kinds then ran on the scan's own connection)."""

    kinds: list[KindResult] = field(default_factory=list)
    helper_kinds: list[GapKind] = field(default_factory=list)
    helper_error: str | None = None

    @property
    def raised(self) -> int:
        """New signals over all kinds."""
        return sum(item.raised for item in self.kinds)

    @property
    def still_open(self) -> int:
        """Signals found again over all kinds."""
        return sum(item.still_open for item in self.kinds)

    @property
    def resolved(self) -> int:
        """Signals closed over all kinds."""
        return sum(item.resolved for item in self.kinds)


def _in_scope(scope: ScanScope | None) -> ColumnElement[bool]:
    """Open signals a scoped scan may resolve: those whose deal (or account, for account subjects) it
    covered, matched on the subject key. (As "the deal in scope, or else the account", an OR, the
    planner could not join the scope to the signals: for each open signal of a kind it searched
    the list of deals in scope, unhashed once the list outgrew ``work_mem``; a scan of every deal
    of 1,000,000 ran for more than 11 minutes in one such statement.)"""
    if scope is None:
        return true()
    return GapSignal.subject_key.in_(scope.subject_keys())


def _resolve(
    session: Session,
    kind: GapKind,
    condition: ColumnElement[bool],
    now: dt.datetime,
    seen_by_full_scan: dt.datetime | None,
) -> int:
    """Resolve the kind's open signals meeting ``condition``; each keeps its last sighting for good
    (the kind's last full scan, when later than its own stamp)."""
    values: dict[str, Any] = {"resolved_at": now}
    if seen_by_full_scan is not None:
        values["last_seen_at"] = case(
            (GapSignal.last_seen_at < seen_by_full_scan, literal(seen_by_full_scan, UTCDateTime())),
            else_=GapSignal.last_seen_at,
        )
    result = session.execute(
        update(_signals)
        .where(GapSignal.kind == kind, GapSignal.resolved_at.is_(None), condition)
        .values(**values)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _stamp_full_scans(session: Session, kinds: list[GapKind], now: dt.datetime) -> None:
    """Record that ``kinds`` were just scanned over every deal (``GapKindScan``)."""
    if not kinds:
        return
    values = [kind.value for kind in kinds]
    session.execute(delete(GapKindScan).where(GapKindScan.kind.in_(values)))
    session.execute(insert(GapKindScan), [{"kind": kind, "full_scan_at": now} for kind in values])


def _apply(
    session: Session,
    kind: GapKind,
    rows: Select[Any],
    severity: Any,
    scope: ScanScope | None,
    now: dt.datetime,
    *,
    nothing_open: bool = False,
    seen_by_full_scan: dt.datetime | None = None,
    open_before: int | None = None,
) -> KindResult:
    """Raise, refresh and resolve one kind's signals from its detector's ``rows``.

    ``open_before``: how many of the kind's signals are open, counted by the caller for a full
    re-scan (``_open_counts``); a scoped scan counts those it finds again among its hits.
    """
    open_in_scope = and_(GapSignal.kind == kind, GapSignal.resolved_at.is_(None), _in_scope(scope))
    # In the open-signal index's order: planned as a sequential scan stopping at the first match,
    # PostgreSQL read 800,000 signals of the kinds written before this one (0.12 s) to find it.
    anything_open = select(literal(1)).where(open_in_scope).order_by(GapSignal.subject_key).limit(1)
    if nothing_open or session.scalar(anything_open) is None:
        return _raise_all(session, kind, rows, severity, now)
    scratch.empty(session, _hits)
    fill_matched(session, _hits, rows, kind, severity, scope)
    return _write_matched(session, kind, _hits, severity, scope, now, open_before, seen_by_full_scan)


def _open_counts(session: Session) -> dict[str, int]:
    """How many signals of each kind are open: one pass for a full re-scan. (Counted per kind, the
    open-signal index of PostgreSQL is read with a visit to the table per entry until a vacuum
    marks the pages all-visible, so each count read the whole table instead: 0.2 s a kind at
    1,000,000 deals, against 0.3 s for all of them at once.)"""
    counts = session.execute(
        select(GapSignal.kind, func.count()).where(GapSignal.resolved_at.is_(None)).group_by(GapSignal.kind)
    )
    return {str(kind): int(count) for kind, count in counts}


def _write_matched(
    session: Session,
    kind: GapKind,
    hits: FromClause,
    severity: Any,
    scope: ScanScope | None,
    now: dt.datetime,
    open_before: int | None,
    seen_by_full_scan: dt.datetime | None,
) -> KindResult:
    """Write a kind's matched hits (``fill_matched``): resolve the open signals no hit found again,
    rewrite the matched ones whose contents changed, raise the hits that matched nothing.
    ``open_before``: how many of the kind's signals were open before, or None when ``hits`` holds
    every signal found again (they are counted there).
    """
    matched, gone = hits.c.signal_id, hits.c.subject_key.is_(None)
    raised, found = session.execute(
        select(
            func.count().filter(matched.is_(None)), func.count().filter(matched.is_not(None), ~gone)
        ).select_from(hits)
    ).one()
    # Resolved first: a signal inserted below matches no hit and would be resolved at once.
    resolved = _resolve(session, kind, GapSignal.id.in_(select(matched).where(gone)), now, seen_by_full_scan)
    if scope is not None:
        # A scoped scan stamps each signal it finds again; a full scan stamps the kind once
        # (``GapKindScan``) instead.
        session.execute(
            update(_signals)
            .where(GapSignal.id.in_(select(matched).where(matched.is_not(None), ~gone)))
            .values(last_seen_at=now)
        )
    # Only the signals whose contents changed are rewritten: a re-scan that finds the same gaps
    # touches no signal at all (the owner index and the texts stay as they are).
    session.execute(
        update(_signals)
        .where(GapSignal.id == matched, hits.c.changed.is_(True))
        .values(
            severity=severity,
            owner_id=hits.c.owner_id,
            amount_at_risk=hits.c.amount_at_risk,
            evidence=hits.c.evidence,
        )
    )
    session.execute(_insert_new_signals(_as_new_signals(hits, kind, severity, now).where(matched.is_(None))))
    found_again = found if open_before is None else open_before - resolved
    return KindResult(kind=kind, raised=int(raised), still_open=int(found_again), resolved=resolved)


def _raised_since(session: Session, kind: GapKind, before: int) -> int:
    """The ``kind`` signals with an id above ``before``: those just inserted, counted on the primary
    key (Python's sqlite3 reports a row count of -1 for a statement that starts with WITH, and a
    detector's CTE is written in front of its INSERT)."""
    return (
        session.scalar(
            select(func.count()).select_from(GapSignal).where(GapSignal.id > before, GapSignal.kind == kind)
        )
        or 0
    )


def fill_matched(
    session: Session,
    hits: Table,
    rows: Select[Any],
    kind: GapKind,
    severity: Any,
    scope: ScanScope | None,
) -> None:
    """Fill ``hits`` (empty, ``HIT_COLUMNS`` + ``signal_id`` + ``changed``) with a kind's hits matched
    to its open signals in scope: the new gaps (``signal_id`` null), the signals found again, each
    with whether its owner, money, severity or evidence ``changed``, and, with ``subject_key`` null,
    the ids of the open signals no hit found again.

    A full scan on PostgreSQL leaves out the signals found again unchanged: one FULL JOIN of the
    hits and the kind's open signals (``matched_changes``). Otherwise every hit is written with the
    open signal it found (one outer join on the open-signal index per hit, ``matched_hits``), then
    the signals in scope no hit found. (SQLite plans a FULL JOIN of two subqueries as a nested
    scan of one for every row of the other; a scoped scan stamps the signals it finds again, and
    its few deals are looked up faster one by one than by reading every open signal of the kind.)
    """
    columns = list(scratch.MATCHED_COLUMNS)
    if scope is None and session.get_bind().dialect.name == "postgresql":
        session.execute(insert(hits).from_select(columns, matched_changes(rows, kind, severity)))
    else:
        session.execute(insert(hits).from_select(columns, matched_hits(rows, kind, severity)))
        not_found = select(GapSignal.id, false()).where(
            GapSignal.kind == kind,
            GapSignal.resolved_at.is_(None),
            _in_scope(scope),
            ~exists().where(hits.c.signal_id == GapSignal.id),
        )
        session.execute(insert(hits).from_select(["signal_id", "changed"], not_found))
    analyze_scratch(session, hits)


def matched_hits(rows: Select[Any], kind: GapKind, severity: Any) -> Select[Any]:
    """The detector's hits, each with the open ``kind`` signal of its subject (its id, or null for a
    new gap) and whether that signal's owner, money, severity or evidence differ from the hit's.

    One outer join on the open-signal unique index per hit. (Before, the scan looked each hit up
    again for the count found again, the changed rows, the count raised and the insert of new
    ones: 4 lookups per hit, about 5 of the 22 s of a PostgreSQL re-scan at 1,000,000 deals.)
    """
    detected = rows.subquery()
    open_signal = and_(
        GapSignal.kind == kind,
        GapSignal.resolved_at.is_(None),
        GapSignal.subject_key == detected.c.subject_key,
    )
    changed = and_(GapSignal.id.is_not(None), _differs(GapSignal, detected, severity))
    return select(
        *[detected.c[name] for name in HIT_COLUMNS],
        GapSignal.id.label("signal_id"),
        case((changed, true()), else_=false()).label("changed"),
    ).select_from(detected.outerjoin(_signals, open_signal))


def matched_changes(rows: Select[Any], kind: GapKind, severity: Any) -> Select[Any]:
    """PostgreSQL, a full scan: what ``fill_matched`` writes, as one SELECT (a FULL JOIN of the
    detector's hits and the kind's open signals on the subject key).

    Hashing the open signals once replaces a lookup of the open-signal index per hit, and the
    signals found again unchanged (in a nightly re-scan nearly all of them) are never written:
    at 1,000,000 deals a kind of 214,000 to 286,000 hits took 1.4-1.7 s instead of 2.2-2.8 s, the
    statement that resolves the signals no hit found included.
    """
    detected = rows.subquery()
    open_signals = (
        select(
            GapSignal.id,
            GapSignal.subject_key,
            GapSignal.severity,
            GapSignal.owner_id,
            GapSignal.amount_at_risk,
            GapSignal.evidence,
        )
        .where(GapSignal.kind == kind, GapSignal.resolved_at.is_(None))
        .subquery()
    )
    found = and_(open_signals.c.id.is_not(None), detected.c.subject_key.is_not(None))
    changed = and_(found, _differs(open_signals.c, detected, severity))
    statement = select(
        *[detected.c[name] for name in HIT_COLUMNS],
        open_signals.c.id.label("signal_id"),
        case((changed, true()), else_=false()).label("changed"),
    ).select_from(
        detected.join(open_signals, open_signals.c.subject_key == detected.c.subject_key, full=True)
    )
    return statement.where(or_(~found, changed))


def _differs(signal: Any, hit: Any, severity: Any) -> ColumnElement[bool]:
    """Whether an open signal's (``signal.*``) owner, money, severity or evidence differ from a hit's."""
    return or_(
        signal.severity != severity,
        signal.owner_id.is_distinct_from(hit.c.owner_id),
        signal.amount_at_risk.is_distinct_from(hit.c.amount_at_risk),
        cast(signal.evidence, Text).is_distinct_from(cast(hit.c.evidence, Text)),
    )


def _as_new_signals(hits: Any, kind: GapKind, severity: Any, now: dt.datetime) -> Select[Any]:
    """``hits`` (a table or subquery with ``HIT_COLUMNS``) as new ``kind`` signals raised and seen at
    ``now``, in ``SIGNAL_COLUMNS`` order. (``pg_helper.tagged_hits`` is the same for COPY's
    binary format, with every value cast to its column's type.)"""
    return select(
        literal(kind.value, String()),
        literal(severity.value, String()),
        *[hits.c[name] for name in HIT_COLUMNS],
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    )


def _insert_new_signals(new_signals: Select[Any]) -> Insert:
    """INSERT … SELECT of rows in ``SIGNAL_COLUMNS`` order into ``gap_signal``."""
    return insert(_signals).from_select(list(SIGNAL_COLUMNS), new_signals)


def _raise_all(
    session: Session, kind: GapKind, rows: Select[Any], severity: Any, now: dt.datetime
) -> KindResult:
    """Nothing of this kind is open in scope (a first scan, or all cleared): every hit is a new signal.

    One INSERT … SELECT straight from the detector, without the scratch copy and the per-hit
    "already open?" lookups. The new rows are those above the highest id before the insert
    (``_raised_since``).
    """
    before = session.scalar(select(func.coalesce(func.max(GapSignal.id), 0))) or 0
    session.execute(_insert_new_signals(_as_new_signals(rows.subquery(), kind, severity, now)))
    return KindResult(kind=kind, raised=_raised_since(session, kind, before))


def _nothing_open(session: Session) -> bool:
    """No open signal of any kind (the partial unique index answers it)."""
    first_open = (
        select(literal(1))
        .where(GapSignal.resolved_at.is_(None))
        .order_by(GapSignal.kind, GapSignal.subject_key)
        .limit(1)
    )
    return session.scalar(first_open) is None


@contextmanager
def indexes_built_afterwards(session: Session, bulk: bool) -> Iterator[None]:
    """When ``bulk`` (a first full scan), drop ``gap_signal``'s secondary indexes and build them at the end.

    A first scan writes every signal (about 1.4 million at 1,000,000 deals); keeping the indexes
    up to date row by row costs more than writing the rows, while building an index from the
    finished table is one sort. The partial indexes a first scan's rows stay out of
    (``KEPT_BY_A_FIRST_SCAN``) are left in place: building one reads the whole table for a handful
    of entries. The drop, the inserts and the builds are one transaction: if the scan fails
    nothing changed. The drop locks the signal table (and only it: the table has no
    foreign keys, see ``GapSignal``) against readers until the scan commits, which a first scan
    can afford. On PostgreSQL the table is analysed at the end.
    """
    if not bulk:
        yield
        return
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    indexes = sorted(
        (index for index in _signals.indexes if index.name not in KEPT_BY_A_FIRST_SCAN),
        key=lambda index: str(index.name),
    )
    for index in indexes:
        index.drop(connection)
    yield
    if postgres:
        session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    with sqlite_index_build(session):
        for index in indexes:
            index.create(connection)
    if postgres:
        # Statistics for the rows just written: planned as the empty table it was, the metrics'
        # strategy adoption hashed 930,000 signals in four batches per worker (1.9 s, not 0.4 s),
        # and autovacuum may be off or a minute away.
        connection.exec_driver_sql(f"ANALYZE {_signals.name}")


def scan(
    session: Session,
    *,
    kinds: list[GapKind] | None = None,
    scope: ScanScope | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[KindResult], None] | None = None,
    helper_engine: Engine | None = None,
    helper_min_deals: int = HELPER_MIN_DEALS,
) -> ScanResult:
    """Run the detectors (all, or ``kinds``) over every deal, or over ``scope``; flush, never commit.

    A disabled rule resolves its open signals: the playbook no longer asks for it.
    ``progress`` is called after each detector with what it did (with a helper, in the order the
    detectors finish); the result lists the kinds in the order asked.

    ``helper_engine``: an engine on the same database. A full scan of a SQLite file with
    ``helper_min_deals`` deals or more then runs about half of the detectors in a helper process
    with its own connection (``gaps.helper``); on PostgreSQL a full scan runs them on a second
    connection in a thread (``gaps.pg_helper``). Pass it only when this session's
    transaction has written nothing the detectors read: the helper sees committed rows only. For a
    scoped scan or for fewer deals (where starting a helper costs more than it saves) it is not used.
    """
    now = now or utcnow()
    # Checked before the rules and processes are read: reading them writes the defaults on first
    # use, and a helper would not see rows this transaction wrote.
    defaults_stored = helper_engine is not None and _defaults_stored(session)
    rules = effective_rules(session)
    contexts = processes(session)
    todo = kinds or list(DETECTORS)
    finished: dict[GapKind, KindResult] = {}
    bulk = scope is None and _nothing_open(session)
    full_scans = full_scan_times(session)
    # A full re-scan counts every kind's open signals at once; a scoped one counts those it finds
    # again among its hits (``_write_matched``).
    open_counts = _open_counts(session) if scope is None and not bulk else None
    if scope is None:
        tables = scratch.ScanScratch(session, contexts)
    else:  # the scope's ids, held once for every detector
        tables = scratch.ScanScratch(session, contexts, scope.deals, scope.accounts)
        scope = ScanScope(tables.deal_scope, tables.account_scope, tables.deal_ids, tables.subject_keys)

    def rows_here(kind: GapKind) -> Select[Any]:
        """``kind``'s hits detected on this connection; the deal stages filled first if it reads them."""
        tables.prepare_for(kind)
        return detected_rows(session, kind, rules[kind], contexts, now, scope)

    def finish(item: KindResult) -> None:
        finished[item.kind] = item
        if progress is not None:
            progress(item)

    def take_matched(kind: GapKind, hits: FromClause) -> KindResult:
        """A kind a helper detected and matched itself (a re-scan): ``hits`` as ``fill_matched`` writes them."""
        seen = full_scans.get(kind.value)
        open_before = (open_counts or {}).get(kind.value, 0)
        return _write_matched(session, kind, hits, rules[kind].severity, None, now, open_before, seen)

    def run_here(kind: GapKind, rows: Select[Any] | None = None) -> KindResult:
        rule = rules[kind]
        seen = full_scans.get(kind.value)
        if not rule.enabled:
            resolved = 0 if bulk else _resolve(session, kind, _in_scope(scope), now, seen)
            return KindResult(kind=kind, enabled=False, resolved=resolved)
        if rows is None:  # the helper's hits come as a SELECT of their own
            rows = rows_here(kind)
        return _apply(
            session,
            kind,
            rows,
            rule.severity,
            scope,
            now,
            nothing_open=bulk,
            seen_by_full_scan=seen,
            open_before=open_counts.get(kind.value, 0) if open_counts is not None else None,
        )

    enabled = [kind for kind in todo if rules[kind].enabled]
    helper_kinds: list[GapKind] = []
    helper_error: str | None = None
    helper = (
        _helper_dialect(session, helper_engine, scope, enabled, helper_min_deals) if defaults_stored else None
    )
    if helper is not None:
        for kind in todo:
            if kind not in enabled:
                finish(run_here(kind))
    if helper == "postgresql":
        assert helper_engine is not None
        two = _PostgresTwoConnections(session, helper_engine, enabled, rules, rows_here, now)
        if bulk:
            helper_kinds, helper_error = two.first_scan(finish)
        else:

            def copy_in_matched(hits: HelperHits) -> KindResult:
                scratch.empty(session, _hits)
                _copy_in(session, _hits.name, scratch.MATCHED_COLUMNS, hits.spool)
                analyze_scratch(session, _hits)
                return take_matched(hits.kind, _hits)

            helper_kinds, helper_error = two.rescan(run_here, copy_in_matched, finish)
    else:
        # SQLite: a larger page cache. A first scan writes hundreds of thousands of signals; with the
        # default 2 MB cache the pages are evicted and re-read all the time (about 30 % of the scan at
        # 200,000 deals). The shared 256 MB counts toward the peak RSS; 1 GB was tried at 1,000,000
        # deals and was not faster (the ~600 MB a first scan writes spill either way).
        with sqlite_page_cache(session), indexes_built_afterwards(session, bulk):
            if helper == "sqlite":
                assert helper_engine is not None

                def take_helped(item: HelperKind) -> KindResult:
                    if not item.matched:  # a first scan: the helper's hits are all new
                        return run_here(item.kind, helper_rows(item))
                    return take_matched(item.kind, matched_rows(item))

                helper_kinds, helper_error = _run_with_helper(
                    session, helper_engine, enabled, rules, now, tables, run_here, take_helped, finish, bulk
                )
            else:
                for kind in todo:
                    finish(run_here(kind))
    if scope is None:
        _stamp_full_scans(session, enabled, now)
    scratch.clear(session)
    session.flush()
    return ScanResult(
        kinds=[finished[kind] for kind in todo], helper_kinds=helper_kinds, helper_error=helper_error
    )


def store_defaults(session: Session) -> None:
    """Write the gap rules' and sales processes' defaults where missing; flush, never commit.

    ``bridgehead gaps scan`` commits them before it scans, so a first scan can use a helper
    connection (which sees committed rows only).
    """
    effective_rules(session)
    processes(session)


def _defaults_stored(session: Session) -> bool:
    """Whether every kind's rule and a sales process are stored, so reading them writes nothing."""
    stored_rules = session.scalar(select(func.count()).select_from(GapRule)) or 0
    return stored_rules >= len(GapKind) and session.scalar(select(SalesProcess.id).limit(1)) is not None


def _helper_dialect(
    session: Session, engine: Engine | None, scope: ScanScope | None, enabled: list[GapKind], min_deals: int
) -> str | None:
    """Which helper pays for this scan: ``"sqlite"`` (a process, for a full scan of a SQLite file),
    ``"postgresql"`` (a thread, for a full scan there) or None. Either needs ``min_deals``
    deals or more, two detectors or more and two cores."""
    if engine is None or scope is not None or len(enabled) < 2 or not can_help():
        return None
    dialect = session.connection().dialect.name
    if engine.dialect.name != dialect or dialect not in ("sqlite", "postgresql"):
        return None
    database = str(engine.url.database or "")
    if dialect == "sqlite" and (database in ("", ":memory:") or database.startswith("file::memory:")):
        return None
    if (session.scalar(select(func.count()).select_from(Opportunity)) or 0) < min_deals:
        return None
    return dialect


def _copy_in(session: Session, target: str, columns: Sequence[str], spool: IO[bytes]) -> None:
    """Copy rows the PostgreSQL helper copied out (COPY's binary format, ``columns`` in this order)
    into the table ``target``."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN (FORMAT binary)") as copy,
    ):
        while chunk := spool.read(1 << 20):
            copy.write(chunk)


@dataclass(frozen=True)
class _PostgresTwoConnections:
    """A full scan on PostgreSQL detected on the scan's connection (``session``) and a helper's
    (``engine``), both taking ``enabled`` kinds from one queue."""

    session: Session
    engine: Engine
    enabled: list[GapKind]
    rules: dict[GapKind, EffectiveRule]
    rows_here: Callable[[GapKind], Select[Any]]  # a kind's hits detected on the scan's connection
    now: dt.datetime

    def first_scan(self, finish: Callable[[KindResult], None]) -> tuple[list[GapKind], str | None]:
        """A first full scan: the signal table's indexes are dropped first
        (``indexes_built_afterwards``); this connection inserts its hits straight into
        ``gap_signal`` and copies each kind the helper finished straight in, so every signal is
        written once, by this transaction."""
        session, rules, now = self.session, self.rules, self.now

        def insert_here(kind: GapKind) -> None:
            tagged = tagged_hits(self.rows_here(kind), kind, rules[kind], now)
            result = session.execute(_insert_new_signals(tagged).execution_options(preserve_rowcount=True))
            finish(KindResult(kind=kind, raised=int(getattr(result, "rowcount", 0))))

        def copy_in(hits: HelperHits) -> None:
            _copy_in(session, _signals.name, SIGNAL_COLUMNS, hits.spool)
            finish(KindResult(kind=hits.kind, raised=hits.rows))

        # The helper starts once the indexes are gone: if dropping them fails (a reader's lock
        # outlasts the lock wait), nothing was started that would have to be stopped.
        with indexes_built_afterwards(session, True):
            return self._detect(insert_here, copy_in)

    def rescan(
        self,
        run_here: Callable[[GapKind], KindResult],
        take_matched: Callable[[HelperHits], KindResult],
        finish: Callable[[KindResult], None],
    ) -> tuple[list[GapKind], str | None]:
        """A full re-scan (signals open): the helper matches its kinds' hits to the open signals
        itself (``pg_helper``); this connection writes what it sent (``take_matched``) and
        raises, refreshes and resolves its own kinds (``run_here``)."""
        return self._detect(
            lambda kind: finish(run_here(kind)), lambda hits: finish(take_matched(hits)), match=True
        )

    def _detect(
        self,
        detect_here: Callable[[GapKind], None],
        take_in: Callable[[HelperHits], None],
        match: bool = False,
    ) -> tuple[list[GapKind], str | None]:
        """This connection runs ``detect_here`` for the kinds it takes and, between them,
        ``take_in`` for each kind the helper finished: at the end it then waits for the helper's
        last kind only, not for all of them. A failing helper leaves the kinds it had not finished
        to ``detect_here``; those it finished are kept. Returns the kinds the helper detected and
        its error, if it failed."""
        rules, now = self.rules, self.now

        def detect_rows(on: Session, processes_read: Sequence[ProcessContext], kind: GapKind) -> Select[Any]:
            return detected_rows(on, kind, rules[kind], processes_read, now)

        kinds = SharedKinds(sorted(self.enabled, key=COST_ORDER.index))
        helper = PostgresHelper(self.engine, kinds, rules, detect_rows, now, HELPER_ORDER, match)
        helped: list[GapKind] = []

        def take_in_what_the_helper_finished() -> None:
            finished = helper.take_finished()
            try:
                for hits in finished:
                    take_in(hits)
                    helped.append(hits.kind)
            finally:
                for hits in finished:  # taken from the helper, so closed (and deleted) here
                    hits.spool.close()

        helper.start()
        try:
            # This connection's own kinds first, without waiting for the helper to start; then,
            # once the helper takes part, whatever is left.
            while (kind := kinds.take(prefer=WRITER_ORDER, only_preferred=True)) is not None:
                detect_here(kind)
                take_in_what_the_helper_finished()
            helper.wait_until_it_takes_part()
            while (kind := kinds.take()) is not None:
                detect_here(kind)
                take_in_what_the_helper_finished()
            try:
                helper.collect()
                error = None
            except HelperFailed as failure:
                error = f"the gap scan's helper connection failed: {failure}"
                for left in helper.unfinished():
                    detect_here(left)
            take_in_what_the_helper_finished()
        except BaseException:
            helper.abandon()
            raise
        return helped, error


def _run_with_helper(
    session: Session,
    engine: Engine,
    enabled: list[GapKind],
    rules: dict[GapKind, EffectiveRule],
    now: dt.datetime,
    stages: scratch.ScanScratch,
    run_here: Callable[[GapKind, Select[Any] | None], KindResult],
    take_helped: Callable[[HelperKind], KindResult],
    finish: Callable[[KindResult], None],
    bulk: bool,
) -> tuple[list[GapKind], str | None]:
    """Detect here and in a helper process taking kinds from one queue; then write the helper's
    kinds here (``take_helped``). Unless ``bulk`` (a first scan, where every hit is new), the
    helper matches its hits to the open signals itself.

    Returns the kinds the helper detected, and the helper's error if it failed: the helper is
    only a speed-up, so then this connection runs the kinds the helper had taken itself.
    """
    # Take the write lock first: no other writer can commit from here on, so the helper (which
    # starts reading after this) sees exactly what this transaction sees.
    session.execute(delete(_signals).where(false()))
    url = engine.url.render_as_string(hide_password=False)
    try:
        helper = start_helper(url, sorted(enabled, key=COST_ORDER.index), now, rules, match=not bulk)
    except OSError as error:
        for alone in enabled:
            finish(run_here(alone, None))
        return [], f"the gap scan's helper process could not start: {error}"
    ran_here: set[GapKind] = set()
    try:
        # Both sides take kinds in cost order, the helper first. Unlike PostgreSQL's helper (see
        # ``WRITER_ORDER``), this one hands its hits over only when it is done, so the rows it
        # found are written here after everything else: it had better find fewer of them. The
        # deal stages are filled here while the helper's interpreter starts.
        stages.fill_stages()
        helper.wait_until_it_takes_part()
        while (kind := helper.queue.take()) is not None:
            finish(run_here(kind, None))
            ran_here.add(kind)
    except BaseException:
        helper.abandon()
        raise
    try:
        helped = helper.collect(session)
    except HelperFailed as failure:
        for left in enabled:
            if left not in ran_here:
                finish(run_here(left, None))
        return [], str(failure)
    for item in helped:
        finish(take_helped(item))
    return [item.kind for item in helped], None


# An import that wrote more deals and accounts than this share of the deals is followed by a full
# scan: at 1,000,000 deals on PostgreSQL a scan of 100,000 of them took 7.4-9.7 s, of all of them
# 39 s (SQLite 2.4-3.6 s and 14.6 s), a full scan on one connection 8.4 s (SQLite 9.0 s). A scoped
# scan stamps every signal it finds again as seen, a full scan each kind once (``GapKindScan``);
# and a full scan of a database with no signal yet (a first import) writes them the fastest way.
# Below ``SCOPED_SCAN_MIN_DEALS`` deals every scan is quick and the import keeps to its scope.
SCOPED_SCAN_MAX_SHARE = 0.1
SCOPED_SCAN_MIN_DEALS = 100_000


def import_scan_scope(session: Session, report: ImportReport) -> ScanScope | None:
    """The deals and accounts an import touched (``None``: scan everything).

    Deals written by the import, and deals on accounts it wrote. Imported activities carry no
    time of import, so an import that wrote activities widens the scan to every deal, as does an
    import that wrote more deals and accounts than ``SCOPED_SCAN_MAX_SHARE`` of all deals (from
    ``SCOPED_SCAN_MIN_DEALS`` deals).
    """
    activity = report.counts.get("activity")
    if activity is not None and activity.created + activity.updated > 0:
        return None
    written = sum(
        counts.created + counts.updated
        for entity, counts in report.counts.items()
        if entity in ("opportunity", "account")
    )
    # Fewer rows than that share of the smallest database it applies to never qualify: most imports
    # are spared counting every deal.
    if written > SCOPED_SCAN_MAX_SHARE * SCOPED_SCAN_MIN_DEALS:
        every_deal = session.scalar(select(func.count()).select_from(Opportunity)) or 0
        if every_deal >= SCOPED_SCAN_MIN_DEALS and written > SCOPED_SCAN_MAX_SHARE * every_deal:
            return None
    started = (
        session.scalar(select(ImportRun.started_at).where(ImportRun.id == report.run_id))
        if report.run_id
        else None
    )
    if started is None:
        return None
    deals = import_scope(session, report)
    accounts = select(Account.id).where(Account.updated_at >= started)
    touched_accounts = accounts.union(
        select(Opportunity.account_id).where(deals, Opportunity.account_id.is_not(None))
    )
    return ScanScope(deals=or_(deals, Opportunity.account_id.in_(accounts)), accounts=touched_accounts)


def after_import(
    session: Session, report: ImportReport, *, helper_engine: Engine | None = None
) -> ScanResult:
    """After-import step: scan only what the import touched (runs after the deal checks).

    ``helper_engine``: given when the import is committed and this transaction has written nothing
    yet, so a full scan of a large SQLite file may use a helper process (see ``scan``).
    """
    return scan(session, scope=import_scan_scope(session, report), helper_engine=helper_engine)
