"""A helper process that runs some of a full scan's detectors while the scan's own connection runs the rest.

SQLite runs each statement on one core, so a scan used one of the machine's cores. For a full
scan of a SQLite file, ``scan.scan`` can start a helper process with its own connection: the
helper takes detectors from the same queue as the scan, runs each detector's SELECT and writes
the hits, tagged with their kind, into a scratch database file of its own (WAL lets it read while
the scan's connection holds the write lock). The scan's connection then attaches that file and
raises, refreshes and resolves the helper's kinds from it exactly as from a detector's own SELECT.

A process, not a thread: two threads running SQLite statements in one Python process took as
long as running them one after the other (a table scan of 1.4 million signals: 1.76 s alone, 3.37 s
for two in two threads, 2.21 s in two processes). A new interpreter (``python -m``), not
multiprocessing: its spawn re-imports the calling program's main module, and a fork would inherit
this process's open SQLite connections. The shared queue is a counter in a file under an flock.

In a re-scan the helper also matches its hits to the open signals (``scan.fill_matched``, reading
``gap_signal`` as committed before the scan: the scan's connection leaves the helper's kinds alone
until it takes them in) and writes only what must be written: the new and the changed hits, and
the ids of the open signals no hit found again. The scan's connection then writes those few rows;
before, it matched every hit of the helper's kinds itself, after the helper had finished.

The helper sees committed rows only, so the scan uses it only when its caller says the transaction
has written nothing the detectors read, and only after the scan's connection has taken the write
lock (no other writer can then commit before the helper reads).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Select, Subquery

from bridgehead.db import attach_scratch_database
from bridgehead.intelligence.gaps.models import GapKind, Severity
from bridgehead.intelligence.gaps.rules import EffectiveRule
from bridgehead.intelligence.gaps.scratch import MATCHED_COLUMNS, hit_columns
from bridgehead.intelligence.gaps.sqltools import HIT_COLUMNS

# The schema name the helper's scratch file is attached under (on both connections).
HELPER_SCHEMA = "gap_helper"

_metadata = MetaData()
helper_hits = Table(
    "gap_helper_hit",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(40), nullable=False),
    # The evidence as the JSON text the detector built (copied as it is into the signal).
    *hit_columns(evidence_type=String),
    # A re-scan's helper matched the hit: the open signal it found again (null: a new gap) and
    # whether that signal's contents changed. Only what the scan must write is written then: new
    # and changed hits, and (subject key null) the open signals no hit found again.
    Column("signal_id", BigInteger),
    Column("changed", Boolean),
    schema=HELPER_SCHEMA,
)


# How long the scan waits for the helper to take its first kind before going on alone.
HELPER_START_TIMEOUT = 60.0


def can_help() -> bool:
    """Whether this platform can run a helper (it needs flock and a second core)."""
    return os.name == "posix" and (os.cpu_count() or 1) >= 2


class HelperFailed(RuntimeError):
    """A scan's helper (this process, or ``pg_helper``'s thread) failed or stopped; its message says why."""


@dataclass(frozen=True)
class HelperKind:
    """A kind the helper ran, and the ids of its hits (``first_id`` > ``last_id`` when none).

    ``matched``: the helper matched the hits to the open signals (a re-scan); its rows are then
    what ``scan.fill_matched`` writes, without the signals found again unchanged.
    """

    kind: GapKind
    first_id: int
    last_id: int
    matched: bool = False


class KindQueue:
    """The detectors still to run, most expensive first, shared by the scan and its helper process.

    The number of kinds taken so far is kept in the file ``counter_path``, read and written under an
    exclusive flock (``len(kinds)`` there stops both sides).
    """

    def __init__(self, kinds: Sequence[GapKind], counter_path: str) -> None:
        self._kinds = list(kinds)
        self._counter_path = counter_path

    def _advance(self, stop: bool) -> int:
        with open(self._counter_path, "r+", encoding="ascii") as counter:
            fcntl.flock(counter, fcntl.LOCK_EX)
            position = int(counter.read() or 0)
            counter.seek(0)
            counter.write(str(len(self._kinds) if stop else min(position + 1, len(self._kinds))))
            counter.truncate()
        return position

    def take(self) -> GapKind | None:
        """The next kind to run, or None when none is left (or the scan stopped)."""
        position = self._advance(stop=False)
        return self._kinds[position] if position < len(self._kinds) else None

    def stop(self) -> None:
        """Hand out no more kinds (the scan failed)."""
        self._advance(stop=True)

    def taken(self) -> int:
        """How many kinds have been handed out so far."""
        with open(self._counter_path, encoding="ascii") as counter:
            fcntl.flock(counter, fcntl.LOCK_SH)
            return int(counter.read() or 0)


@dataclass
class Helper:
    """A started helper process and the queue it shares with the scan."""

    process: subprocess.Popen[bytes]
    queue: KindQueue
    counter_path: str
    path: str  # the scratch database file the helper writes its hits into

    def wait_until_it_takes_part(self, timeout: float = HELPER_START_TIMEOUT) -> None:
        """Wait until the helper has taken its first kind (or has ended, or ``timeout`` seconds passed).

        Otherwise the scan's connection could take every kind while the helper's interpreter
        starts, and then wait for the helper anyway.
        """
        deadline = time.monotonic() + timeout
        while self.queue.taken() == 0 and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def finish(self) -> list[HelperKind]:
        """Wait for the helper; the kinds it ran with their hit ids, or the helper's error raised here."""
        try:
            output, errors = self.process.communicate()
        finally:
            self._remove_counter()
        try:
            message = json.loads(output)
        except ValueError:
            detail = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise HelperFailed(
                f"the gap scan's helper process stopped (exit code {self.process.returncode}): {detail[0]}"
            ) from None
        if message.get("status") != "ok":
            raise HelperFailed(f"the gap scan's helper process failed: {message.get('message')}")
        return [
            HelperKind(GapKind(kind), first, last, matched) for kind, first, last, matched in message["done"]
        ]

    def collect(self, session: Session) -> list[HelperKind]:
        """Wait for the helper and attach its scratch file to ``session``'s connection (until the
        connection goes back to the pool, which deletes it); the kinds it ran (their hits:
        ``helper_rows``, ``matched_rows``). Raises ``HelperFailed`` (the file deleted) if the
        helper failed."""
        try:
            done = self.finish()
        except HelperFailed:
            _remove(self.path)
            raise
        attach_scratch_database(session, self.path, HELPER_SCHEMA)
        return done

    def abandon(self) -> None:
        """The scan failed: hand out no more kinds, wait for the helper's current one to end, and
        delete its files."""
        try:
            self.queue.stop()
            self.process.communicate()
        finally:
            self._remove_counter()
            _remove(self.path)

    def _remove_counter(self) -> None:
        _remove(self.counter_path)


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


def start_helper(
    url: str,
    kinds: Sequence[GapKind],
    now: dt.datetime,
    rules: dict[GapKind, EffectiveRule],
    *,
    match: bool = False,
) -> Helper:
    """Start a helper process on the SQLite database at ``url``, writing its hits into a new scratch file.

    ``rules`` are the scan's; the helper reads the processes itself (the scan makes sure they are
    stored already, so reading them writes nothing). ``match``: a re-scan, whose helper matches
    its hits to the open signals itself.
    """
    handle, path = tempfile.mkstemp(prefix="bridgehead-gap-helper-", suffix=".db")
    os.close(handle)
    counter_path = path + ".queue"
    with open(counter_path, "w", encoding="ascii") as counter:
        counter.write("0")
    job = {
        "url": url,
        "path": path,
        "counter_path": counter_path,
        "kinds": [kind.value for kind in kinds],
        "now": now.isoformat(),
        "match": match,
        "rules": {
            kind.value: {
                "enabled": rule.enabled,
                "severity": rule.severity.value,
                "thresholds": rule.thresholds,
            }
            for kind, rule in rules.items()
        },
    }
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridgehead.intelligence.gaps.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError:
        _remove(path)
        _remove(counter_path)
        raise
    assert process.stdin is not None
    process.stdin.write(json.dumps(job).encode())
    process.stdin.close()
    process.stdin = None  # sent in full; communicate() later reads only
    return Helper(process, KindQueue(kinds, counter_path), counter_path, path)


def _helper_main() -> None:
    """The helper process: read the job from stdin, run kinds from the queue, print what it ran."""
    try:
        job = json.loads(sys.stdin.read())
        from bridgehead.config import Settings
        from bridgehead.db import make_engine

        rules = {
            GapKind(kind): EffectiveRule(
                kind=GapKind(kind),
                enabled=bool(rule["enabled"]),
                severity=Severity(rule["severity"]),
                thresholds=dict(rule["thresholds"]),
            )
            for kind, rule in job["rules"].items()
        }
        queue = KindQueue([GapKind(kind) for kind in job["kinds"]], job["counter_path"])
        # Taken at once: the scan waits for this before it takes its own first kind.
        first = queue.take()
        engine = make_engine(Settings(), url=job["url"])
        try:
            now = dt.datetime.fromisoformat(job["now"])
            done = _detect(engine, job["path"], queue, first, now, rules, match=bool(job.get("match")))
        finally:
            engine.dispose()
        result: dict[str, Any] = {
            "status": "ok",
            "done": [(item.kind.value, item.first_id, item.last_id, item.matched) for item in done],
        }
    except Exception as error:  # reported to the scan, which raises it there
        result = {"status": "error", "message": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(result))


def _detect(
    engine: Engine,
    path: str,
    queue: KindQueue,
    first: GapKind | None,
    now: dt.datetime,
    rules: dict[GapKind, EffectiveRule],
    *,
    match: bool,
) -> list[HelperKind]:
    import bridgehead.models  # noqa: F401  (every table mapped before the first query)
    from bridgehead.db import sqlite_page_cache
    from bridgehead.deals.process import processes
    from bridgehead.intelligence.gaps import scratch
    from bridgehead.intelligence.gaps.scan import detected_rows

    done: list[HelperKind] = []
    with engine.connect() as connection:
        connection.exec_driver_sql(f"ATTACH DATABASE ? AS {HELPER_SCHEMA}", (path,))
        try:
            helper_hits.create(connection)
            connection.commit()
            with Session(bind=connection) as session, sqlite_page_cache(session):
                contexts = processes(session)
                tables = scratch.ScanScratch(session, contexts)
                kind = first
                while kind is not None:
                    tables.prepare_for(kind)
                    rows = detected_rows(session, kind, rules[kind], contexts, now)
                    first_id = (session.scalar(select(func.max(helper_hits.c.id))) or 0) + 1
                    if match:
                        _write_matched(session, kind, rows, rules[kind].severity)
                    else:
                        hits = rows.subquery()
                        session.execute(
                            insert(helper_hits).from_select(
                                ["kind", *HIT_COLUMNS],
                                select(
                                    literal(kind.value, String()), *[hits.c[name] for name in HIT_COLUMNS]
                                ),
                            )
                        )
                    last = session.scalar(select(func.max(helper_hits.c.id))) or 0
                    done.append(HelperKind(kind, first_id, last, match))
                    kind = queue.take()
                scratch.clear(session)
                session.commit()
        finally:
            connection.rollback()
            connection.exec_driver_sql(f"DETACH DATABASE {HELPER_SCHEMA}")
    return done


def _write_matched(session: Session, kind: GapKind, rows: Select[Any], severity: Severity) -> None:
    """A re-scan's kind: match the hits to the open signals in this connection's scratch hit table
    (``scan.fill_matched``), then write what the scan must write into the helper's file: all but the
    signals found again unchanged."""
    from bridgehead.intelligence.gaps import scratch
    from bridgehead.intelligence.gaps.scan import fill_matched

    hits = scratch.hits
    scratch.empty(session, hits)
    fill_matched(session, hits, rows, kind, severity, None)
    session.execute(
        insert(helper_hits).from_select(
            ["kind", *scratch.MATCHED_COLUMNS],
            select(literal(kind.value, String()), *hits.c).where(
                or_(hits.c.signal_id.is_(None), hits.c.changed.is_(True), hits.c.subject_key.is_(None))
            ),
        )
    )


def helper_rows(done: HelperKind) -> Select[Any]:
    """The helper's hits of one kind as a detector's SELECT (``HIT_COLUMNS``): one range of ids."""
    return select(*[helper_hits.c[name] for name in HIT_COLUMNS]).where(
        helper_hits.c.id.between(done.first_id, done.last_id)
    )


def matched_rows(done: HelperKind) -> Subquery:
    """A kind the helper matched (a re-scan): its rows as ``scan.fill_matched`` writes them."""
    return (
        select(*[helper_hits.c[name] for name in MATCHED_COLUMNS])
        .where(helper_hits.c.id.between(done.first_id, done.last_id))
        .subquery()
    )


if __name__ == "__main__":
    _helper_main()
