"""``bridgehead plan quotas …`` and ``bridgehead export quotas`` on a real SQLite file."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bridgehead.cli import app
from bridgehead.config import Settings
from bridgehead.db import make_engine
from bridgehead.planning.models import Quota
from tests.helpers import committed, sqlite_for_cli
from tests.planning.support import make_org, won

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file named through the environment, holding the quota tests' organisation."""
    with sqlite_for_cli(tmp_path, monkeypatch, columns=220) as url:
        with committed(url) as session:
            org = make_org(session)
            won(session, org.rep, "100000", dt.date(2026, 2, 1))
        yield url


def _quota_count(url: str) -> int:
    engine = make_engine(Settings(), url=url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Quota)) or 0)
    finally:
        engine.dispose()


def test_set_list_and_delete(database_url: str) -> None:
    done = runner.invoke(
        app,
        [
            "plan",
            "quotas",
            "set",
            "--owner",
            "rita@quota.example",
            "--period",
            "2026-Q1",
            "--amount",
            "400,000",
            "--ramp",
            "50",
            "--segment",
            "Enterprise FS",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "Created quota" in done.output
    assert "$200,000 (50% of $400,000)" in done.output
    listed = runner.invoke(app, ["plan", "quotas", "list", "--period", "2026"])
    assert listed.exit_code == 0
    assert "Rita Rep" in listed.output
    assert "Enterprise FS" in listed.output
    assert "attained $0, attainment 0%" in listed.output, "the won deal is not in the segment"
    assert runner.invoke(app, ["plan", "quotas", "delete", "1"]).exit_code == 0
    assert _quota_count(database_url) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--owner", "nobody@quota.example", "--period", "2026-Q1", "--amount", "1"], "nobody@quota.example"),
        (["--owner", "rita@quota.example", "--period", "2026-Q9", "--amount", "1"], "not a period"),
        (["--owner", "rita@quota.example", "--period", "2026-Q1", "--amount", "many"], "not a number"),
        (
            ["--owner", "rita@quota.example", "--period", "2026-Q1", "--amount", "1", "--basis", "x"],
            "no such basis",
        ),
        (
            ["--owner", "rita@quota.example", "--period", "2026-Q1", "--amount", "1", "--segment", "Nope"],
            "segment",
        ),
    ],
)
def test_bad_input_fails_in_one_line(database_url: str, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["plan", "quotas", "set", *arguments])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert _quota_count(database_url) == 0


def test_load_a_sheet_then_the_same_again(database_url: str, tmp_path: Path) -> None:
    sheet = tmp_path / "quotas.csv"
    sheet.write_text(
        "owner,period,quota_amount\nrita@quota.example,2026-Q1,100000\ntom@quota.example,2026-Q1,5\n"
    )
    dry = runner.invoke(app, ["plan", "quotas", "load", str(sheet), "--dry-run"])
    assert dry.exit_code == 0
    assert "Would set 2 quotas" in dry.output
    assert _quota_count(database_url) == 0
    first = runner.invoke(app, ["plan", "quotas", "load", str(sheet)])
    assert first.exit_code == 0
    assert "2 created" in first.output
    second = runner.invoke(app, ["plan", "quotas", "load", str(sheet)])
    assert "0 created, 0 updated, 2 unchanged" in second.output
    sheet.write_text("owner,period,quota_amount\nrita@quota.example,2026-Q1,1\nzed@quota.example,2026-Q1,x\n")
    refused = runner.invoke(app, ["plan", "quotas", "load", str(sheet)])
    assert refused.exit_code != 0
    assert "line 3, owner='zed@quota.example': no user has this e-mail" in refused.output
    assert "line 3, quota_amount='x': not a number" in refused.output
    assert _quota_count(database_url) == 2


def test_export_quotas_for_salesforce(database_url: str, tmp_path: Path) -> None:
    sheet = tmp_path / "quotas.csv"
    sheet.write_text(
        "owner,period,quota_amount,ramp_percent,basis\n"
        "rita@quota.example,2026-Q1,100000,50,\n"  # sent: Rita has a Salesforce id
        "rita@quota.example,2026-04,30000,,\n"  # sent: a month
        "rita@quota.example,2026,900000,,pipeline_created\n"  # left out: not bookings
        "tom@quota.example,2026-Q1,5000,,\n"  # left out: Tom has no Salesforce id
        "olga@quota.example,2027,5000,,\n"  # left out: a year
    )
    assert runner.invoke(app, ["plan", "quotas", "load", str(sheet)]).exit_code == 0
    target = tmp_path / "out" / "sf.csv"
    done = runner.invoke(
        app, ["export", "quotas", str(target), "--forecasting-type-id", "0Db000000000001", "--period", "2026"]
    )
    assert done.exit_code == 0, done.output
    assert "Wrote 2 quotas" in done.output
    assert "left out 1 quotas on a basis other than bookings" in done.output
    assert "left out 1 quotas whose owner has no Salesforce id" in done.output
    raw = target.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "Data Loader files go without a byte-order mark"
    rows = list(csv.reader(raw.decode().splitlines()))
    assert rows == [
        ["Id", "QuotaOwnerId", "StartDate", "QuotaAmount", "IsAmount", "ForecastingTypeId"],
        ["", "005000000000001AAA", "2026-01-01", "50000.00", "true", "0Db000000000001CAA"],
        ["", "005000000000001AAA", "2026-04-01", "30000.00", "true", "0Db000000000001CAA"],
    ]
    everything = runner.invoke(
        app, ["export", "quotas", str(target), "--forecasting-type-id", "0Db000000000001"]
    )
    assert "left out 1 quotas for a whole year" in everything.output
    refused = runner.invoke(
        app, ["export", "quotas", str(tmp_path / "no.csv"), "--forecasting-type-id", "=cmd"]
    )
    assert refused.exit_code != 0
    assert "ForecastingType" in refused.output
    assert not (tmp_path / "no.csv").exists()
