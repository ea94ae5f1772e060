"""``bridgehead gaps scan|list`` on a real SQLite file, and the /gaps pages over HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bridgehead.auth.models import Role
from bridgehead.cli import app
from bridgehead.intelligence.gaps.models import GapKind, GapRule, GapSignal
from tests.factories import make_account, make_opportunity, make_user
from tests.gaps.conftest import NOW, Org, deal, run
from tests.helpers import CSRF_TOKEN, committed, sign_in, sqlite_for_cli

runner = CliRunner()
PAST = NOW.date() - dt.timedelta(days=5)


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file with a rep and two past-due deals."""
    with sqlite_for_cli(tmp_path, monkeypatch, name="gaps.db") as url:
        with committed(url) as session:
            rep = make_user(session, email="rita@example.com", full_name="Rita Rep")
            account = make_account(session, owner_id=rep.id)
            for name in ("Big renewal", "Small pilot"):
                make_opportunity(session, name=name, owner_id=rep.id, account_id=account.id, close_date=PAST)
        yield url


def test_scan_prints_each_detector_and_list_shows_the_inbox(cli_database: str) -> None:
    scanned = runner.invoke(app, ["gaps", "scan", "--kind", "close_date_past", "--kind", "stale_deal"])
    assert scanned.exit_code == 0, scanned.output
    assert "close_date_past" in scanned.output
    assert "stale_deal" in scanned.output
    assert "single_threaded" not in scanned.output
    again = runner.invoke(app, ["gaps", "scan"])
    assert again.exit_code == 0
    total = next(line for line in again.output.splitlines() if "total" in line)
    cells = [cell.strip() for cell in total.split("│") if cell.strip()]
    assert cells[-2:] == ["2", "0"]  # the two past-due deals still open, nothing resolved
    listed = runner.invoke(app, ["gaps", "list", "--as", "rita@example.com", "--kind", "close_date_past"])
    assert listed.exit_code == 0
    assert "Big renewal" in listed.output
    assert "Small pilot" in listed.output


def test_cli_failures_are_one_line(cli_database: str) -> None:
    unknown = runner.invoke(app, ["gaps", "scan", "--kind", "bogus"])
    assert unknown.exit_code != 0
    assert "unknown gap kind" in unknown.output
    assert "Traceback" not in unknown.output
    nobody = runner.invoke(app, ["gaps", "list", "--as", "nobody@example.com"])
    assert nobody.exit_code != 0
    assert len(nobody.output.strip().splitlines()) == 1


def test_inbox_page_mine_and_team_with_inline_snooze(
    client: TestClient, db_session: Session, org: Org
) -> None:
    mine = deal(db_session, org, close_date=PAST, name="Rita's deal")
    run(db_session, GapKind.CLOSE_DATE_PAST)
    sign_in(client, db_session, org.manager)
    team = client.get("/gaps")
    assert team.status_code == 200
    assert "<title>Gap inbox" in team.text
    assert "Rita&#39;s deal" in team.text
    assert f'href="/deals/{mine.id}"' in team.text
    empty_mine = client.get("/gaps", params={"view": "mine"})
    assert 'data-testid="empty-inbox"' in empty_mine.text
    deal(db_session, org, close_date=PAST, name="Second deal")
    run(db_session, GapKind.CLOSE_DATE_PAST)
    second_page = client.get("/gaps", params={"page_size": 1, "page": 2})
    assert second_page.status_code == 200
    assert "page 2 of 2" in second_page.text
    filtered = client.get("/gaps", params={"kind": "stale_deal"})
    assert "No signals match these filters" in filtered.text
    bad = client.get("/gaps", params={"org_unit_id": 999999})
    assert bad.status_code == 422
    signal = db_session.scalars(select(GapSignal).where(GapSignal.opportunity_id == mine.id)).one()
    headers = {"HX-Request": "true", "X-CSRF-Token": CSRF_TOKEN}
    blank = client.post(
        f"/gaps/signals/{signal.id}/snooze", data={"until": "2099-01-01", "reason": " "}, headers=headers
    )
    assert blank.status_code == 422
    until = (NOW.date() + dt.timedelta(days=3)).isoformat()
    snoozed = client.post(
        f"/gaps/signals/{signal.id}/snooze",
        data={"until": until, "reason": "Buyer on holiday"},
        headers=headers,
    )
    assert snoozed.status_code == 200
    assert snoozed.text == ""
    assert "Rita&#39;s deal" not in client.get("/gaps").text
    panel = client.get(f"/gaps/deals/{mine.id}")
    assert panel.status_code == 200
    assert 'data-testid="deal-gaps"' not in panel.text  # snoozed: not in the room either


def test_rules_page_saves_for_planners_and_names_bad_values(
    client: TestClient, db_session: Session, org: Org
) -> None:
    sign_in(client, db_session, org.planner)
    page = client.get("/gaps/rules")
    assert page.status_code == 200
    assert 'name="threshold.stale_days"' in page.text
    form = {"csrf_token": CSRF_TOKEN, "enabled": "on", "severity": "high", "threshold.stale_days": "14"}
    saved = client.post("/gaps/rules/stale_deal", data=form)
    assert saved.status_code == 200
    rule = db_session.scalars(select(GapRule).where(GapRule.kind == GapKind.STALE_DEAL)).one()
    db_session.refresh(rule)
    assert rule.thresholds["stale_days"] == 14
    bad = client.post("/gaps/rules/stale_deal", data={**form, "threshold.stale_days": "many"})
    assert bad.status_code == 422
    assert "thresholds.stale_days: many" in bad.text
    segments = client.post(
        "/gaps/rules/single_threaded", data={"csrf_token": CSRF_TOKEN, "segment_minimums": "Enterprise FS=4"}
    )
    assert segments.status_code == 200
    rep = make_user(db_session, role=Role.REP)
    sign_in(client, db_session, rep)
    assert client.post("/gaps/rules/stale_deal", data=form).status_code == 403
    assert "Only admins and planners" in client.get("/gaps/rules").text
