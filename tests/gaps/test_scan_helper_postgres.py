"""A first full scan on PostgreSQL with a helper connection writes exactly what one connection writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import String, cast, func, insert, literal, literal_column, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from bridgehead.config import Settings
from bridgehead.db import is_write_conflict, make_engine, make_session_factory, unit_of_work
from bridgehead.deals.process import processes
from bridgehead.intelligence.gaps import scratch
from bridgehead.intelligence.gaps.helper import HelperFailed, can_help
from bridgehead.intelligence.gaps.models import GapKind, GapSignal
from bridgehead.intelligence.gaps.pg_helper import (
    SIGNAL_COLUMNS,
    PostgresHelper,
    SharedKinds,
    hits_statement,
    tagged_hits,
)
from bridgehead.intelligence.gaps.rules import effective_rules
from bridgehead.intelligence.gaps.scan import (
    COST_ORDER,
    DETECTORS,
    HELPER_ORDER,
    WRITER_ORDER,
    KindResult,
    detected_rows,
    scan,
    store_defaults,
)
from bridgehead.migrate import upgrade_database
from tests.conftest import POSTGRES_ADMIN_URL, create_postgres_database, drop_postgres_database
from tests.gaps.conftest import NOW
from tests.gaps.test_scan_helper import _signals, _team, _trip_detectors, rescans_with_and_without_a_helper
from tests.helpers import impatient_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[Engine]:
    """A PostgreSQL database with the schema, the playbook defaults and deals tripping several detectors."""
    url = create_postgres_database("bh_helper")
    engine = make_engine(Settings(), url=url)
    upgrade_database(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        store_defaults(session)
        _trip_detectors(session, _team(session))
    yield engine
    engine.dispose()
    drop_postgres_database(url)


def _scan(
    engine: Engine, *, helper: Engine | None
) -> tuple[list[tuple[Any, ...]], list[GapKind], str | None]:
    with unit_of_work(make_session_factory(engine)) as session:
        result = scan(session, now=NOW, helper_engine=helper, helper_min_deals=0)
    rows = [(item.kind, item.raised, item.still_open, item.resolved) for item in result.kinds]
    return rows, result.helper_kinds, result.helper_error


def _empty_signals(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM gap_signal"))


def _schema_of_signals(engine: Engine) -> tuple[list[str], list[str]]:
    """The signal table's index and constraint definitions (a first scan drops and rebuilds them)."""
    with engine.connect() as connection:
        indexes = connection.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = 'gap_signal' ORDER BY indexdef")
        ).scalars()
        constraints = connection.execute(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'gap_signal'::regclass ORDER BY 1"
            )
        ).scalars()
        return list(indexes), list(constraints)


def test_a_first_scan_with_a_helper_connection_writes_what_one_connection_writes(database: Engine) -> None:
    schema = _schema_of_signals(database)
    alone, no_helper, _ = _scan(database, helper=None)
    assert no_helper == []
    expected = _signals(database)
    assert len({row[0] for row in expected}) >= 5  # several kinds, so both sides get some
    _empty_signals(database)

    helped, helper_kinds, error = _scan(database, helper=database)  # a first scan again: the bulk path
    assert error is None
    # On two cores the helper takes part; it takes kinds, and never all of them (the scan's own
    # connection takes the first one while the helper prepares).
    assert bool(helper_kinds) == can_help()
    assert set(helper_kinds) < set(DETECTORS)
    assert helped == alone  # same counts per kind, listed in the order asked
    assert _signals(database) == expected
    assert _schema_of_signals(database) == schema

    # A re-scan with the helper finds the same gaps still open and changes nothing.
    again, again_helper, error = _scan(database, helper=database)
    assert error is None
    assert bool(again_helper) == can_help()
    assert [(kind, raised, resolved) for kind, raised, _, resolved in again] == [
        (kind, 0, 0) for kind, *_ in alone
    ]
    assert [still for *_, still, _ in again] == [raised for _, raised, *_ in alone]
    assert _signals(database) == expected


@pytest.mark.skipif(not can_help(), reason="a helper needs two cores")
def test_a_rescan_after_changes_writes_with_a_helper_connection_what_it_writes_alone(
    database: Engine,
) -> None:
    def scan_with(helper: Engine | None) -> tuple[list[Any], list[GapKind]]:
        counts, helper_kinds, error = _scan(database, helper=helper)
        assert error is None
        return counts, helper_kinds

    rescans_with_and_without_a_helper(database, scan_with)


@pytest.mark.parametrize("first", [True, False], ids=["first scan", "re-scan"])
def test_a_failing_helper_connection_leaves_its_kinds_to_the_scan(database: Engine, first: bool) -> None:
    if not first:
        _scan(database, helper=None)  # signals open: the next scans are re-scans
    alone, _, _ = _scan(database, helper=None)
    expected = _signals(database)
    if first:
        _empty_signals(database)
    # A helper connected to a database without the schema fails before its first detector ends.
    elsewhere = make_engine(Settings(), url=POSTGRES_ADMIN_URL)
    helped, helper_kinds, error = _scan(database, helper=elsewhere)
    elsewhere.dispose()
    assert helper_kinds == []
    assert error is not None
    assert error.startswith("the gap scan's helper connection failed: ProgrammingError")
    assert helped == alone
    assert _signals(database) == expected


def test_a_scan_failing_midway_stops_its_helper_and_writes_nothing(database: Engine) -> None:
    threads = threading.active_count()
    schema = _schema_of_signals(database)

    def fail(item: KindResult) -> None:
        raise RuntimeError(f"stopped after {item.kind.value}")

    with (
        pytest.raises(RuntimeError, match="stopped after"),
        unit_of_work(make_session_factory(database)) as session,
    ):
        scan(session, now=NOW, helper_engine=database, helper_min_deals=0, progress=fail)
    assert threading.active_count() == threads  # the helper thread ended
    assert _signals(database) == set()
    assert _schema_of_signals(database) == schema


def test_every_detector_copied_out_with_its_values_written_in_gives_the_rows_bound_values_give(
    database: Engine,
) -> None:
    """The helper's COPY statement (values rendered into the text) against the same SELECT with bound
    values: byte for byte the same COPY text for every kind."""
    session = make_session_factory(database)()
    try:
        rules = effective_rules(session)
        contexts = processes(session)
        scratch.ScanScratch(session, contexts).fill_stages()
        raw = session.connection().connection.driver_connection
        assert raw is not None
        found = 0
        for kind in DETECTORS:
            rows = detected_rows(session, kind, rules[kind], contexts, NOW)
            session.execute(
                insert(GapSignal.__table__).from_select(
                    list(SIGNAL_COLUMNS), tagged_hits(rows, kind, rules[kind], NOW)
                )
            )
            statement = hits_statement(rows, kind, rules[kind], NOW, session.get_bind().dialect)
            copied = _copy_out(raw, f"COPY ({statement}) TO STDOUT")
            bound = _copy_out(
                raw,
                # Names and the kind are the code's own, never input.
                f"COPY (SELECT {', '.join(SIGNAL_COLUMNS)} FROM gap_signal WHERE kind = '{kind.value}') TO STDOUT",  # noqa: S608
            )
            assert sorted(copied) == sorted(bound), kind
            found += len(bound)
        assert found > 0
    finally:
        session.rollback()
        session.close()


def test_a_percent_sign_and_a_quote_in_a_value_written_into_the_copy_statement_arrive_unchanged(
    database: Engine,
) -> None:
    """The detectors' own literals hold no "%" today (the explanation, which did, is written on
    read now), but a value rendered into COPY's text must arrive as it is: psycopg's compiler
    doubles "%" for a statement sent with parameters, and COPY's is sent without."""
    session = make_session_factory(database)()
    try:
        rule = effective_rules(session)[GapKind.MISSING_FIELDS]
        note = "50 % off, 'quoted'"
        rows = select(
            literal("opportunity:1").label("subject_key"),
            literal(1).label("opportunity_id"),
            literal(None).label("account_id"),
            literal(None).label("owner_id"),
            literal(0).label("amount_at_risk"),
            func.json_build_object(literal_column("'note'"), cast(literal(note), String)).label("evidence"),
        )
        statement = hits_statement(rows, GapKind.MISSING_FIELDS, rule, NOW, session.get_bind().dialect)
        raw = session.connection().connection.driver_connection
        assert raw is not None
        (line,) = _copy_out(raw, f"COPY ({statement}) TO STDOUT")
        assert note.encode() in line
    finally:
        session.rollback()
        session.close()


def _copy_out(raw: Any, statement: str) -> list[bytes]:
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        return b"".join(bytes(chunk) for chunk in copy).splitlines()


def test_the_shared_queue_hands_each_kind_out_once() -> None:
    kinds = SharedKinds(COST_ORDER)
    taken: list[GapKind | None] = []

    def take_all() -> None:
        while (kind := kinds.take()) is not None:
            taken.append(kind)

    workers = [threading.Thread(target=take_all) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(taken, key=COST_ORDER.index) == list(COST_ORDER)
    stopped = SharedKinds(COST_ORDER)
    assert stopped.take() == COST_ORDER[0]
    stopped.stop()
    assert stopped.take() is None
    # Preferred kinds first, in the order preferred; then (unless only those) the first left.
    shared = SharedKinds(COST_ORDER)
    assert shared.take(prefer=WRITER_ORDER) == WRITER_ORDER[0]
    assert shared.take(prefer=[GapKind.OFF_STRATEGY, GapKind.STALE_DEAL]) == GapKind.OFF_STRATEGY
    assert shared.take(prefer=[GapKind.STALE_DEAL], only_preferred=True) is None
    assert shared.take(prefer=[GapKind.STALE_DEAL]) == COST_ORDER[0]


@pytest.mark.parametrize("with_helper", [False, True])
def test_a_first_scan_locks_only_the_signal_table(database: Engine, with_helper: bool) -> None:
    """While a first scan writes (its indexes dropped), another connection still reads users,
    deals and accounts at once; only the signal table waits for the scan to commit."""
    impatient = impatient_engine(database.url.render_as_string(hide_password=False))
    counts: list[tuple[int, int, int]] = []
    signals_waited: list[bool] = []

    def read_elsewhere(item: KindResult) -> None:
        with impatient.connect() as connection:
            row = connection.execute(
                text(
                    'SELECT (SELECT count(*) FROM "user"), (SELECT count(*) FROM opportunity), '
                    "(SELECT count(*) FROM account)"
                )
            ).one()
            counts.append((int(row[0]), int(row[1]), int(row[2])))
            try:
                connection.execute(text("SELECT count(*) FROM gap_signal"))
            except DBAPIError as error:
                signals_waited.append(is_write_conflict(error))
            else:
                signals_waited.append(False)

    try:
        with unit_of_work(make_session_factory(database)) as session:
            scan(
                session,
                now=NOW,
                helper_engine=database if with_helper else None,
                helper_min_deals=0,
                progress=read_elsewhere,
            )
    finally:
        impatient.dispose()
    assert len(counts) == len(DETECTORS)
    assert all(users > 0 and deals > 0 and accounts > 0 for users, deals, accounts in counts)
    assert signals_waited == [True] * len(DETECTORS)


def test_a_first_scan_that_cannot_drop_the_indexes_fails_as_a_write_conflict(database: Engine) -> None:
    """A reader holding the signal table past the lock wait fails the scan as a write conflict
    (the request answers 503), with no thread left behind and nothing written."""
    impatient = impatient_engine(database.url.render_as_string(hide_password=False))
    threads = threading.active_count()
    try:
        with database.connect() as reader:
            reader.execute(text("SELECT count(*) FROM gap_signal"))  # holds ACCESS SHARE until rollback
            with (
                pytest.raises(DBAPIError) as raised,
                unit_of_work(make_session_factory(impatient)) as session,
            ):
                scan(session, now=NOW, helper_engine=impatient, helper_min_deals=0)
            reader.rollback()
    finally:
        impatient.dispose()
    assert is_write_conflict(raised.value)
    assert threading.active_count() == threads
    assert _signals(database) == set()


def test_a_helper_failing_after_a_kind_hands_over_that_kind_and_names_the_one_it_did_not_finish(
    database: Engine,
) -> None:
    """What the helper finished before failing is whole (copied out before it counts), so the scan
    copies it in and detects only the kind the helper took and did not finish."""
    with make_session_factory(database)() as session:
        rules = effective_rules(session)
    first, second = GapKind.CLOSE_DATE_PAST, GapKind.STALE_DEAL

    def detect_rows(on: Any, contexts: Any, kind: GapKind) -> Any:
        if kind == second:
            raise RuntimeError("the helper's connection went away")
        return detected_rows(on, kind, rules[kind], contexts, NOW)

    helper = PostgresHelper(database, SharedKinds([first, second]), rules, detect_rows, NOW, HELPER_ORDER)
    helper.start()
    with pytest.raises(HelperFailed, match="went away"):
        helper.collect()
    (finished,) = helper.take_finished()
    try:
        assert finished.kind == first
        assert finished.rows > 0
        assert finished.spool.read(11) == b"PGCOPY\n\xff\r\n\x00"  # COPY's binary header
    finally:
        finished.spool.close()
    assert helper.unfinished() == [second]
    assert helper.take_finished() == []
