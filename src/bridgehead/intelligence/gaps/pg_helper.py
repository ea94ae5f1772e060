"""A helper thread that runs some of a full scan's detectors on a second PostgreSQL connection.

PostgreSQL runs ``INSERT … SELECT`` without parallel workers, so a full scan, one detector after
the other on one connection, kept one of the server's cores busy. With this helper the scan's
connection and a second one take detectors from one queue; the helper copies each detector's hits
out (``COPY (SELECT …) TO STDOUT``, binary) into a temporary file of its own, which the scan's
connection then copies in: straight into ``gap_signal`` in a first scan, into a staging table it
raises, refreshes and resolves from in a re-scan. Every signal is still written by the scan's one
transaction. A thread suffices: both connections' work happens in the server, and the thread only
moves bytes.

In a re-scan the helper also matches its hits to the open signals, as the scan's connection does
for its own kinds (``scan.matched_changes``), and copies out only what must be written: the new and
the changed hits, and the ids of the open signals no hit found again. A re-scan that finds the same
gaps then sends almost nothing. (Before, the scan's connection copied in and matched every hit
of the helper's kinds itself: at 1,000,000 deals it was busy with them long after the helper
had finished.)

The helper reads in a transaction of its own, so it sees committed rows only: the scan offers it
only when its caller says the transaction has written nothing the detectors read. It reads
``gap_signal`` only in a re-scan, and only the open signals of the kinds it took, which the scan's
connection leaves alone until it takes the helper's results in. (A first scan drops the table's
indexes, locking it, before both connections detect.)
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import BigInteger, String, cast, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Select

from bridgehead.common.types import UTCDateTime
from bridgehead.deals.process import ProcessContext, processes
from bridgehead.intelligence.gaps import scratch
from bridgehead.intelligence.gaps.helper import HelperFailed
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.rules import EffectiveRule
from bridgehead.intelligence.gaps.sqltools import HIT_COLUMNS

# Builds a detector's SELECT of hits on a session, given the process contexts read on it.
DetectRows = Callable[[Session, Sequence[ProcessContext], GapKind], Select[Any]]

# How long the scan waits for the helper to take its first kind (connecting, preparing its
# scratch tables) before going on alone; the helper may still take kinds afterwards.
HELPER_START_TIMEOUT = 30.0

# The columns of a new signal as a first scan writes them (a helper's COPY rows too), in this order.
SIGNAL_COLUMNS = ("kind", "severity", *HIT_COLUMNS, "raised_at", "last_seen_at")


class SharedKinds:
    """The detectors of a scan, handed out once each, most expensive first, to two threads."""

    def __init__(self, kinds: Sequence[GapKind]) -> None:
        self._left = list(kinds)
        self._lock = threading.Lock()

    def take(self, prefer: Sequence[GapKind] = (), *, only_preferred: bool = False) -> GapKind | None:
        """The first kind of ``prefer`` nobody took yet, else (unless ``only_preferred``) the first
        of any left; None when there is none (or the queue was stopped)."""
        with self._lock:
            kind = next((kind for kind in prefer if kind in self._left), None)
            if kind is None and not only_preferred:
                kind = next(iter(self._left), None)
            if kind is not None:
                self._left.remove(kind)
            return kind

    def stop(self) -> None:
        """Hand out nothing more."""
        with self._lock:
            self._left = []


_BIGINT_HITS = frozenset({"opportunity_id", "account_id", "owner_id", "amount_at_risk"})


@dataclass
class HelperHits:
    """One detector's hits as the helper copied them out: ``rows`` rows in COPY's binary format in ``spool``.

    In a first scan they are new signals (``SIGNAL_COLUMNS``). In a re-scan the helper
    ``matched`` them: the rows are what ``scan.fill_matched`` writes (the new and changed hits, and
    the ids of the open signals no hit found again), in the scratch hit table's columns
    (``scratch.MATCHED_COLUMNS``).
    """

    kind: GapKind
    rows: int
    spool: IO[bytes]
    matched: bool = False


def tagged_hits(rows: Select[Any], kind: GapKind, rule: EffectiveRule, now: dt.datetime) -> Select[Any]:
    """A detector's hits as new signals raised and seen at ``now`` (``SIGNAL_COLUMNS``)."""
    columns = rows.subquery()
    return select(
        literal(kind.value, String()),
        literal(rule.severity.value, String()),
        # Every number as the signal column's BIGINT: the helper's hits travel in COPY's binary
        # format, which carries each value as its type's bytes and converts nothing.
        *[
            cast(columns.c[name], BigInteger) if name in _BIGINT_HITS else columns.c[name]
            for name in HIT_COLUMNS
        ],
        # Cast, so that COPY writes the time as PostgreSQL prints a timestamp, not as the literal's text.
        cast(literal(now, UTCDateTime()), UTCDateTime()),
        cast(literal(now, UTCDateTime()), UTCDateTime()),
    )


def hits_statement(
    rows: Select[Any], kind: GapKind, rule: EffectiveRule, now: dt.datetime, dialect: Any
) -> str:
    """``tagged_hits`` as one SQL text with its values written in.

    ``COPY (query)`` takes no bound parameters. The values are the scan's own (the time, the
    playbook's numbers, stage and segment names), quoted by SQLAlchemy's literal rendering for the
    dialect.
    """
    return copy_text(tagged_hits(rows, kind, rule, now), dialect)


def copy_text(statement: Select[Any], dialect: Any) -> str:
    """``statement`` as one SQL text with its values written in, for ``COPY (query) TO``."""
    compiled = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.paramstyle in ("pyformat", "format"):
        # The compiler doubles every % for a driver that formats parameters into the text; COPY's
        # statement goes out without parameters, so undo it as the driver would (a "60 %" in a
        # stage or segment name stayed "60 %%").
        compiled = compiled.replace("%%", "%")
    return compiled


class PostgresHelper:
    """The second connection of a full scan on PostgreSQL, run in a thread."""

    def __init__(
        self,
        engine: Engine,
        kinds: SharedKinds,
        rules: dict[GapKind, EffectiveRule],
        detect_rows: DetectRows,
        now: dt.datetime,
        prefer: Sequence[GapKind],
        match: bool = False,
    ) -> None:
        """``prefer``: the kinds the helper takes first, in this order (``scan.HELPER_ORDER``: those
        whose detectors read the deal stages, so that the scan's own connection, which writes every
        signal, need not fill them at all). ``match``: a re-scan, whose helper matches its hits to
        the open signals itself."""
        self._engine = engine
        self._prefer = prefer
        self._match = match
        self._now = now
        self._kinds = kinds
        self._rules = rules
        self._detect_rows = detect_rows
        self._taken: list[GapKind] = []
        # Finished kinds: ``_done`` holds those not yet handed to the scan (``take_finished``).
        self._finished: list[GapKind] = []
        self._done: list[HelperHits] = []
        self._done_lock = threading.Lock()
        self._error: str | None = None
        self._abandoned = threading.Event()
        self._took_part = threading.Event()
        self._connection: Connection | None = None
        self._thread = threading.Thread(target=self._run, name="gap-scan-helper", daemon=True)

    def start(self) -> None:
        """Start detecting in the background."""
        self._thread.start()

    def wait_until_it_takes_part(self, timeout: float = HELPER_START_TIMEOUT) -> None:
        """Wait until the helper took its first kind, failed or ``timeout`` passed.

        The scan's connection waits once it has run its own kinds (``scan.WRITER_ORDER``):
        without the wait, on a small database it would run every detector before the helper is
        connected.
        """
        self._took_part.wait(timeout)

    def take_finished(self) -> list[HelperHits]:
        """The kinds the helper finished since the last call; their files are the caller's to close.

        The scan copies them in between its own detectors, while the helper detects the next kind,
        instead of all of them once the helper is done.
        """
        with self._done_lock:
            finished, self._done = self._done, []
        return finished

    def collect(self) -> None:
        """Wait for the helper to finish, or raise ``HelperFailed``. Either way the kinds it finished
        come from ``take_finished`` (each was copied out whole before it counted as finished), and
        ``unfinished`` names those it took and did not finish."""
        self._thread.join()
        if self._error is not None:
            raise HelperFailed(self._error)

    def unfinished(self) -> list[GapKind]:
        """The kinds the helper took and did not finish (after ``collect``)."""
        return [kind for kind in self._taken if kind not in self._finished]

    def abandon(self) -> None:
        """Stop after the current detector (cancelling its statement), wait, and drop what was copied."""
        self._abandoned.set()
        self._kinds.stop()
        connection = self._connection
        if connection is not None and self._thread.is_alive():
            raw = connection.connection.driver_connection
            if raw is not None:
                raw.cancel()
        self._thread.join()
        self.close()

    def close(self) -> None:
        """Close (and so delete) the files of the finished kinds not taken by the scan."""
        for hits in self.take_finished():
            hits.spool.close()

    def _run(self) -> None:
        try:
            with self._engine.connect() as connection:
                self._connection = connection
                try:
                    self._detect(connection)
                finally:
                    self._connection = None
                    connection.rollback()  # reads only; the scratch tables go with the transaction
        except BaseException as error:  # reported to the scan, which carries on alone
            if not self._abandoned.is_set():
                self._error = f"{type(error).__name__}: {error}"
        finally:
            self._took_part.set()

    def _detect(self, connection: Connection) -> None:
        session = Session(bind=connection)
        contexts = processes(session)
        tables = scratch.ScanScratch(session, contexts)
        raw = connection.connection.driver_connection
        assert raw is not None
        while not self._abandoned.is_set() and (kind := self._kinds.take(prefer=self._prefer)) is not None:
            self._taken.append(kind)
            self._took_part.set()
            tables.prepare_for(kind)
            rows = self._detect_rows(session, contexts, kind)
            rule = self._rules[kind]
            if self._match:
                statement = copy_text(matched_changes_of(rows, kind, rule), connection.dialect)
            else:
                statement = hits_statement(rows, kind, rule, self._now, connection.dialect)
            spool, count = _copy_out(raw, statement)
            with self._done_lock:
                self._finished.append(kind)
                self._done.append(HelperHits(kind, count, spool, self._match))


def matched_changes_of(rows: Select[Any], kind: GapKind, rule: EffectiveRule) -> Select[Any]:
    """A re-scan's ``scan.matched_changes`` of a kind over every deal, in the scratch hit table's
    columns, each number as its BIGINT (COPY's binary format converts nothing)."""
    from bridgehead.intelligence.gaps.scan import matched_changes

    changes = matched_changes(rows, kind, rule.severity).subquery()
    return select(
        *[
            cast(changes.c[name], BigInteger) if name in _BIGINT_HITS else changes.c[name]
            for name in scratch.MATCHED_COLUMNS
        ]
    )


def _copy_out(raw: Any, statement: str) -> tuple[IO[bytes], int]:
    """The rows of ``statement`` in COPY's binary format, in a new temporary file read from its
    start (the caller's to close), and how many there are."""
    # Kept open past this function (the scan copies it in later), so no context manager here.
    spool = tempfile.TemporaryFile(prefix="bridgehead-gap-helper-")  # noqa: SIM115
    try:
        with raw.cursor() as cursor:
            # Binary: the scan's connection copies these bytes in without parsing text
            # (700,000 signals: 0.92 s against 1.55 s as text, into a temporary table).
            with cursor.copy(f"COPY ({statement}) TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    spool.write(chunk)
            count = int(cursor.rowcount)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, count
