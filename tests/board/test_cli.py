"""``bridgehead board`` prints the grid, takes a viewer, and fails in one line on bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridgehead.cli import app
from tests.board.support import PERIOD, build_world, populate
from tests.helpers import committed, sqlite_for_cli

runner = CliRunner()


@pytest.fixture
def emails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh SQLite file holding the test organisation; the e-mails of its manager and a rep."""
    with sqlite_for_cli(tmp_path, monkeypatch, name="board.db", columns=220) as url:
        with committed(url) as session:
            world = build_world(session)
            populate(world, session)
            found = {
                "manager": world.manager.email,
                "rep": world.reps["ann"].email,
                "south": str(world.south.id),
            }
        yield found


def test_board_prints_the_grid(emails: dict[str, str]) -> None:
    result = runner.invoke(app, ["board", "--period", PERIOD])
    assert result.exit_code == 0, result.output
    assert "Three-gap board · Company · 2025-Q2" in result.output
    assert "Win enterprise FS" in result.output
    assert "50.0" in result.output  # the alignment gap
    assert "62.5" in result.output  # the knowledge gap


def test_board_as_a_manager_and_refusals(emails: dict[str, str]) -> None:
    mine = runner.invoke(app, ["board", "--period", PERIOD, "--as", emails["manager"]])
    assert mine.exit_code == 0
    assert "Team A" in mine.output
    outside = runner.invoke(app, ["board", "--unit", emails["south"], "--as", emails["manager"]])
    assert outside.exit_code == 4
    assert "no such org unit" in outside.stderr
    rep = runner.invoke(app, ["board", "--as", emails["rep"]])
    assert rep.exit_code == 6
    assert "gap inbox" in rep.stderr
    bad = runner.invoke(app, ["board", "--period", "someday"])
    assert bad.exit_code == 2
    assert "period" in bad.stderr
    assert "Traceback" not in bad.output


def test_board_says_as_of_when_and_refreshes(emails: dict[str, str]) -> None:
    first = runner.invoke(app, ["board", "--period", PERIOD])
    assert first.exit_code == 0, first.output
    assert "Figures as of " in first.output
    assert "kept from an earlier reading" not in first.output
    kept = runner.invoke(app, ["board", "--period", PERIOD])
    assert "kept from an earlier reading" in kept.output
    refreshed = runner.invoke(app, ["board", "--period", PERIOD, "--refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "kept from an earlier reading" not in refreshed.output
    assert "50.0" in refreshed.output
