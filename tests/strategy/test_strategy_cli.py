"""``bridgehead priorities list`` and ``bridgehead trace …`` on a small demo organisation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bridgehead.cli import app
from bridgehead.config import Settings, get_settings
from bridgehead.crm.models import Account, Opportunity
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.strategy.models import Priority

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite file with a small demo organisation, named through the environment."""
    url = f"sqlite:///{tmp_path_factory.mktemp('strategy_cli') / 'cli.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRIDGEHEAD_DATABASE_URL", url)
        patch.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        assert runner.invoke(app, ["init"]).exit_code == 0
        loaded = runner.invoke(app, ["demo", "--scale", "0.05"])
        assert loaded.exit_code == 0, loaded.output
        yield url
    get_settings.cache_clear()


def _first(url: str, model: type[Account] | type[Opportunity] | type[Priority]) -> int:
    engine = make_engine(Settings(), url=url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            value = session.scalars(select(model.id).order_by(model.id)).first()
    finally:
        engine.dispose()
    assert value is not None
    return int(value)


def test_priorities_list_shows_the_tree(demo_database: str) -> None:
    result = runner.invoke(app, ["priorities", "list"])
    assert result.exit_code == 0, result.output
    assert "Move upmarket into enterprise financial services" in result.output
    assert "↳ NA: enterprise banks" in result.output
    assert "missing" in result.output


def test_trace_commands(demo_database: str) -> None:
    priority = runner.invoke(app, ["trace", "priority", str(_first(demo_database, Priority))])
    assert priority.exit_code == 0, priority.output
    assert "What executes it" in priority.output
    assert "North America" in priority.output
    account = runner.invoke(app, ["trace", "account", str(_first(demo_database, Account))])
    assert account.exit_code == 0, account.output
    assert "Serves" in account.output
    deal = runner.invoke(app, ["trace", "opportunity", str(_first(demo_database, Opportunity))])
    assert deal.exit_code == 0, deal.output


@pytest.mark.parametrize("kind", ["account", "opportunity", "priority"])
def test_unknown_id_is_a_one_line_failure(demo_database: str, kind: str) -> None:
    result = runner.invoke(app, ["trace", kind, "987654"])
    assert result.exit_code == 4
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: no such {kind}")


def test_trace_as_an_unknown_user_fails_cleanly(demo_database: str) -> None:
    result = runner.invoke(app, ["trace", "account", "1", "--as", "nobody@nowhere.example"])
    assert result.exit_code == 4
    assert result.stderr.strip().startswith("error: no user with this e-mail")
