"""``bridgehead import``: dry runs write nothing, refusals are one line with a reason, never a traceback."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.salesforce_generator import generate_salesforce_export
from click.testing import Result
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from bridgehead.cli import app
from bridgehead.config import Settings
from bridgehead.connectors.models import ImportRun, QuarantinedRow
from bridgehead.crm.models import Account, Activity, Opportunity, OpportunityHistory
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.intelligence.gaps.explain import explain
from tests.connectors.support import MAPPINGS, MAVEN_DIR
from tests.helpers import sqlite_for_cli

runner = CliRunner()
DEALS_MAPPING = """
[[files]]
path = "deals.csv"
entity = "opportunity"
[files.fields]
id = "id"
name = "name"
stage = "stage"
amount = "amount"
"""


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, initialised SQLite file named through the environment."""
    with sqlite_for_cli(tmp_path, monkeypatch) as url:
        yield url


def _run(*args: str | Path) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


def _count(url: str, model: type) -> int:
    engine = make_engine(Settings(), url=url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            return session.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def _assert_one_line_failure(result: Result, code: int, *phrases: str) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def _deals(directory: Path, *rows: list[str]) -> Path:
    directory.mkdir(exist_ok=True)
    with (directory / "deals.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "name", "stage", "amount"], *rows])
    mapping = directory / "deals.toml"
    mapping.write_text(DEALS_MAPPING, encoding="utf-8")
    return mapping


def test_import_commands_have_help() -> None:
    for command in (["import"], ["import", "csv"], ["import", "hubspot"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--help" in result.output


def test_maven_dry_run_reports_and_writes_nothing(cli_database: str) -> None:
    result = _run("import", "csv", MAVEN_DIR, "--mapping", MAPPINGS / "maven-crm.toml", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry_run" in result.output
    assert "would be" in result.output
    table = {
        cells[0]: cells[1:]
        for line in result.output.splitlines()
        if line.count("│") >= 5
        for cells in [[cell.strip() for cell in line.strip().strip("│").split("│")]]
    }
    assert table["opportunity"] == ["8,800", "0", "0", "0"]
    assert table["account"] == ["85", "0", "0", "0"]
    assert table["user"] == ["41", "0", "0", "0"]
    assert table["org_unit"] == ["9", "0", "0", "0"]
    assert _count(cli_database, Opportunity) == 0
    assert _count(cli_database, Account) == 0
    assert _count(cli_database, ImportRun) == 0


def test_a_refused_import_is_one_line_and_writes_nothing(cli_database: str, tmp_path: Path) -> None:
    mapping = _deals(tmp_path / "in", ["d-1", "Good", "Won", "100"], ["d-2", "Bad", "Won", "lots"])
    errors = tmp_path / "errors.csv"
    result = _run("import", "csv", tmp_path / "in", "--mapping", mapping, "--errors", errors)
    _assert_one_line_failure(
        result,
        2,
        "import refused: 1 row(s) rejected, nothing was written",
        "deals.csv line 3, amount='lots': not a number",
    )
    assert "deals.csv line 3" in result.stdout  # the report lists the rejected rows
    assert errors.read_text(encoding="utf-8").splitlines() == [
        "file,line,field,value,reason",
        "deals.csv,3,amount,lots,not a number",
    ]
    assert _count(cli_database, Opportunity) == 0
    assert _count(cli_database, ImportRun) == 0


def test_quarantine_from_the_command_line(cli_database: str, tmp_path: Path) -> None:
    mapping = _deals(tmp_path / "in", ["d-1", "Good", "Won", "100"], ["d-2", "Bad", "Won", "-1"])
    result = _run("import", "csv", tmp_path / "in" / "deals.csv", "--mapping", mapping, "--quarantine")
    assert result.exit_code == 0, result.output
    assert "deals.csv line 3, amount='-1': must not be negative" in result.output
    assert _count(cli_database, Opportunity) == 1
    assert _count(cli_database, QuarantinedRow) == 1


@pytest.mark.parametrize(
    ("setup", "phrases"),
    [
        (lambda d: (d / "deals.csv").write_bytes(b""), ("the file is empty (0 bytes)", "deals.csv")),
        (lambda d: (d / "deals.csv").write_bytes(b"id,name,stage,amount\n"), ("no data rows",)),
        (lambda d: (d / "deals.toml").write_text("[[files]\n", encoding="utf-8"), ("not valid TOML",)),
    ],
    ids=["empty-file", "header-only", "bad-mapping"],
)
def test_unreadable_input_is_one_line(
    cli_database: str, tmp_path: Path, setup: object, phrases: tuple[str, ...]
) -> None:
    directory = tmp_path / "in"
    mapping = _deals(directory, ["d-1", "Good", "Won", "100"])
    setup(directory)  # type: ignore[operator]
    _assert_one_line_failure(_run("import", "csv", directory, "--mapping", mapping), 2, *phrases)
    assert _count(cli_database, ImportRun) == 0


def test_hubspot_from_the_command_line(cli_database: str, tmp_path: Path) -> None:
    directory = tmp_path / "hubspot"
    directory.mkdir()
    (directory / "deals.csv").write_text(
        "Record ID,Deal Name,Deal Stage,Pipeline,Amount,Close Date,Deal owner\n"
        "1,First,closedwon,default,100,2026-03-04 10:11,Jane Doe\n",
        encoding="utf-8",
    )
    result = _run("import", "hubspot", directory)
    assert result.exit_code == 0, result.output
    assert _count(cli_database, Opportunity) == 1
    again = _run("import", "hubspot", directory)
    assert again.exit_code == 0, again.output
    assert _count(cli_database, Opportunity) == 1
    _assert_one_line_failure(_run("import", "hubspot", tmp_path / "nowhere"), 2, "not a folder")


def test_a_salesforce_import_without_per_row_key_checks_stores_no_dangling_reference(
    cli_database: str, tmp_path: Path
) -> None:
    """The command's transaction skips SQLite's per-row key checks (the engine stores only ids it
    looked up): every stored reference must still name a stored record."""
    export = tmp_path / "export"
    generate_salesforce_export(export, opportunities=300, history=900, activities=1_500)
    result = _run("import", "salesforce", export)
    assert result.exit_code == 0, result.output
    engine = make_engine(Settings(), url=cli_database)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            assert session.execute(text("PRAGMA foreign_key_check")).all() == []
            assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            linked = select(func.count()).select_from(Activity).where(Activity.opportunity_id.is_not(None))
            assert (session.scalar(linked) or 0) > 0
            assert (session.scalar(select(func.count()).select_from(OpportunityHistory)) or 0) > 0
    finally:
        engine.dispose()


def _select(url: str, sql: str) -> list[Any]:
    """The rows of ``sql`` in the database at ``url``."""
    engine = make_engine(Settings(), url=url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            return list(session.execute(text(sql)).all())
    finally:
        engine.dispose()


def _flags_per_deal(url: str) -> dict[str, list[tuple[str, str, str]]]:
    """Each deal's compliance flags (stage, kind, key) in the order the deal room lists them (by id)."""
    rows = _select(
        url,
        "SELECT o.external_id, s.name, f.kind, f.key FROM stage_compliance_flag f "
        "JOIN opportunity o ON o.id = f.opportunity_id JOIN process_stage s ON s.id = f.stage_id "
        "ORDER BY f.id",
    )
    flags: dict[str, list[tuple[str, str, str]]] = {}
    for deal, stage, kind, key in rows:
        flags.setdefault(deal, []).append((stage, kind, key))
    return flags


def _import_in_one_checked_transaction(export: Path, url: str) -> None:
    """Import ``export`` into a new database at ``url`` as the web and the API do: one transaction
    with foreign keys checked, the after-import steps (gap scan included) inside it."""
    from bridgehead.connectors.report import ImportOptions
    from bridgehead.connectors.salesforce import salesforce_batches
    from bridgehead.connectors.service import import_batches
    from bridgehead.migrate import upgrade_database

    engine = make_engine(Settings(), url=url)
    try:
        upgrade_database(engine)
        with unit_of_work(make_session_factory(engine)) as session:
            report = import_batches(
                session,
                actor=None,
                source="salesforce",
                location=str(export),
                batches=salesforce_batches(export),
                options=ImportOptions(),
            )
            assert report.ok
            assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_trusted_import_flags_each_deal_in_requirement_order_like_a_checked_one(
    cli_database: str, tmp_path: Path
) -> None:
    """The command's import (no per-row key checks) writes flags requirement by requirement, a
    checked import deal by deal: each deal's flags must still come in the same order."""
    export = tmp_path / "export"
    generate_salesforce_export(export, opportunities=200, history=600, activities=800)
    assert _run("import", "salesforce", export).exit_code == 0
    checked_url = f"sqlite:///{tmp_path / 'checked.db'}"
    _import_in_one_checked_transaction(export, checked_url)

    trusted = _flags_per_deal(cli_database)
    assert sum(len(flags) for flags in trusted.values()) > len(trusted) > 0
    assert trusted == _flags_per_deal(checked_url)


def _open_signals(url: str) -> list[tuple[str, str | None, str]]:
    """Open gap signals as (kind, deal's external id, explanation), sorted."""
    rows = _select(
        url,
        "SELECT g.kind, o.external_id, g.evidence FROM gap_signal g "
        "LEFT JOIN opportunity o ON o.id = g.opportunity_id WHERE g.resolved_at IS NULL",
    )
    return sorted((kind, deal, explain(kind, json.loads(evidence))) for kind, deal, evidence in rows)


def test_the_command_scans_for_gaps_after_its_commit_and_finds_what_one_transaction_finds(
    cli_database: str, tmp_path: Path
) -> None:
    """The command commits the records, then scans in a second transaction: the signals must be
    those of an import that scans inside its own transaction (as the web and the API do)."""
    export = tmp_path / "export"
    generate_salesforce_export(export, opportunities=300, history=900, activities=1_200)
    result = _run("import", "salesforce", export)
    assert result.exit_code == 0, result.output
    assert "Import committed" in result.output
    one_transaction = f"sqlite:///{tmp_path / 'one.db'}"
    _import_in_one_checked_transaction(export, one_transaction)

    signals = _open_signals(cli_database)
    assert len({kind for kind, _deal, _explanation in signals}) >= 3
    assert f"Gap scan after the import: {len(signals):,} signals raised, 0 still open" in result.output
    assert signals == _open_signals(one_transaction)


def test_an_import_whose_gap_scan_fails_stays_committed_and_names_the_command_that_finishes_it(
    cli_database: str, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    generate_salesforce_export(export, opportunities=120, history=360, activities=500)
    engine = make_engine(Settings(), url=cli_database)
    try:
        with engine.begin() as connection:
            # A real database refusal in the middle of the scan (as a full disk would be).
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_signals BEFORE INSERT ON gap_signal "
                "BEGIN SELECT RAISE(ABORT, 'signals refused by the test'); END"
            )
        result = _run("import", "salesforce", export)
        line = _assert_one_line_failure(
            result, 13, "the import was committed", "signals refused by the test", "bridgehead gaps scan"
        )
        assert "Import committed" in result.stdout, line
        assert _count(cli_database, Opportunity) == 120
        assert _count(cli_database, Account) > 0
        assert _open_signals(cli_database) == []
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER refuse_signals")
    finally:
        engine.dispose()
    finished = _run("gaps", "scan")
    assert finished.exit_code == 0, finished.output
    assert len(_open_signals(cli_database)) > 0
