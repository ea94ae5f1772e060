"""A request whose write loses to another transaction answers 503 with a clear message and a
Retry-After, on the API and on a page; any other database error is still the logged 500.

The conflict is real: another connection holds a SQLite file's write lock while the route writes
to that file waiting at most a millisecond for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bridgehead.config import Settings
from bridgehead.db import make_engine
from bridgehead.web.app import WRITE_CONFLICT_RETRY_SECONDS


@pytest.fixture
def locked_file(tmp_path: Path) -> Iterator[Path]:
    """A SQLite file whose write lock another connection holds until the test ends."""
    path = tmp_path / "busy.db"
    setup = sqlite3.connect(path)
    # WAL, as every Bridgehead database: readers go on while the lock is held.
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE note (body TEXT)")
    setup.commit()
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield path
    holder.rollback()
    holder.close()


@pytest.fixture
def conflict_client(app: FastAPI, locked_file: Path) -> Iterator[TestClient]:
    """The real application with two routes that write to the locked file, and one that runs a
    wrong statement there."""
    engine = make_engine(Settings(database_lock_wait_ms=1), url=f"sqlite:///{locked_file}")

    def run(statement: str) -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)

    def write_note() -> None:
        run("INSERT INTO note VALUES ('lost')")

    def wrong_statement() -> None:
        run("SELECT * FROM no_such_table")

    app.add_api_route("/api/v1/test-conflict", write_note, methods=["POST"])
    app.add_api_route("/test-conflict", write_note, methods=["POST"])
    app.add_api_route("/api/v1/test-wrong-statement", wrong_statement, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


def test_a_lost_write_on_the_api_answers_503_with_retry_after(conflict_client: TestClient) -> None:
    response = conflict_client.post("/api/v1/test-conflict")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(WRITE_CONFLICT_RETRY_SECONDS)
    message = response.json()["detail"]["message"]
    assert "busy with another change" in message
    assert "nothing was saved" in message


def test_a_lost_write_on_a_page_shows_the_error_page_with_503(conflict_client: TestClient) -> None:
    response = conflict_client.post("/test-conflict")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(WRITE_CONFLICT_RETRY_SECONDS)
    assert "text/html" in response.headers["content-type"]
    assert "nothing was saved: try again in a moment" in response.text
    assert "Traceback" not in response.text


def test_any_other_database_error_stays_the_logged_500(conflict_client: TestClient) -> None:
    response = conflict_client.post("/api/v1/test-wrong-statement")
    assert response.status_code == 500
    assert response.json() == {"detail": {"message": "internal error; it has been logged"}}
    assert "Retry-After" not in response.headers
