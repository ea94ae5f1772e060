"""The deals API: room, stage moves with refusals and overrides, qualification, stakeholders, plans, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import Role
from bridgehead.deals.models import ActionStep, QualificationEntry, Stakeholder
from tests.deals.conftest import Team
from tests.factories import make_token, make_user
from tests.helpers import bearer


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Stakeholder, QualificationEntry, ActionStep, AuditEntry)
    )


def _as(session: Session, user: Any) -> dict[str, str]:
    headers = bearer(make_token(session, user).secret)
    session.commit()
    return headers


def test_room_has_every_part(client: TestClient, db_session: Session, team: Team) -> None:
    headers = _as(db_session, team.rep)
    response = client.get(f"/api/v1/opportunities/{team.deal.id}/room", headers=headers)
    assert response.status_code == 200
    room = response.json()
    assert room["process_key"] == "new_business"
    assert room["qualification"]["framework_key"] == "meddpicc"
    assert [item["key"] for item in room["qualification"]["items"]][:2] == ["metrics", "economic_buyer"]
    assert room["can_edit"] is True
    assert room["playbook"]["next_stage"]["name"] == "Qualification"
    assert room["playbook"]["missing_next"]


def test_room_is_404_outside_visibility(client: TestClient, db_session: Session, team: Team) -> None:
    headers = _as(db_session, team.other_rep)
    assert client.get(f"/api/v1/opportunities/{team.deal.id}/room", headers=headers).status_code == 404


def test_refused_move_lists_what_is_missing_and_override_records_reason(
    client: TestClient, db_session: Session, team: Team
) -> None:
    rep = _as(db_session, team.rep)
    refused = client.post(
        f"/api/v1/opportunities/{team.deal.id}/stage", json={"stage": "Solution"}, headers=rep
    )
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail["field"] == "stage"
    assert {item["kind"] for item in detail["missing"]} >= {"exit_criterion", "qualification", "stakeholders"}
    manager = _as(db_session, team.manager)
    moved = client.post(
        f"/api/v1/opportunities/{team.deal.id}/stage",
        json={"stage": "Solution", "override_reason": "Workshop held; paperwork follows"},
        headers=manager,
    )
    assert moved.status_code == 200
    assert moved.json()["stage"] == "Solution"
    assert len(moved.json()["overridden"]) == len(detail["missing"])
    room = client.get(f"/api/v1/opportunities/{team.deal.id}/room", headers=manager).json()
    assert room["overrides"][0]["reason"] == "Workshop held; paperwork follows"
    assert room["history"][-1]["stage"] == "Solution"


def test_qualification_put_and_evidence_limit(client: TestClient, db_session: Session, team: Team) -> None:
    headers = _as(db_session, team.rep)
    url = f"/api/v1/opportunities/{team.deal.id}/qualification/identify_pain"
    ok = client.put(url, json={"status": "validated", "evidence": "Close takes 12 days"}, headers=headers)
    assert ok.status_code == 200
    item = next(i for i in ok.json()["items"] if i["key"] == "identify_pain")
    assert item["status"] == "validated"
    assert item["updated_by"]["id"] == team.rep.id
    before = _counts(db_session)
    too_long = client.put(url, json={"status": "validated", "evidence": "x" * 10_001}, headers=headers)
    assert too_long.status_code == 422
    assert too_long.json()["detail"]["field"] == "evidence"
    bad_status = client.put(url, json={"status": "maybe"}, headers=headers)
    assert bad_status.status_code == 422
    assert bad_status.json()["detail"]["field"] == "status"
    assert _counts(db_session) == before
    stored = client.get(f"/api/v1/opportunities/{team.deal.id}/qualification", headers=headers).json()
    assert (
        next(i for i in stored["items"] if i["key"] == "identify_pain")["evidence"] == "Close takes 12 days"
    )


def test_stakeholder_bad_input_is_a_clear_422_and_changes_nothing(
    client: TestClient, db_session: Session, team: Team
) -> None:
    headers = _as(db_session, team.rep)
    url = f"/api/v1/opportunities/{team.deal.id}/stakeholders"
    before = _counts(db_session)
    cases = [
        ({"contact_id": team.contacts[0].id, "role": "kingmaker"}, "role"),
        ({"contact_id": team.contacts[0].id, "role": "champion", "stance": "lukewarm"}, "stance"),
        ({"contact_id": team.stranger.id, "role": "champion"}, "contact_id"),
    ]
    for body, field in cases:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["detail"]["field"] == field
    assert _counts(db_session) == before
    created = client.post(
        url, json={"contact_id": team.contacts[0].id, "role": "economic_buyer"}, headers=headers
    )
    assert created.status_code == 201
    assert created.json()["coverage"]["economic_buyer_on_map"] is True
    stakeholder_id = created.json()["stakeholders"][0]["id"]
    patched = client.patch(f"{url}/{stakeholder_id}", json={"stance": "supporter"}, headers=headers)
    assert patched.json()["stakeholders"][0]["stance"] == "supporter"


def test_action_plan_due_date_rule_and_buyer_link(
    client: TestClient, db_session: Session, team: Team
) -> None:
    headers = _as(db_session, team.rep)
    url = f"/api/v1/opportunities/{team.deal.id}/action-plan"
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    before = _counts(db_session)
    early = client.post(f"{url}/steps", json={"title": "Kick-off", "due_date": yesterday}, headers=headers)
    assert early.status_code == 422
    assert early.json()["detail"]["field"] == "due_date"
    assert _counts(db_session) == before
    soon = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    step = client.post(
        f"{url}/steps",
        json={"title": "Legal review", "due_date": soon, "buyer_owner": "General counsel"},
        headers=headers,
    )
    assert step.status_code == 201
    share = client.post(f"{url}/share", json={"days": 3}, headers=headers)
    assert share.status_code == 201
    client.cookies.clear()
    buyer = client.get(share.json()["path"])
    assert buyer.status_code == 200
    assert "Legal review" in buyer.text
    assert "General counsel" in buyer.text
    assert team.deal.amount is not None
    assert "Globex platform" in buyer.text
    tampered = client.get(share.json()["path"][:-3] + "AAA")
    assert tampered.status_code == 403
    assert "Legal review" not in tampered.text


def test_stage_config_is_for_admins_and_planners(client: TestClient, db_session: Session, team: Team) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    rep = _as(db_session, team.rep)
    processes = client.get("/api/v1/sales-processes", headers=rep).json()
    assert {p["key"] for p in processes} == {"new_business", "expansion"}
    new_business = next(p for p in processes if p["key"] == "new_business")
    stage = next(s for s in new_business["stages"] if s["name"] == "Qualification")
    url = f"/api/v1/sales-processes/{new_business['id']}/stages/{stage['id']}"
    assert client.patch(url, json={"probability": 25}, headers=rep).status_code == 403
    headers = _as(db_session, planner)
    bad = client.patch(url, json={"required_dimensions": ["budget"]}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"]["value"] == "budget"
    ok = client.patch(
        url, json={"probability": 25, "required_dimensions": ["identify_pain", "metrics"]}, headers=headers
    )
    assert ok.status_code == 200
    assert ok.json()["probability"] == 25
    to_bant = client.patch(
        f"/api/v1/sales-processes/{new_business['id']}", json={"framework_key": "bant"}, headers=headers
    )
    assert to_bant.status_code == 422


def test_account_plan_and_handoff_endpoints(client: TestClient, db_session: Session, team: Team) -> None:
    headers = _as(db_session, team.rep)
    url = f"/api/v1/accounts/{team.account.id}/plan"
    item = client.post(
        f"{url}/items", json={"kind": "threat", "text": "Incumbent renews early"}, headers=headers
    )
    assert item.status_code == 201
    assert item.json()["items"][0]["kind"] == "threat"
    bad = client.post(f"{url}/items", json={"kind": "rumour", "text": "x"}, headers=headers)
    assert bad.status_code == 422
    cell = client.put(
        f"{url}/white-space",
        json={"product": "Data Platform", "business_unit": "IT", "status": "target"},
        headers=headers,
    )
    assert cell.json()["white_space"] == {"Data Platform": {"IT": "target"}}
    assert len(cell.json()["history"]) >= 2
    not_won = client.post("/api/v1/handoffs", json={"opportunity_id": team.deal.id}, headers=headers)
    assert not_won.status_code == 422
