"""Create or upgrade a database schema with Alembic, from code (used by ``bridgehead init`` and tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.schema import Constraint, Index

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of Bridgehead."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def exists_on(dialect_name: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An Alembic ``include_object`` filter: leave out what the models declare for other backends only.

    A constraint or index declared with ``.ddl_if(dialect=...)`` (segment_member's foreign keys
    exist on PostgreSQL only) is not created on other backends, so comparing a database of
    ``dialect_name`` with the models must not ask for it.
    """

    def include(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        declared = compare_to if reflected else item
        if not isinstance(declared, Constraint | Index):
            return True
        condition = declared._ddl_if
        if condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect_name == wanted if isinstance(wanted, str) else dialect_name in wanted

    return include
