"""Fixtures shared by the whole suite.

Every test that takes ``db_session`` runs twice: on a SQLite file and on a PostgreSQL database
created for this run. PostgreSQL tests skip with the reason when no server answers, except when
``BRIDGEHEAD_REQUIRE_POSTGRES=1`` (CI), where an unreachable server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

# pytest-xdist's workers start with COLUMNS=80, and a Rich console takes COLUMNS as a fixed width
# when it is built, at import of the CLI modules: the CLI tests' wider COLUMNS would then be
# ignored and long table cells wrapped. Without it, each console reads COLUMNS when it prints.
os.environ.pop("COLUMNS", None)

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import bridgehead.models  # noqa: F401  (every table mapped before the first session)
from bridgehead.config import Settings
from bridgehead.connectors.jobs import ImportJobs
from bridgehead.db import make_engine
from bridgehead.migrate import upgrade_database
from bridgehead.web.app import create_app
from bridgehead.web.deps import get_session

# Hypothesis fails an example that runs over 200 ms by default: a timing assertion, which a loaded
# CI machine trips at random. Tests here assert behaviour only.
hypothesis_settings.register_profile("bridgehead", deadline=None)
hypothesis_settings.load_profile("bridgehead")

POSTGRES_ADMIN_URL = os.environ.get(
    "BRIDGEHEAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("BRIDGEHEAD_REQUIRE_POSTGRES") == "1"
# The real public datasets live in shared/, beside the clone.
DATA_DIR = Path(
    os.environ.get("BRIDGEHEAD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def _postgres_unreachable_reason() -> str | None:
    engine = make_engine(Settings(), url=POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no server for these tests
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}"
    finally:
        engine.dispose()
    return None


def create_postgres_database(prefix: str) -> str:
    """Create an empty, uniquely named PostgreSQL database and return its URL (skip if no server)."""
    reason = _postgres_unreachable_reason()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason + " (BRIDGEHEAD_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(Settings(), url=POSTGRES_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url: str) -> None:
    """Drop a database made by ``create_postgres_database``."""
    name = url.rsplit("/", 1)[1]
    admin = make_engine(Settings(), url=POSTGRES_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    """Settings for tests: a fixed secret so cookies survive across app instances."""
    return Settings(secret_key="test-secret-key-not-for-production", database_url="sqlite://")


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of each backend, made once per test run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'bridgehead.db'}"
        engine = make_engine(Settings(), url=url)
        upgrade_database(engine)
        engine.dispose()
        yield url
        return
    url = create_postgres_database("bh_test")
    engine = make_engine(Settings(), url=url)
    upgrade_database(engine)
    engine.dispose()
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str, test_settings: Settings) -> Iterator[Engine]:
    """One engine per backend for the whole run."""
    engine = make_engine(test_settings, url=database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session whose every change, commits included, is rolled back after the test.

    SQLAlchemy's "join an external transaction" recipe: commits inside the test release a
    savepoint; the outer transaction is rolled back at the end.
    """
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def app(db_session: Session, test_settings: Settings, database_url: str) -> Iterator[FastAPI]:
    """The real application, its requests running inside the test's rolled-back transaction."""
    app = create_app(test_settings.model_copy(update={"database_url": database_url}))

    def session_in_test_transaction() -> Iterator[Session]:
        try:
            yield db_session
            db_session.commit()
        except BaseException:
            db_session.expunge_all()
            db_session.rollback()
            raise

    app.dependency_overrides[get_session] = session_in_test_transaction
    # Import jobs run in the request's session and thread, inside the test's transaction; the
    # background thread is tested on its own database (tests/connectors/test_jobs.py).
    app.state.import_jobs = ImportJobs(app.state.session_factory, inline=True)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client for ``app`` (no network; cookies kept between calls)."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
