"""Imports as background jobs, on a real server's own SQLite file: the worker thread opens its own
session and commits; the API answers 202 and the page follows the job's progress to the result."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bridgehead.config import Settings
from bridgehead.connectors.jobs import FINISHED
from bridgehead.connectors.models import ImportRun
from bridgehead.crm.models import Opportunity
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.migrate import upgrade_database
from bridgehead.web.app import create_app
from bridgehead.web.deps import CSRF_COOKIE, SESSION_COOKIE
from tests.connectors.web_support import DEALS_CSV, DEALS_MAPPING, GOOD_DEALS_CSV, make_world
from tests.factories import make_login_session, make_token, make_user
from tests.helpers import CSRF_TOKEN, bearer

POLLS = 600
POLL_SECONDS = 0.05


@dataclass
class Server:
    """A client of an app on its own database, with who may use it."""

    client: TestClient
    engine: Engine
    planner_headers: dict[str, str]
    other_planner_headers: dict[str, str]
    rep_headers: dict[str, str]
    planner_cookie: str
    upload_root: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The real app (no test transaction, threaded jobs) on a migrated SQLite file with a planner."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    settings = Settings(database_url=url, secret_key="jobs-test-secret")
    engine = make_engine(settings)
    upgrade_database(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        world = make_world(session)
        other = make_user(session, full_name="Otto Planner", role=world.planner.role)
        planner_headers = bearer(make_token(session, world.planner).secret)
        other_headers = bearer(make_token(session, other).secret)
        rep_headers = bearer(make_token(session, world.rep).secret)
        cookie = make_login_session(session, world.planner)
    app = create_app(settings)
    app.state.import_root = tmp_path / "uploads"
    with TestClient(app) as client:
        yield Server(
            client, engine, planner_headers, other_headers, rep_headers, cookie, tmp_path / "uploads"
        )
    app.state.engine.dispose()
    engine.dispose()


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def _post(server: Server, content: bytes, headers: dict[str, str], **flags: str) -> Any:
    parts = [
        ("files", ("deals.csv", content, "text/csv")),
        ("mapping", ("deals.toml", DEALS_MAPPING, "application/toml")),
    ]
    return server.client.post("/api/v1/imports", headers=headers, data={"kind": "csv", **flags}, files=parts)


def _finished(server: Server, url: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(POLLS):
        body: dict[str, Any] = server.client.get(url, headers=headers).json()
        if body["status"] in FINISHED:
            return body
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"the job at {url} did not finish")


def test_api_background_import_commits_in_its_own_transaction(server: Server) -> None:
    started = _post(server, GOOD_DEALS_CSV, server.planner_headers, background="true")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/api/v1/imports/jobs/{started.json()['id']}"
    assert started.json()["status"] in {"queued", "running", "done"}
    done = _finished(server, location, server.planner_headers)
    assert done["status"] == "done", done
    assert done["report"]["status"] == "committed"
    assert done["report"]["counts"]["opportunity"]["created"] == 2
    assert isinstance(done["run_id"], int)
    assert done["seconds"] >= 0
    assert done["signals_raised"] is not None, "the gap scan ran after the commit"
    assert done["scan_error"] is None
    assert _count(server.engine, Opportunity) == 2, "the job committed"
    assert (
        server.client.get(f"/api/v1/imports/{done['run_id']}", headers=server.planner_headers).status_code
        == 200
    )
    assert list(server.upload_root.iterdir()) == [], "the job removed the upload"
    # Another planner does not see the job; a rep may not import at all.
    assert server.client.get(location, headers=server.other_planner_headers).status_code == 404
    assert server.client.get(location, headers=server.rep_headers).status_code == 403
    assert server.client.get("/api/v1/imports/jobs/nope", headers=server.planner_headers).status_code == 404


def test_api_background_refusal_keeps_only_the_failed_run(server: Server) -> None:
    started = _post(server, DEALS_CSV, server.planner_headers, background="true")
    assert started.status_code == 202
    refused = _finished(server, started.headers["location"], server.planner_headers)
    assert refused["status"] == "refused"
    assert "refused" in refused["error"] or "rejected" in refused["error"]
    problems = refused["report"]["problems"]
    assert [(problem["line"], problem["field"]) for problem in problems] == [(4, "amount")]
    assert _count(server.engine, Opportunity) == 0, "all or nothing: nothing written"
    assert _count(server.engine, ImportRun) == 1, "the refusal is in the run history"
    dry = _post(server, GOOD_DEALS_CSV, server.planner_headers, background="true", dry_run="true")
    checked = _finished(server, dry.headers["location"], server.planner_headers)
    assert (checked["status"], checked["report"]["status"], checked["run_id"]) == ("done", "dry_run", None)
    assert _count(server.engine, Opportunity) == 0


def _sign_in(server: Server) -> None:
    server.client.cookies.set(SESSION_COOKIE, server.planner_cookie)
    server.client.cookies.set(CSRF_COOKIE, CSRF_TOKEN)


def _follow_page(server: Server, job_path: str) -> Any:
    """Poll the job page's progress fragment as htmx does, then open where it sends the browser."""
    for _ in range(POLLS):
        fragment = server.client.get(f"{job_path}/progress")
        assert fragment.status_code == 200
        if "hx-redirect" in fragment.headers:
            assert fragment.headers["hx-redirect"] == job_path
            return server.client.get(job_path, follow_redirects=False)
        assert 'data-testid="job-status"' in fragment.text
        time.sleep(POLL_SECONDS)
    raise AssertionError("the job page never finished")


def test_the_wizard_validates_and_imports_large_uploads_in_background_jobs(server: Server) -> None:
    _sign_in(server)
    server.client.app.state.validate_inline_bytes = 0  # type: ignore[attr-defined]
    uploaded = server.client.post(
        "/data/imports/new",
        data={"kind": "csv", "csrf_token": CSRF_TOKEN},
        files=[
            ("files", ("deals.csv", GOOD_DEALS_CSV, "text/csv")),
            ("mapping", ("deals.toml", DEALS_MAPPING, "application/toml")),
        ],
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text
    token = re.search(r"/data/imports/upload/([^/]+)", uploaded.headers["location"])
    assert token is not None
    report = server.client.get(f"/data/imports/upload/{token.group(1)}/report", follow_redirects=False)
    assert report.status_code == 303
    validation_path = report.headers["location"]
    assert validation_path.startswith("/data/imports/jobs/")
    page = server.client.get(validation_path)
    assert page.status_code == 200
    validated = _follow_page(server, validation_path)
    assert validated.status_code == 200
    assert 'data-testid="total-created">2<' in validated.text
    # Opening the report again shows the same validation, without starting another.
    again = server.client.get(f"/data/imports/upload/{token.group(1)}/report", follow_redirects=False)
    assert again.headers["location"] == validation_path
    assert _count(server.engine, Opportunity) == 0

    confirmed = server.client.post(
        f"/data/imports/upload/{token.group(1)}/confirm",
        data={"csrf_token": CSRF_TOKEN},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    target = confirmed.headers["location"]
    if target.startswith("/data/imports/jobs/"):
        finished = _follow_page(server, target)
        assert finished.status_code == 303
        target = finished.headers["location"]
    found = re.match(r"/data/imports/(\d+)\?job=", target)
    assert found is not None, target
    run_page = server.client.get(target)
    assert run_page.status_code == 200
    # The job ran the gap scan after its commit, as the command line does, and says so.
    assert 'data-testid="scan-done"' in run_page.text
    assert _count(server.engine, Opportunity) == 2


def test_a_job_waiting_for_the_write_lock_is_listed_and_then_fails_clearly(
    server: Server, tmp_path: Path
) -> None:
    # Another writer (a command-line import, say) holds SQLite's write lock for longer than the
    # busy timeout (5 s): the job waits, is listed as under way, then fails saying why.
    blocker = sqlite3.connect(tmp_path / "jobs.db", timeout=0, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = _post(server, GOOD_DEALS_CSV, server.planner_headers, background="true")
        assert started.status_code == 202
        location = started.headers["location"]
        for _ in range(POLLS):
            if server.client.get(location, headers=server.planner_headers).json()["status"] == "running":
                break
            time.sleep(POLL_SECONDS)
        _sign_in(server)
        listing = server.client.get("/data/imports")
        assert 'data-testid="jobs-under-way"' in listing.text
        assert "Importing deals.csv" in listing.text
        failed = _finished(server, location, server.planner_headers)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (failed["status"], failed["run_id"]) == ("failed", None)
    assert "busy with another write" in failed["error"]
    assert _count(server.engine, Opportunity) == 0
    assert 'data-testid="jobs-under-way"' not in server.client.get("/data/imports").text


def test_a_stopping_server_abandons_the_running_import_and_writes_nothing(
    server: Server, tmp_path: Path
) -> None:
    blocker = sqlite3.connect(tmp_path / "jobs.db", timeout=0, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    started = _post(server, GOOD_DEALS_CSV, server.planner_headers, background="true")
    location = started.headers["location"]
    jobs = server.client.app.state.import_jobs  # type: ignore[attr-defined]
    # The server is told to stop while the job waits for the write lock; the lock is then released.
    jobs.stop()
    blocker.execute("ROLLBACK")
    blocker.close()
    stopping = threading.Thread(target=jobs.shutdown)
    stopping.start()
    stopping.join(timeout=60)
    assert not stopping.is_alive(), "shutdown returned once the job gave up"
    stopped = server.client.get(location, headers=server.planner_headers).json()
    assert (stopped["status"], stopped["run_id"]) == ("failed", None)
    assert "server stopped" in stopped["error"]
    assert _count(server.engine, Opportunity) == 0
    assert _count(server.engine, ImportRun) == 0
