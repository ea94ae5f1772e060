"""The large-load fast paths: indexes set aside and rebuilt, read-ahead of CSV blocks.

The benchmark sizes are far beyond a test, so these tests lower the thresholds and check that
the fast paths store exactly what the ordinary path stores, and that a refusal or a failure
mid-way leaves every row and every index as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
import threading
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from benchmarks.salesforce_generator import generate_salesforce_export, sf_id
from sqlalchemy import Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridgehead.connectors import deferred_indexes
from bridgehead.connectors import engine as import_engine
from bridgehead.connectors.deferred_indexes import (
    DeferredIndexes,
    external_id_keys,
    foreign_keys,
    plain_indexes,
)
from bridgehead.connectors.engine import EntityBatch, ImportFailed, ImportOptions, ImportReport, run_import
from bridgehead.connectors.prefetch import prefetched
from bridgehead.connectors.report import ColumnChunk
from bridgehead.connectors.salesforce import salesforce_batches
from bridgehead.crm.models import Activity, ActivityDirection, ActivityKind, Opportunity
from bridgehead.db import Base
from tests.connectors.support import fresh_database
from tests.connectors.test_salesforce import CRM_TABLES, counts, run, set_cell, state
from tests.helpers import (
    activities_counted,
    activity_month_kept,
    impatient_engine,
    opportunity_sums_counted,
    opportunity_sums_kept,
)

SIZES = {"opportunities": 60, "history": 180, "activities": 240}
FIXED_NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated export, made once."""
    directory = tmp_path_factory.mktemp("bulk") / "export"
    generate_salesforce_export(directory, **SIZES)
    return directory


@pytest.fixture
def export_dir(generated: Path, tmp_path: Path) -> Path:
    """A private copy of the export that a test may change."""
    directory = tmp_path / "export"
    shutil.copytree(generated, directory)
    return directory


@pytest.fixture
def every_load_is_large(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Set indexes aside for any batch; returns the tables they were set aside for, in order."""
    monkeypatch.setattr(deferred_indexes, "MIN_ROWS", 1)
    tables: list[str] = []
    original = DeferredIndexes.set_aside_for

    def spy(self: DeferredIndexes, table: Table, incoming_rows: int) -> None:
        original(self, table, incoming_rows)
        if table.name in self.dropped and table.name not in tables:
            tables.append(table.name)

    monkeypatch.setattr(DeferredIndexes, "set_aside_for", spy)
    return tables


def all_plain_indexes(session: Session) -> dict[str, list[tuple[str, str]]]:
    """Every CRM table's plain indexes and (on PostgreSQL) foreign keys and external-id keys, as
    the database reports them."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return {
        name: plain_indexes(session, name)
        + (foreign_keys(session, name) + external_id_keys(session, name) if postgres else [])
        for name in CRM_TABLES
    }


Imported = tuple[dict[str, str], dict[str, tuple[int, int, int, int]]]


def stored_rows(session: Session) -> dict[str, str]:
    """A checksum of every CRM row but its ``updated_at`` (the database stamps that itself)."""
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    result: dict[str, str] = {}
    for name in CRM_TABLES:
        table = tables[name]
        columns = [column for column in table.c if column.name != "updated_at"]
        digest = hashlib.sha256()
        for row in session.execute(select(*columns).order_by(table.c.id)):
            digest.update(repr(tuple(row)).encode())
        result[name] = digest.hexdigest()
    return result


def import_into_fresh_database(backend: str, directory: Path, workdir: Path) -> Imported:
    """Import ``directory`` into a new database (the import alone, without the after-import steps
    of other domains); the stored rows' checksums and the counts."""
    workdir.mkdir()
    with fresh_database(backend, workdir) as engine, Session(engine) as session:
        report = import_and_commit(session, directory)
        imported = stored_rows(session), counts(report)
        # The per-month activity counts and deal sums agree with the rows imported (kept by the
        # triggers, or counted again after a load that set them aside), and the triggers are on again.
        assert activity_month_kept(session) == activities_counted(session)
        assert opportunity_sums_kept(session) == opportunity_sums_counted(session)
        session.add(
            Activity(
                kind=ActivityKind.EMAIL,
                direction=ActivityDirection.INBOUND,
                occurred_at=FIXED_NOW,
                custom_fields={},
            )
        )
        session.add(
            Opportunity(
                name="Written after the import",
                stage="Prospecting",
                amount=Decimal("125.00"),
                close_date=FIXED_NOW.date(),
                created_at=FIXED_NOW,
                custom_fields={},
            )
        )
        assert activity_month_kept(session) == activities_counted(session)
        assert opportunity_sums_kept(session) == opportunity_sums_counted(session)
        session.rollback()
        return imported


def import_and_commit(session: Session, directory: Path) -> ImportReport:
    """The import alone (no after-import steps of other domains), committed."""
    report = run_import(
        session,
        source="salesforce",
        location=str(directory),
        batches=salesforce_batches(directory),
        options=ImportOptions(),
    )
    session.commit()
    return report


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_indexes_set_aside_store_exactly_the_rows_the_ordinary_path_stores(
    backend: str,
    generated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Timestamps the import stamps (created_at of records without one) are the same in both runs.
    monkeypatch.setattr(import_engine, "utcnow", lambda: FIXED_NOW)
    ordinary = import_into_fresh_database(backend, generated, tmp_path / "ordinary")

    monkeypatch.setattr(deferred_indexes, "MIN_ROWS", 1)
    rebuilt: list[int] = []
    original = DeferredIndexes.rebuild

    def spy(self: DeferredIndexes) -> None:
        rebuilt.append(sum(len(indexes) for indexes in self.dropped.values()))
        original(self)

    monkeypatch.setattr(DeferredIndexes, "rebuild", spy)
    fast = import_into_fresh_database(backend, generated, tmp_path / "fast")

    assert rebuilt
    assert rebuilt[0] > 0
    assert fast == ordinary


@pytest.fixture
def postgres_session(db_session: Session, every_load_is_large: list[str]) -> Session:
    """``db_session`` on PostgreSQL, every batch's keys set aside: foreign keys and external-id
    keys are set aside there only (SQLite cannot drop them without rebuilding the table), so the
    SQLite variant skips."""
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("keys are set aside on PostgreSQL only")
    return db_session


@pytest.mark.postgres
def test_foreign_keys_set_aside_on_postgres_are_added_back_and_checked(
    postgres_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_session = postgres_session
    before = {name: foreign_keys(db_session, name) for name in CRM_TABLES}
    assert before["activity"]
    set_aside: list[str] = []
    original = DeferredIndexes.rebuild

    def spy(self: DeferredIndexes) -> None:
        set_aside.extend(self.foreign_keys)
        original(self)

    monkeypatch.setattr(DeferredIndexes, "rebuild", spy)

    report = run(db_session, export_dir)

    assert report.ok
    assert {"opportunity", "activity", "opportunity_history"} <= set(set_aside)
    assert {name: foreign_keys(db_session, name) for name in CRM_TABLES} == before


@pytest.mark.postgres
def test_a_large_load_leaves_the_user_table_readable(
    postgres_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys to ``user`` stay in place while the others are set aside: dropping one would lock
    ``user`` against readers (every signed-in request) until the import commits."""
    db_session = postgres_session
    impatient = impatient_engine(db_session.get_bind().engine.url.render_as_string(hide_password=False))
    set_aside: dict[str, list[tuple[str, str]]] = {}
    users_read: list[int] = []
    original = DeferredIndexes.rebuild

    def read_users_first(self: DeferredIndexes) -> None:
        set_aside.update(self.foreign_keys)
        # The import's transaction still holds whatever setting keys aside locked.
        with impatient.connect() as connection:
            users_read.append(int(connection.execute(text('SELECT count(*) FROM "user"')).scalar_one()))
        original(self)

    monkeypatch.setattr(DeferredIndexes, "rebuild", read_users_first)
    try:
        report = run(db_session, export_dir)
    finally:
        impatient.dispose()

    assert report.ok
    # Read (not timed out) while the import's transaction held what it had set aside.
    assert len(users_read) >= 1
    keys = [definition for definitions in set_aside.values() for _, definition in definitions]
    assert any("REFERENCES account(id)" in key for key in keys)
    assert not any('REFERENCES "user"' in key for key in keys)


@pytest.mark.postgres
def test_an_external_id_key_stays_aside_only_while_its_own_table_loads(
    postgres_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_session = postgres_session
    aside_when_a_batch_starts: list[tuple[str, list[str]]] = []
    restored: list[str] = []
    original_batch = import_engine._import_batch
    original_restore = DeferredIndexes.restore_unique_keys

    def batch_spy(session: Session, batch: EntityBatch, *args: Any) -> None:
        deferred = next(arg for arg in args if isinstance(arg, DeferredIndexes))
        aside_when_a_batch_starts.append((batch.entity.table.name, sorted(deferred.unique_keys)))
        original_batch(session, batch, *args)

    def restore_spy(self: DeferredIndexes, table_name: str) -> None:
        if self.unique_keys.get(table_name):
            restored.append(table_name)
        original_restore(self, table_name)

    monkeypatch.setattr(import_engine, "_import_batch", batch_spy)
    monkeypatch.setattr(DeferredIndexes, "restore_unique_keys", restore_spy)

    report = run(db_session, export_dir)

    assert report.ok
    # No batch starts while another table's key is aside: it may look those records up by id.
    assert all(aside in ([], [table]) for table, aside in aside_when_a_batch_starts)
    # Tasks and events both go into activity: its key is aside across the two and built once.
    assert [table for table, _ in aside_when_a_batch_starts].count("activity") == 2
    assert ("activity", ["activity"]) in aside_when_a_batch_starts
    assert restored.count("activity") == 1
    assert external_id_keys(db_session, "activity") == [("uq_activity_external_id", "UNIQUE (external_id)")]


@pytest.mark.postgres
def test_a_dangling_reference_stored_while_foreign_keys_are_aside_fails_the_import(
    postgres_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_session = postgres_session
    before_rows = state(db_session)
    original = DeferredIndexes.rebuild

    def corrupt_then_rebuild(self: DeferredIndexes) -> None:
        # What a bug in reference resolution would store: an activity pointing at no account.
        db_session.execute(
            text("UPDATE activity SET account_id = -1 WHERE id = (SELECT min(id) FROM activity)")
        )
        original(self)

    monkeypatch.setattr(DeferredIndexes, "rebuild", corrupt_then_rebuild)

    with pytest.raises(IntegrityError):
        run(db_session, export_dir)
    db_session.rollback()

    assert state(db_session) == before_rows


@pytest.mark.postgres
def test_a_duplicate_id_stored_while_the_unique_key_is_aside_fails_the_import(
    postgres_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_session = postgres_session
    assert external_id_keys(db_session, "opportunity")
    before_rows = state(db_session)
    original = DeferredIndexes.restore_unique_keys
    restored: list[str] = []

    def duplicate_then_restore(self: DeferredIndexes, table_name: str) -> None:
        if table_name in self.unique_keys:
            restored.append(table_name)
        if table_name == "opportunity":
            # What a bug in duplicate detection would store: a second record with a stored id.
            db_session.execute(
                text(
                    "INSERT INTO opportunity (external_id, name, amount, currency_code, stage, "
                    "probability, close_date, created_at, is_closed, is_won, custom_fields, "
                    "updated_at) SELECT external_id, name, amount, currency_code, stage, "
                    "probability, close_date, created_at, is_closed, is_won, custom_fields, "
                    "updated_at FROM opportunity WHERE id = (SELECT min(id) FROM opportunity)"
                )
            )
        original(self, table_name)

    monkeypatch.setattr(DeferredIndexes, "restore_unique_keys", duplicate_then_restore)

    with pytest.raises(IntegrityError, match="uq_opportunity_external_id"):
        run(db_session, export_dir)
    db_session.rollback()

    # The user table is never set aside (every request reads it): accounts come first.
    assert restored[:2] == ["account", "contact"]
    assert "user" not in restored
    assert state(db_session) == before_rows
    assert external_id_keys(db_session, "opportunity") == [
        ("uq_opportunity_external_id", "UNIQUE (external_id)")
    ]


def test_every_index_set_aside_is_rebuilt_as_it_was(
    db_session: Session, export_dir: Path, every_load_is_large: list[str]
) -> None:
    before = all_plain_indexes(db_session)

    report = run(db_session, export_dir)

    assert report.ok
    assert {"opportunity", "activity", "opportunity_history"} <= set(every_load_is_large)
    assert all_plain_indexes(db_session) == before


AFTER_IMPORT_TABLES = ("stakeholder", "stage_compliance_flag")


def after_import_rows(session: Session) -> tuple[list[Any], list[Any]]:
    """Stakeholders and compliance flags the after-import step wrote (records by external id and
    stages by name: a rolled back run leaves PostgreSQL's sequences moved on)."""
    stakeholders = session.execute(
        text(
            "SELECT o.external_id, c.external_id, k.role, k.stance, k.influence, k.source FROM stakeholder k "
            "JOIN opportunity o ON o.id = k.opportunity_id JOIN contact c ON c.id = k.contact_id"
        )
    ).all()
    flags = session.execute(
        text(
            "SELECT o.external_id, s.name, f.kind, f.key, f.message FROM stage_compliance_flag f "
            "JOIN opportunity o ON o.id = f.opportunity_id JOIN process_stage s ON s.id = f.stage_id"
        )
    ).all()
    return sorted(map(tuple, stakeholders)), sorted(map(tuple, flags))


def test_the_compliance_step_sets_its_tables_aside_after_a_first_import_and_writes_the_same_rows(
    db_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres = db_session.get_bind().dialect.name == "postgresql"

    def schema() -> dict[str, list[tuple[str, str]]]:
        return {
            name: plain_indexes(db_session, name) + (foreign_keys(db_session, name) if postgres else [])
            for name in AFTER_IMPORT_TABLES
        }

    before = schema()
    assert run(db_session, export_dir).ok
    ordinary = after_import_rows(db_session)
    db_session.rollback()

    monkeypatch.setattr(deferred_indexes, "MIN_ROWS", 1)
    set_aside: list[str] = []
    original = DeferredIndexes.rebuild

    def spy(self: DeferredIndexes) -> None:
        set_aside.extend(self.dropped)
        original(self)

    monkeypatch.setattr(DeferredIndexes, "rebuild", spy)
    assert run(db_session, export_dir).ok

    assert set(AFTER_IMPORT_TABLES) <= set(set_aside)
    assert ordinary[0]
    assert ordinary[1]
    assert after_import_rows(db_session) == ordinary
    assert schema() == before


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_file_whose_ids_sort_outside_the_stored_ones_stores_what_the_full_upsert_stores(
    backend: str, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_engine, "utcnow", lambda: FIXED_NOW)
    answers: list[tuple[str, bool]] = []
    original = import_engine._may_match_stored

    def spy(session: Session, stage: Table, target: Table) -> bool:
        answer = original(session, stage, target)
        answers.append((target.name, answer))
        return answer

    monkeypatch.setattr(import_engine, "_may_match_stored", spy)
    skipped = import_into_fresh_database(backend, generated, tmp_path / "skipped")
    # Every file into an empty table may not match; nor may the events (00U...), which come after
    # the tasks (00T...) into the same table.
    assert answers
    assert not any(answer for _, answer in answers)
    assert [name for name, _ in answers].count("activity") == 2

    monkeypatch.setattr(import_engine, "_may_match_stored", lambda *_: True)
    full = import_into_fresh_database(backend, generated, tmp_path / "full")

    assert skipped == full


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_an_event_with_a_stored_task_id_updates_that_task(
    backend: str, export_dir: Path, tmp_path: Path
) -> None:
    task_ids = [row[0] for row in csv.reader((export_dir / "Task.csv").open(encoding="utf-8"))][1:]
    shared = sorted(task_ids)[len(task_ids) // 2]  # inside the stored range, at neither end
    set_cell(export_dir / "Event.csv", 0, "Id", shared)
    subject = "The event that shares a task's id"
    set_cell(export_dir / "Event.csv", 0, "Subject", subject)

    with fresh_database(backend, tmp_path) as engine, Session(engine) as session:
        report = import_and_commit(session, export_dir)
        stored_subject = session.scalar(select(Activity.subject).where(Activity.external_id == shared))

    events = sum(1 for _ in (export_dir / "Event.csv").open(encoding="utf-8")) - 1
    created, updated, _, rejected = counts(report)["activity"]
    assert (created, updated, rejected) == (len(task_ids) + events - 1, 1, 0)
    assert stored_subject == subject


def test_a_weekly_reimport_keeps_its_indexes(
    db_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(db_session, export_dir)
    monkeypatch.setattr(deferred_indexes, "MIN_ROWS", 1)
    dropped: list[str] = []
    original = DeferredIndexes.rebuild

    def spy(self: DeferredIndexes) -> None:
        dropped.extend(self.dropped)
        original(self)

    monkeypatch.setattr(DeferredIndexes, "rebuild", spy)

    report = run(db_session, export_dir)

    assert report.ok
    assert dropped == []


def test_a_refusal_after_indexes_were_set_aside_leaves_rows_and_indexes_as_they_were(
    db_session: Session, export_dir: Path, every_load_is_large: list[str]
) -> None:
    # An activity, in the last-but-one file, names an owner nobody exported.
    set_cell(export_dir / "Task.csv", 3, "OwnerId", sf_id("user", 99_999))
    before_rows = state(db_session)
    before_indexes = all_plain_indexes(db_session)

    with pytest.raises(ImportFailed) as caught:
        run(db_session, export_dir)
    db_session.rollback()

    assert "opportunity" in every_load_is_large
    assert any(
        problem.file == "Task.csv" and problem.field == "owner" for problem in caught.value.report.problems
    )
    assert state(db_session) == before_rows
    assert all_plain_indexes(db_session) == before_indexes


def test_a_failure_mid_way_leaves_nothing(
    db_session: Session, export_dir: Path, every_load_is_large: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before_rows = state(db_session)
    before_indexes = all_plain_indexes(db_session)

    def failing_batches(directory: Path) -> Iterator[EntityBatch]:
        for batch in salesforce_batches(directory):
            if batch.file == "Task.csv":
                raise OSError("the disk went away")
            yield batch

    monkeypatch.setattr("tests.connectors.test_salesforce.salesforce_batches", failing_batches)
    with pytest.raises(OSError, match="disk went away"):
        run(db_session, export_dir)
    db_session.rollback()

    assert "opportunity" in every_load_is_large
    assert state(db_session) == before_rows
    assert all_plain_indexes(db_session) == before_indexes


def test_a_failure_after_part_of_a_file_was_staged_leaves_nothing(
    db_session: Session, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_rows = state(db_session)
    streamed: list[int] = []

    def fail_after_the_first(chunks: Iterable[ColumnChunk]) -> Iterator[ColumnChunk]:
        for chunk in chunks:
            streamed.append(len(chunk))
            yield chunk
            # The first chunk's rows are in the stage now.
            raise OSError("the file went away")

    def failing_batches(directory: Path) -> Iterator[EntityBatch]:
        for batch in salesforce_batches(directory):
            if batch.file == "Task.csv":
                assert batch.chunks is not None
                batch.chunks = fail_after_the_first(batch.chunks)
            yield batch

    monkeypatch.setattr("tests.connectors.test_salesforce.salesforce_batches", failing_batches)
    with pytest.raises(OSError, match="the file went away"):
        run(db_session, export_dir)
    db_session.rollback()

    assert streamed
    assert streamed[0] > 0
    assert state(db_session) == before_rows
    # The connection is usable again: the same import now goes through.
    monkeypatch.setattr("tests.connectors.test_salesforce.salesforce_batches", salesforce_batches)
    assert run(db_session, export_dir).ok


# --- read-ahead ----------------------------------------------------------------------------------


def test_read_ahead_yields_every_item_in_order() -> None:
    assert list(prefetched(iter(range(1000)), depth=2)) == list(range(1000))


def test_read_ahead_raises_the_producers_error_where_its_item_would_have_come() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("line 3 is broken")

    seen: list[int] = []

    def consume() -> None:
        for item in prefetched(items()):
            seen.append(item)

    with pytest.raises(ValueError, match="line 3 is broken"):
        consume()
    assert seen == [1, 2]


def test_leaving_the_loop_early_stops_the_producer() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for item in range(1_000_000):
            produced.append(item)
            yield item

    def consume() -> None:
        for item in prefetched(items()):
            if item == 5:
                raise RuntimeError("the consumer failed")

    with pytest.raises(RuntimeError):
        consume()
    assert len(produced) < 10
    assert not any(thread.name == "import-read-ahead" for thread in threading.enumerate())
