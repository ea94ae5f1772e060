"""The migrations build exactly the schema the models declare, on both databases, and can be undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from bridgehead.config import Settings
from bridgehead.db import make_engine
from bridgehead.migrate import alembic_config, current_revision, exists_on, head_revision, upgrade_database
from bridgehead.models import Base
from tests.conftest import create_postgres_database, drop_postgres_database


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
