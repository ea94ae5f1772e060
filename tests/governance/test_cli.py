"""``bridgehead initiatives list|show`` on a real SQLite database: filters, output, one-line failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridgehead.cli import app
from bridgehead.governance.models import InitiativeStage
from tests.governance.support import full_initiative, make_cast, walk_to
from tests.helpers import committed, sqlite_for_cli

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite file named through the environment, migrated, holding two initiatives."""
    with sqlite_for_cli(tmp_path, monkeypatch) as url:
        with committed(url) as session:
            cast = make_cast(session)
            full_initiative(session, cast, title="Partner channel")
            walk_to(
                session, cast, full_initiative(session, cast, title="Value selling"), InitiativeStage.DECIDED
            )
        yield url


def test_list_with_filters(database_url: str) -> None:
    everything = runner.invoke(app, ["initiatives", "list"])
    assert everything.exit_code == 0, everything.output
    assert "2 initiatives" in everything.output
    assert "Partner channel" in everything.output
    decided = runner.invoke(app, ["initiatives", "list", "--stage", "decided"])
    assert "1 initiatives" in decided.output
    assert "Value selling" in decided.output
    assert "Partner channel" not in decided.output
    none = runner.invoke(app, ["initiatives", "list", "--priority", "999"])
    assert "0 initiatives" in none.output


def test_show_one(database_url: str) -> None:
    listing = runner.invoke(app, ["initiatives", "list", "--stage", "identified"]).output
    initiative_id = next(
        line.split("│")[1].strip() for line in listing.splitlines() if "Partner channel" in line
    )
    shown = runner.invoke(app, ["initiatives", "show", initiative_id])
    assert shown.exit_code == 0, shown.output
    assert "Partner channel" in shown.output
    assert "Next gate detailed" in shown.output
    assert "Hire two FS AEs" in shown.output


def test_failures_are_one_line(database_url: str) -> None:
    unknown_stage = runner.invoke(app, ["initiatives", "list", "--stage", "done"])
    assert unknown_stage.exit_code == 2
    assert unknown_stage.stderr.strip().startswith("error: no such stage")
    missing = runner.invoke(app, ["initiatives", "show", "424242"])
    assert missing.exit_code == 4
    assert "Traceback" not in missing.output
    assert len(missing.stderr.strip().splitlines()) == 1
