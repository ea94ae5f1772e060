"""The migrations build exactly the schema the models declare, on both databases, and can be undone."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Column, MetaData, String, inspect, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from bridgehead.auth.models import User
from bridgehead.config import Settings
from bridgehead.connectors.deferred_indexes import DERIVED_COUNTS
from bridgehead.crm.models import Account, Activity, ActivityDirection, ActivityKind, Opportunity
from bridgehead.db import make_engine
from bridgehead.intelligence.gaps.models import GapSignal
from bridgehead.migrate import alembic_config, current_revision, exists_on, head_revision, upgrade_database
from bridgehead.models import Base
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.helpers import (
    activities_counted,
    activity_month_kept,
    opportunity_sums_counted,
    opportunity_sums_kept,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new, empty database of each backend."""
    if request.param == "sqlite":
        engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    url = create_postgres_database("bh_migrate")
    engine = make_engine(Settings(), url=url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_postgres_database(url)


def _differences(engine: Engine, metadata: MetaData = Base.metadata) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": exists_on(connection.dialect.name)},
        )
        return list(compare_metadata(context, metadata))


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _audit_log_is_append_only(engine: Engine) -> bool:
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(
            text(
                "INSERT INTO audit_log (occurred_at, action, object_type, object_id, source) "
                "VALUES (CURRENT_TIMESTAMP, 'create', 'probe', '1', 'test')"
            )
        )
        try:
            connection.execute(text("DELETE FROM audit_log"))
        except DBAPIError:
            return True
        finally:
            transaction.rollback()
    return False


def test_head_schema_matches_the_models(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    upgrade_database(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _tables(empty_engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert _differences(empty_engine) == []
    assert _audit_log_is_append_only(empty_engine)
    # The comparison does see a difference when there is one.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        copy = table.to_metadata(changed)
        # to_metadata drops ddl_if (segment_member's foreign keys exist on PostgreSQL only).
        conditions = {constraint.name: constraint._ddl_if for constraint in table.constraints}
        for constraint in copy.constraints:
            constraint._ddl_if = conditions.get(constraint.name)
    changed.tables["account"].append_column(Column("loyalty_tier", String(20)))
    assert [diff[0] for diff in _differences(empty_engine, changed)] == ["add_column"]  # type: ignore[index]


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    upgrade_database(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _differences(empty_engine) == []


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    _downgrade(empty_engine, "base")
    assert current_revision(empty_engine) is None
    assert _tables(empty_engine) <= {"alembic_version"}
    upgrade_database(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _differences(empty_engine) == []
    # The triggers (and on PostgreSQL their function) came back too.
    assert _audit_log_is_append_only(empty_engine)


def test_revision_files_follow_the_naming_rule() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())
    assert len(script.get_heads()) == 1  # no branches left unmerged
    for revision in revisions:
        name = Path(revision.path).name
        assert name[:11].count("-") == 2, name  # YYYY-MM-DD_slug
        assert name[10] == "_", name


def _enum_checks_migration() -> ModuleType:
    path = next(
        Path(alembic_config().get_main_option("script_location") or "").glob(
            "versions/*_sqlite_enum_checks.py"
        )
    )
    spec = importlib.util.spec_from_file_location("sqlite_enum_checks", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table_definitions(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        return {str(name): str(sql) for name, sql in rows}


def _insert_activity(connection: Connection, kind: str) -> None:
    connection.exec_driver_sql(
        "INSERT INTO activity (kind, direction, occurred_at, custom_fields) "
        "VALUES (?, 'inbound', '2026-01-01 00:00:00', '{}')",
        (kind,),
    )


def test_sqlite_enum_checks_are_equalities_that_still_reject_unknown_values(tmp_path: Path) -> None:
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade_database(engine)
    definitions = _table_definitions(engine)
    assert "kind = 'call' OR kind = 'email' OR kind = 'meeting' OR kind = 'task'" in definitions["activity"]
    assert not [name for name, sql in definitions.items() if re.search(r"CHECK \(\S+ IN \(", sql)]
    with engine.begin() as connection:
        _insert_activity(connection, "meeting")
    with pytest.raises(IntegrityError, match="ck_activity_activity_kind"), engine.begin() as connection:
        _insert_activity(connection, "fax")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT kind FROM activity").scalars().all() == ["meeting"]
    engine.dispose()


def test_every_enum_in_list_rewrites_to_what_the_ddl_compiler_writes() -> None:
    """The migration's rewrite of the IN list each enum constraint compiles to gives the DDL's own text."""
    migration = _enum_checks_migration()
    dialect = sqlite.dialect()
    seen = 0
    for table in Base.metadata.tables.values():
        ddl = str(CreateTable(table).compile(dialect=dialect))
        for constraint in table.constraints:
            if not isinstance(constraint, CheckConstraint) or not getattr(constraint, "_type_bound", False):
                continue
            membership = constraint.sqltext.compile(
                dialect=dialect, compile_kwargs={"literal_binds": True, "include_table": False}
            )
            in_list = f"CHECK ({membership})"
            assert " IN (" in in_list
            assert migration.as_equalities(in_list) in ddl, (table.name, in_list)
            assert migration.as_in_lists(migration.as_equalities(in_list)) == in_list
            seen += 1
    assert seen >= 20


def test_sqlite_database_from_before_0018_gets_equalities_and_keeps_its_rows(tmp_path: Path) -> None:
    fresh = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade_database(fresh)
    expected = _table_definitions(fresh)
    fresh.dispose()

    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_database(engine)
    _downgrade(engine, "0017")
    old = _table_definitions(engine)
    assert "CHECK (kind IN ('call', 'email', 'meeting', 'task'))" in old["activity"]
    with engine.begin() as connection:
        _insert_activity(connection, "call")
        # The same pooled connection then runs the upgrade: it must reread the definitions.
        connection.exec_driver_sql("SELECT count(*) FROM activity").scalar_one()
    upgrade_database(engine)
    assert _table_definitions(engine) == expected
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        assert connection.exec_driver_sql("SELECT kind FROM activity").scalars().all() == ["call"]
    with pytest.raises(IntegrityError, match="ck_activity_activity_kind"), engine.begin() as connection:
        _insert_activity(connection, "fax")
    assert _differences(engine) == []
    engine.dispose()


def _store_with_an_owner(engine: Engine, rows_of: Callable[[int], list[Any]]) -> int:
    """Commit a user and the rows ``rows_of(their id)`` makes (on an older schema); their id."""
    with Session(engine) as session:
        owner = User(
            email="owner@old.example", full_name="Owner", role="rep", is_active=True, password_hash="x"
        )
        session.add(owner)
        session.flush()
        session.add_all(rows_of(owner.id))
        session.commit()
        return owner.id


def test_activity_month_counts_the_activities_stored_before_it_and_follows_writes_after(
    empty_engine: Engine,
) -> None:
    upgrade_database(empty_engine)
    _downgrade(empty_engine, "0020")
    assert "activity_month" not in _tables(empty_engine)
    times = [
        dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 8, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC),
    ]
    owner_id = _store_with_an_owner(
        empty_engine,
        lambda owner_id: [
            Activity(
                kind=ActivityKind.CALL,
                direction=ActivityDirection.INBOUND,
                occurred_at=moment,
                owner_id=owner_id if index else None,
                custom_fields={},
            )
            for index, moment in enumerate(times)
        ],
    )
    upgrade_database(empty_engine)
    with Session(empty_engine) as session:
        expected = {
            (0, dt.date(2026, 1, 1), "call"): 1,
            (owner_id, dt.date(2026, 1, 1), "call"): 1,
            (owner_id, dt.date(2026, 2, 1), "call"): 1,
        }
        assert activity_month_kept(session) == expected == activities_counted(session)
        session.execute(update(Activity).values(owner_id=owner_id))
        assert activity_month_kept(session) == activities_counted(session)
        session.rollback()
    assert _differences(empty_engine) == []


def test_opportunity_sums_count_the_deals_stored_before_them_and_follow_writes_after(
    empty_engine: Engine,
) -> None:
    upgrade_database(empty_engine)
    _downgrade(empty_engine, "0021")
    assert "opportunity_month" not in _tables(empty_engine)
    assert "open_opportunity_stage" not in _tables(empty_engine)
    deals = [
        (dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC), False),
        (dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC), False),
        (dt.datetime(2026, 2, 3, 8, 0, tzinfo=dt.UTC), True),
    ]
    owner_id = _store_with_an_owner(
        empty_engine,
        lambda owner_id: [
            Opportunity(
                name=f"Old deal {index}",
                stage="Closed Won" if closed else "Proposal",
                is_closed=closed,
                is_won=closed,
                amount=Decimal("100.25"),
                probability=30,
                close_date=dt.date(2026, 3, 15),
                created_at=created,
                owner_id=owner_id if index else None,
                custom_fields={},
            )
            for index, (created, closed) in enumerate(deals)
        ],
    )
    upgrade_database(empty_engine)
    with Session(empty_engine) as session:
        months, stages = opportunity_sums_kept(session)
        assert months == {
            (0, dt.date(2026, 1, 1)): (1, 10_025, 0, 0, 0),
            (owner_id, dt.date(2026, 2, 1)): (2, 20_050, 0, 0, 0),
            (0, dt.date(2026, 3, 1)): (0, 0, 1, 10_025, 10_025 * 30),
            (owner_id, dt.date(2026, 3, 1)): (0, 0, 1, 10_025, 10_025 * 30),
        }
        assert stages == {(0, "Proposal"): (1, 30, 1), (owner_id, "Proposal"): (1, 30, 1)}
        assert (months, stages) == opportunity_sums_counted(session)
        session.execute(update(Opportunity).values(owner_id=owner_id, stage="Negotiation"))
        assert opportunity_sums_kept(session) == opportunity_sums_counted(session)
        session.rollback()
    assert _differences(empty_engine) == []


def test_head_keeps_every_derived_count_trigger_on_its_table(empty_engine: Engine) -> None:
    """The month sums are only as right as their triggers: a later migration that rebuilt
    ``activity`` or ``opportunity`` (SQLite's batch mode copies a table, and its triggers go with
    the old one) would leave them silently stale. So head must have every trigger, enabled."""
    upgrade_database(empty_engine)
    with empty_engine.connect() as connection:
        if empty_engine.dialect.name == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT t.tgname, c.relname, t.tgenabled FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            ).all()
            found = {name: table for name, table, enabled in rows if enabled == "O"}
        else:
            rows = connection.execute(
                text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            found = {str(name): str(table) for name, table in rows}
    expected = {name: table for table, (names, _recount) in DERIVED_COUNTS.items() for name in names}
    assert expected
    assert {name: found.get(name) for name in expected} == expected


def test_head_carries_deletes_into_the_signals_by_triggers_not_keys(empty_engine: Engine) -> None:
    """gap_signal names its deal, account and owner without foreign keys (on PostgreSQL its
    acknowledger and snoozer too), so the triggers doing the keys' ON DELETE actions must be at head:
    a later migration that rebuilt a table without them would leave signals of deleted deals."""
    upgrade_database(empty_engine)
    postgres = empty_engine.dialect.name == "postgresql"
    with empty_engine.connect() as connection:
        if postgres:
            rows = connection.execute(
                text(
                    "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND t.tgenabled = 'O' AND t.tgname LIKE 'gap_signal%'"
                )
            ).all()
        else:
            rows = connection.execute(
                text(
                    "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'gap_signal%'"
                )
            ).all()
        found = {str(name): str(table) for name, table in rows}
        keys = {
            str(key["referred_table"]) + "." + ",".join(key["constrained_columns"])
            for key in inspect(connection).get_foreign_keys("gap_signal")
        }
    if postgres:
        assert found == {
            "gap_signal_opportunity_deleted": "opportunity",
            "gap_signal_opportunity_truncated": "opportunity",
            "gap_signal_account_deleted": "account",
            "gap_signal_account_truncated": "account",
            "gap_signal_user_deleted": "user",
            "gap_signal_user_truncated": "user",
        }
        assert keys == set()
    else:
        assert found == {
            "gap_signal_opportunity_deleted": "opportunity",
            "gap_signal_account_deleted": "account",
            "gap_signal_owner_deleted": "user",
        }
        assert keys == {"user.acknowledged_by_id", "user.snoozed_by_id"}


def test_signals_stored_before_0024_keep_their_sentence_and_name_their_account_through_the_deal(
    empty_engine: Engine,
) -> None:
    """0024 drops the stored explanation (written from the evidence on read) and 0025 clears a deal
    signal's own account (read through the deal); an account's own signal keeps it. Going back to
    0024 reads each deal signal's account from its deal again."""
    upgrade_database(empty_engine)
    _downgrade(empty_engine, "0023")
    owner_id = _store_with_an_owner(empty_engine, lambda owner_id: [])
    with Session(empty_engine) as session:
        account = Account(name="Old Account", owner_id=owner_id)
        session.add(account)
        session.flush()
        deal = Opportunity(
            name="Old deal", stage="Proposal", account_id=account.id, owner_id=owner_id, custom_fields={}
        )
        session.add(deal)
        session.commit()
        account_id, deal_id = account.id, deal.id
    insert = text(
        "INSERT INTO gap_signal (kind, severity, subject_key, opportunity_id, account_id, owner_id, "
        "amount_at_risk, explanation, evidence, raised_at, last_seen_at) VALUES (:kind, 'medium', :key, "
        ":deal, :account, :owner, 0, 'stored sentence', :evidence, :now, :now)"
    )
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with empty_engine.begin() as connection:
        connection.execute(
            insert,
            {
                "kind": "missing_fields",
                "key": f"opportunity:{deal_id}",
                "deal": deal_id,
                "account": account_id,
                "owner": owner_id,
                "evidence": '{"stage": "Proposal", "missing": "Product", "missing_count": 1}',
                "now": now,
            },
        )
        connection.execute(
            insert,
            {
                "kind": "off_strategy",
                "key": f"account:{account_id}",
                "deal": None,
                "account": account_id,
                "owner": owner_id,
                "evidence": '{"segment": "SMB", "activities": 4, "activity_days": 30, "subject": "account"}',
                "now": now,
            },
        )
    upgrade_database(empty_engine)
    with Session(empty_engine) as session:
        signals = {signal.kind: signal for signal in session.scalars(select(GapSignal))}
        assert (signals["missing_fields"].account_id, signals["off_strategy"].account_id) == (
            None,
            account_id,
        )
        assert signals["missing_fields"].explanation == "Stage Proposal requires Product; not filled in"
        assert signals["off_strategy"].explanation == (
            "4 activities in the last 30 days on an account in the deprioritised segment SMB"
        )
    assert _differences(empty_engine) == []
    _downgrade(empty_engine, "0024")
    with empty_engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT kind, account_id FROM gap_signal")).all())
    assert stored == {"missing_fields": account_id, "off_strategy": account_id}
