"""The gap inbox through the service and the API: ordering by money, visibility, acknowledge and snooze."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.common.pagination import PageRequest
from bridgehead.crm.models import Opportunity
from bridgehead.intelligence.gaps.models import GapKind, GapSignal
from bridgehead.intelligence.gaps.schemas import InboxView, SignalFilters, SignalState
from bridgehead.intelligence.gaps.service import list_signals
from tests.factories import make_token
from tests.gaps.conftest import NOW, Org, deal, run
from tests.helpers import bearer

PAST = NOW.date() - dt.timedelta(days=5)


@pytest.fixture
def deals(db_session: Session, org: Org) -> dict[str, Opportunity]:
    """Three past-due deals of the rep (small, large, medium) and one of the other rep; scanned."""
    made = {
        "small": deal(db_session, org, amount=Decimal("1000"), close_date=PAST),
        "large": deal(db_session, org, amount=Decimal("900000"), close_date=PAST),
        "medium": deal(db_session, org, amount=Decimal("50000"), close_date=PAST),
        "other": deal(db_session, org, owner_id=org.other_rep.id, amount=Decimal("5000000"), close_date=PAST),
    }
    run(db_session, GapKind.CLOSE_DATE_PAST)
    return made


def _names(session: Session, org_user: object, **filters: object) -> list[str]:
    page = list_signals(
        session,
        viewer=org_user,  # type: ignore[arg-type]
        filters=SignalFilters(**filters),  # type: ignore[arg-type]
        page=PageRequest(),
    )
    return [item.opportunity_name or "" for item in page.items]


def _signal_of(session: Session, opportunity: Opportunity) -> GapSignal:
    return session.scalars(select(GapSignal).where(GapSignal.opportunity_id == opportunity.id)).one()


def test_inbox_orders_by_money_and_follows_visibility(
    db_session: Session, org: Org, deals: dict[str, Opportunity]
) -> None:
    mine = [deals[key].name for key in ("large", "medium", "small")]
    assert _names(db_session, org.rep) == mine
    assert _names(db_session, org.manager) == mine  # their reporting line only
    assert _names(db_session, org.manager, view=InboxView.MINE) == []
    assert _names(db_session, org.executive) == [deals["other"].name, *mine]
    assert _names(db_session, org.other_rep) == [deals["other"].name]
    assert _names(db_session, org.executive, owner_id=org.other_rep.id) == [deals["other"].name]
    assert _names(db_session, org.executive, opportunity_id=deals["small"].id) == [deals["small"].name]
    assert _names(db_session, org.executive, kind=GapKind.STALE_DEAL) == []


def test_acknowledge_and_snooze_over_the_api(
    client: TestClient, db_session: Session, org: Org, deals: dict[str, Opportunity]
) -> None:
    rep = bearer(make_token(db_session, org.rep).secret)
    manager = bearer(make_token(db_session, org.manager).secret)
    db_session.commit()
    large, medium = _signal_of(db_session, deals["large"]), _signal_of(db_session, deals["medium"])
    listed = client.get("/api/v1/gaps/signals", headers=rep).json()
    assert [item["id"] for item in listed["items"]][:2] == [large.id, medium.id]
    assert listed["items"][0]["state"] == "open"

    acked = client.post(
        f"/api/v1/gaps/signals/{large.id}/acknowledge", json={"reason": "Buyer on leave"}, headers=rep
    )
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    until = (NOW.date() + dt.timedelta(days=7)).isoformat()
    snoozed = client.post(
        f"/api/v1/gaps/signals/{medium.id}/snooze",
        json={"until": until, "reason": "Budget in Q1"},
        headers=manager,
    )
    assert snoozed.status_code == 200
    assert snoozed.json()["state"] == "snoozed"
    inbox = client.get("/api/v1/gaps/signals", headers=rep).json()["items"]
    assert [item["id"] for item in inbox][:1] == [large.id]
    assert medium.id not in {item["id"] for item in inbox}
    states = client.get("/api/v1/gaps/signals", params={"state": "snoozed"}, headers=rep).json()["items"]
    assert [item["id"] for item in states] == [medium.id]
    actions = db_session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "gap_signal").order_by(AuditEntry.id)
    ).all()
    assert actions == ["acknowledge", "snooze"]


def test_bad_acknowledgements_write_nothing(
    client: TestClient, db_session: Session, org: Org, deals: dict[str, Opportunity]
) -> None:
    rep = bearer(make_token(db_session, org.rep).secret)
    other = bearer(make_token(db_session, org.other_rep).secret)
    executive = bearer(make_token(db_session, org.executive).secret)
    db_session.commit()
    signal = _signal_of(db_session, deals["large"])
    url = f"/api/v1/gaps/signals/{signal.id}"
    blank = client.post(f"{url}/acknowledge", json={"reason": "   "}, headers=rep)
    assert blank.status_code == 422
    assert blank.json()["detail"]["field"] == "reason"
    assert client.post(f"{url}/acknowledge", json={}, headers=rep).status_code == 422
    assert client.post(f"{url}/acknowledge", json={"reason": "x"}, headers=other).status_code == 404
    assert client.get(url, headers=other).status_code == 404
    assert client.post(f"{url}/acknowledge", json={"reason": "x"}, headers=executive).status_code == 403
    past = client.post(f"{url}/snooze", json={"until": NOW.date().isoformat(), "reason": "x"}, headers=rep)
    assert past.status_code == 422
    assert past.json()["detail"]["field"] == "until"
    assert client.post(f"{url}/snooze", json={"until": "soon", "reason": "x"}, headers=rep).status_code == 422
    assert client.get("/api/v1/gaps/signals/99999999", headers=rep).status_code == 404
    db_session.expire_all()
    untouched = db_session.get(GapSignal, signal.id)
    assert untouched is not None
    assert untouched.acknowledged_at is None
    assert untouched.snoozed_until is None
    assert (
        db_session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.object_type == "gap_signal")
        )
        == 0
    )


def test_filters_reject_unknown_values_and_csv_lists_every_row(
    client: TestClient, db_session: Session, org: Org, deals: dict[str, Opportunity]
) -> None:
    executive = bearer(make_token(db_session, org.executive).secret)
    db_session.commit()
    assert client.get("/api/v1/gaps/signals", params={"kind": "bogus"}, headers=executive).status_code == 422
    assert (
        client.get("/api/v1/gaps/signals", params={"state": "sleeping"}, headers=executive).status_code == 422
    )
    unknown_unit = client.get("/api/v1/gaps/signals", params={"org_unit_id": 999999}, headers=executive)
    assert unknown_unit.status_code == 422
    assert unknown_unit.json()["detail"]["field"] == "org_unit_id"
    page = client.get("/api/v1/gaps/signals", params={"page_size": 2}, headers=executive).json()
    assert (page["total"], len(page["items"])) == (4, 2)
    as_csv = client.get("/api/v1/gaps/signals", params={"format": "csv", "page_size": 2}, headers=executive)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows[0]["opportunity_name"] == deals["other"].name
    assert len(rows) == 4


def test_rules_and_scan_over_the_api(client: TestClient, db_session: Session, org: Org) -> None:
    planner = bearer(make_token(db_session, org.planner).secret)
    rep = bearer(make_token(db_session, org.rep).secret)
    db_session.commit()
    listed = {rule["kind"]: rule for rule in client.get("/api/v1/gaps/rules", headers=rep).json()}
    assert listed["stale_deal"]["thresholds"][0] == {
        "name": "stale_days",
        "label": "No activity for (days)",
        "value": 21,
        "default": 21,
        "minimum": 1,
        "maximum": 365,
    }
    changed = client.patch(
        "/api/v1/gaps/rules/stale_deal", json={"thresholds": {"stale_days": 30}}, headers=planner
    )
    assert changed.status_code == 200
    assert changed.json()["thresholds"][0]["value"] == 30
    bad = client.patch(
        "/api/v1/gaps/rules/stale_deal", json={"thresholds": {"stale_days": -3}}, headers=planner
    )
    assert bad.status_code == 422
    assert bad.json()["detail"]["field"] == "thresholds.stale_days"
    assert bad.json()["detail"]["value"] == "-3"
    wrong_name = client.patch(
        "/api/v1/gaps/rules/stale_deal", json={"thresholds": {"days": 3}}, headers=planner
    )
    assert wrong_name.json()["detail"]["field"] == "thresholds.days"
    assert client.patch("/api/v1/gaps/rules/nonsense", json={}, headers=planner).status_code == 422
    assert (
        client.patch(
            "/api/v1/gaps/rules/stale_deal", json={"severity": "urgent"}, headers=planner
        ).status_code
        == 422
    )
    assert (
        client.patch("/api/v1/gaps/rules/stale_deal", json={"enabled": False}, headers=rep).status_code == 403
    )
    deal(db_session, org, close_date=PAST)
    db_session.commit()
    assert client.post("/api/v1/gaps/scan", json={}, headers=rep).status_code == 403
    assert client.post("/api/v1/gaps/scan", json={"kinds": ["bogus"]}, headers=planner).status_code == 422
    scanned = client.post("/api/v1/gaps/scan", json={"kinds": ["close_date_past"]}, headers=planner)
    assert scanned.status_code == 200
    assert scanned.json()["raised"] == 1
    assert client.get("/api/v1/gaps/signals", headers=rep).json()["total"] == 1
    assert (
        SignalState.OPEN.value == client.get("/api/v1/gaps/signals", headers=rep).json()["items"][0]["state"]
    )


def test_a_deal_signal_names_the_deal_account_which_it_reads_through_the_deal(
    db_session: Session, org: Org, deals: dict[str, Opportunity]
) -> None:
    """The signal stores no account of its own (migration 0025): the inbox row names the deal's, and
    follows the deal when it moves to another account."""
    signal = _signal_of(db_session, deals["large"])
    assert signal.account_id is None

    def row() -> tuple[int | None, str | None]:
        page = list_signals(
            db_session,
            viewer=org.rep,
            filters=SignalFilters(opportunity_id=deals["large"].id),
            page=PageRequest(),
        )
        (item,) = page.items
        return item.account_id, item.account_name

    assert row() == (org.account.id, org.account.name)
    deals["large"].account_id = None
    db_session.flush()
    assert row() == (None, None)
