"""``bridgehead segments list|evaluate`` against a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bridgehead.cli import app
from bridgehead.config import Settings
from bridgehead.crm.models import Account
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.strategy.models import Segment, SegmentMember, SegmentStance
from tests.helpers import sqlite_for_cli

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with sqlite_for_cli(tmp_path, monkeypatch) as url:
        yield url


def test_evaluate_prints_counts_and_list_shows_them(database_url: str) -> None:
    engine = make_engine(Settings(), url=database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        for index, industry in enumerate(["Banking", "Banking", "Retail"]):
            session.add(Account(name=f"Account {index}", industry=industry, custom_fields={}))
        session.add(
            Segment(
                name="Banks",
                stance=SegmentStance.INVEST,
                rule={"all": [{"field": "industry", "op": "eq", "value": "banking"}]},
            )
        )
    result = runner.invoke(app, ["segments", "evaluate"])
    assert result.exit_code == 0, result.output
    assert "1 segments evaluated" in result.output
    with unit_of_work(make_session_factory(engine)) as session:
        members = session.scalar(select(func.count()).select_from(SegmentMember))
        banks = session.scalar(select(func.count()).select_from(Account).where(Account.industry == "Banking"))
    assert members == banks
    listed = runner.invoke(app, ["segments", "list"])
    assert listed.exit_code == 0
    assert "Banks" in listed.output
    missing = runner.invoke(app, ["segments", "evaluate", "--id", "999"])
    assert missing.exit_code == 4
    assert "Traceback" not in missing.output
    engine.dispose()
