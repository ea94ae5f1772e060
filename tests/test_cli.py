"""The ``bridgehead`` command: every command has help, and every failure is one line, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import authenticate, user_for_api_token
from bridgehead.cli import app
from bridgehead.config import Settings, get_settings
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.migrate import current_revision, head_revision
from tests.helpers import sqlite_for_cli

runner = CliRunner()
PASSWORD = "a long enough password"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite file named through the environment, not yet initialised."""
    with sqlite_for_cli(tmp_path, monkeypatch, initialise=False) as url:
        yield url


@pytest.fixture
def initialised(database_url: str) -> str:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    return database_url


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _assert_one_line_failure(result: Result, code: int, *phrases: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for phrase in phrases:
        assert phrase in lines[0]


def _users(url: str) -> list[User]:
    engine = make_engine(Settings(), url=url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            return list(session.scalars(select(User).order_by(User.id)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["demo"],
        ["serve"],
        ["users"],
        ["users", "add"],
        ["users", "list"],
        ["users", "set-password"],
        ["users", "token"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "--help" in result.output


def test_top_level_help_lists_the_commands() -> None:
    result = _run("--help")
    for name in ("init", "demo", "serve", "users"):
        assert name in result.output


def test_init_creates_then_leaves_the_database_alone(database_url: str) -> None:
    first = _run("init")
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    second = _run("init")
    assert second.exit_code == 0, second.output
    assert "already at revision" in second.output
    engine = make_engine(Settings(), url=database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["users", "list"],
        ["users", "add", "a@example.com", "--name", "A", "--role", "rep", "--password", PASSWORD],
        ["users", "token", "a@example.com"],
        ["users", "set-password", "a@example.com", "--password", PASSWORD],
    ],
)
def test_commands_on_an_uninitialised_database_say_to_run_init(database_url: str, command: list[str]) -> None:
    _assert_one_line_failure(_run(*command), 12, "not set up", "bridgehead init")


def test_init_on_an_unreachable_database_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("BRIDGEHEAD_DATABASE_URL", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")
    get_settings.cache_clear()
    _assert_one_line_failure(_run("init"), 10, "database error")


def test_users_add_list_and_sign_in(initialised: str) -> None:
    boss = _run(
        "users", "add", "Boss@Example.com", "--name", "Bea Boss", "--role", "Manager", "--password", PASSWORD
    )
    assert boss.exit_code == 0, boss.output
    assert "Added Bea Boss <boss@example.com> as manager" in boss.output
    rep = _run(
        "users",
        "add",
        "rep@example.com",
        "--name",
        "Rob Rep",
        "--role",
        "rep",
        "--password",
        PASSWORD,
        "--manager",
        "boss@example.com",
    )
    assert rep.exit_code == 0, rep.output
    stored = {user.email: user for user in _users(initialised)}
    assert set(stored) == {"boss@example.com", "rep@example.com"}
    assert stored["rep@example.com"].manager_id == stored["boss@example.com"].id
    assert stored["rep@example.com"].role is Role.REP
    assert PASSWORD not in (stored["rep@example.com"].password_hash or "")

    listed = _run("users", "list")
    assert listed.exit_code == 0, listed.output
    assert "2 users" in listed.output
    rep_line = next(line for line in listed.output.splitlines() if "rep@example.com" in line)
    assert "Rob Rep" in rep_line
    assert "Bea Boss" in rep_line  # the manager by name
    only_managers = _run("users", "list", "--role", "manager")
    assert "1 users" in only_managers.output
    assert "rep@example.com" not in only_managers.output


def test_users_add_failures_are_one_line(initialised: str) -> None:
    ok = _run("users", "add", "taken@example.com", "--name", "T", "--role", "rep", "--password", PASSWORD)
    assert ok.exit_code == 0, ok.output
    _assert_one_line_failure(
        _run("users", "add", "TAKEN@example.com", "--name", "T2", "--role", "rep", "--password", PASSWORD),
        3,
        "already exists",
    )
    _assert_one_line_failure(
        _run("users", "add", "new@example.com", "--name", "N", "--role", "overlord", "--password", PASSWORD),
        2,
        "unknown role",
        "overlord",
    )
    short = _run("users", "add", "new@example.com", "--name", "N", "--role", "rep", "--password", "short")
    _assert_one_line_failure(short, 2, "at least 8 characters")
    assert "short" not in short.stderr.replace("at least", "")
    _assert_one_line_failure(
        _run("users", "add", "not-an-email", "--name", "N", "--role", "rep", "--password", PASSWORD),
        2,
        "e-mail",
    )
    _assert_one_line_failure(
        _run(
            "users",
            "add",
            "new@example.com",
            "--name",
            "N",
            "--role",
            "rep",
            "--password",
            PASSWORD,
            "--manager",
            "ghost@example.com",
        ),
        4,
        "ghost@example.com",
    )
    # Without --password and without a terminal there is nobody to ask.
    _assert_one_line_failure(
        _run("users", "add", "new@example.com", "--name", "N", "--role", "rep"), 2, "--password"
    )
    assert [user.email for user in _users(initialised)] == ["taken@example.com"]
    _assert_one_line_failure(_run("users", "list", "--role", "ceo"), 2, "unknown role")


def test_set_password(initialised: str) -> None:
    _run("users", "add", "rep@example.com", "--name", "R", "--role", "rep", "--password", PASSWORD)
    changed = _run("users", "set-password", "rep@example.com", "--password", "another long password")
    assert changed.exit_code == 0, changed.output
    assert "Password of rep@example.com changed" in changed.output
    engine = make_engine(Settings(), url=initialised)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            assert authenticate(session, email="rep@example.com", password="another long password").email == (
                "rep@example.com"
            )
    finally:
        engine.dispose()
    _assert_one_line_failure(
        _run("users", "set-password", "rep@example.com", "--password", "short"), 2, "at least 8"
    )
    _assert_one_line_failure(
        _run("users", "set-password", "ghost@example.com", "--password", PASSWORD), 4, "no user"
    )


def test_token_prints_a_working_secret_once(initialised: str) -> None:
    _run("users", "add", "rep@example.com", "--name", "R", "--role", "rep", "--password", PASSWORD)
    result = _run("users", "token", "rep@example.com", "--name", "sheet", "--expires-in-days", "30")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("bh_")
    assert "\n" not in secret
    engine = make_engine(Settings(), url=initialised)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            assert user_for_api_token(session, secret).email == "rep@example.com"
    finally:
        engine.dispose()
    _assert_one_line_failure(_run("users", "token", "ghost@example.com"), 4, "no user")
    _assert_one_line_failure(_run("users", "token", "rep@example.com", "--expires-in-days", "0"), 2, "expiry")
