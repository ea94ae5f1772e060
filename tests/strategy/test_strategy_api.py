"""The strategy API and pages over HTTP: the back-brief walk, rights (403), bad input (4xx, nothing changed), trace."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import User
from bridgehead.strategy.models import BackBrief, BackBriefEvent, Priority, PriorityVersion
from tests.factories import make_account, make_opportunity, make_token
from tests.helpers import CSRF_TOKEN, bearer, sign_in
from tests.strategy.priority_support import Org, make_org

STATEMENT: dict[str, Any] = {
    "title": "Move upmarket",
    "intent_what": "Win enterprise financial services",
    "intent_why": "That is where we win",
    "target_metric": "bookings_amount",
    "target_value": "12000000",
    "target_period": "2026",
    "boundaries": "No new pipeline below 200 employees",
}


@pytest.fixture
def org(db_session: Session) -> Org:
    return make_org(db_session)


def _headers(session: Session, user: User) -> dict[str, str]:
    headers = bearer(make_token(session, user).secret)
    session.commit()
    return headers


def _rows(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Priority, PriorityVersion, BackBrief, BackBriefEvent, AuditEntry)
    )


def test_the_back_brief_walk_over_the_api(client: TestClient, db_session: Session, org: Org) -> None:
    executive, vp = _headers(db_session, org.executive), _headers(db_session, org.vp_a)
    created = client.post("/api/v1/priorities", json=STATEMENT, headers=executive)
    assert created.status_code == 201, created.text
    priority = created.json()
    assert priority["org_unit"]["id"] == org.company.id
    assert priority["back_briefs"]["missing"] == 4

    path = f"/api/v1/priorities/{priority['id']}/back-briefs/{org.region_a.id}"
    written = client.put(path, json={"plan": "Top 40 banks", "risks": "Long cycles"}, headers=vp)
    assert written.status_code == 200, written.text
    brief_id = written.json()["id"]
    assert client.post(f"/api/v1/back-briefs/{brief_id}/submit", headers=vp).json()["status"] == "submitted"
    missing_comment = client.post(
        f"/api/v1/back-briefs/{brief_id}/return", json={"comment": ""}, headers=executive
    )
    assert missing_comment.status_code == 422
    assert missing_comment.json()["detail"]["field"] == "comment"
    returned = client.post(
        f"/api/v1/back-briefs/{brief_id}/return", json={"comment": "Name the banks"}, headers=executive
    )
    assert returned.json()["status"] == "returned"
    revised = client.put(path, json={"plan": "The 40 banks, named"}, headers=vp)
    assert revised.json()["revision"] == 2
    assert revised.json()["status"] == "draft"
    client.post(f"/api/v1/back-briefs/{brief_id}/submit", headers=vp)
    accepted = client.post(f"/api/v1/back-briefs/{brief_id}/accept", headers=executive)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted"
    assert [event["action"] for event in body["events"]] == [
        "drafted",
        "submitted",
        "returned",
        "revised",
        "submitted",
        "accepted",
    ]

    slots = client.get(f"/api/v1/priorities/{priority['id']}/back-briefs", headers=vp).json()
    assert {slot["org_unit"]["name"]: slot["status"] for slot in slots}["Region A"] == "accepted"
    assert (
        client.get(f"/api/v1/priorities/{priority['id']}", headers=vp).json()["back_briefs"]["accepted"] == 1
    )


def test_patch_versions_and_restatements(client: TestClient, db_session: Session, org: Org) -> None:
    executive, vp = _headers(db_session, org.executive), _headers(db_session, org.vp_a)
    priority = client.post("/api/v1/priorities", json=STATEMENT, headers=executive).json()
    patched = client.patch(
        f"/api/v1/priorities/{priority['id']}",
        json={"target_value": "15000000", "change_note": "Raised"},
        headers=executive,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    versions = client.get(f"/api/v1/priorities/{priority['id']}/versions", headers=vp).json()
    assert [version["version"] for version in versions] == [2, 1]
    assert [change["field"] for change in versions[0]["changes"]] == ["target_value"]
    restated = client.post(
        f"/api/v1/priorities/{priority['id']}/restatements",
        json={
            **STATEMENT,
            "title": "Region A banks",
            "org_unit_id": org.region_a.id,
            "target_value": "5000000",
        },
        headers=vp,
    )
    assert restated.status_code == 201, restated.text
    assert restated.json()["parent_id"] == priority["id"]
    listed = client.get("/api/v1/priorities", params={"top_level": "true"}, headers=vp).json()
    assert [item["id"] for item in listed] == [priority["id"]]
    children = client.get("/api/v1/priorities", params={"parent_id": priority["id"]}, headers=vp).json()
    assert [item["title"] for item in children] == ["Region A banks"]


def test_a_rep_cannot_write_a_priority(client: TestClient, db_session: Session, org: Org) -> None:
    executive, rep = _headers(db_session, org.executive), _headers(db_session, org.rep_a1)
    priority = client.post("/api/v1/priorities", json=STATEMENT, headers=executive).json()
    before = _rows(db_session)
    assert client.post("/api/v1/priorities", json=STATEMENT, headers=rep).status_code == 403
    assert (
        client.patch(f"/api/v1/priorities/{priority['id']}", json={"title": "Mine"}, headers=rep).status_code
        == 403
    )
    restate = client.post(
        f"/api/v1/priorities/{priority['id']}/restatements",
        json={**STATEMENT, "org_unit_id": org.team_a1.id},
        headers=rep,
    )
    assert restate.status_code == 403
    assert client.get(f"/api/v1/priorities/{priority['id']}", headers=rep).json()["title"] == "Move upmarket"
    assert _rows(db_session) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target_metric": "vibes"}, "target_metric"),
        ({"target_period": "2026-Q7"}, "target_period"),
        ({"target_metric": "win_rate", "target_value": "140"}, "target_value"),
        ({"title": " "}, "title"),
    ],
)
def test_bad_input_is_a_clear_422_and_nothing_changes(
    client: TestClient, db_session: Session, org: Org, change: dict[str, Any], field: str
) -> None:
    executive = _headers(db_session, org.executive)
    before = _rows(db_session)
    response = client.post("/api/v1/priorities", json={**STATEMENT, **change}, headers=executive)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == field
    assert _rows(db_session) == before


def test_malformed_value_and_unknown_field_are_422(client: TestClient, db_session: Session, org: Org) -> None:
    executive = _headers(db_session, org.executive)
    before = _rows(db_session)
    malformed = client.post(
        "/api/v1/priorities", json={**STATEMENT, "target_value": "lots"}, headers=executive
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"][-1] == "target_value"
    extra = client.post("/api/v1/priorities", json={**STATEMENT, "colour": "red"}, headers=executive)
    assert extra.status_code == 422
    assert _rows(db_session) == before


def test_a_cycle_is_refused_and_nothing_changes(client: TestClient, db_session: Session, org: Org) -> None:
    executive = _headers(db_session, org.executive)
    top = client.post("/api/v1/priorities", json=STATEMENT, headers=executive).json()
    child = client.post(
        f"/api/v1/priorities/{top['id']}/restatements",
        json={**STATEMENT, "org_unit_id": org.region_a.id},
        headers=executive,
    ).json()
    before = _rows(db_session)
    response = client.patch(
        f"/api/v1/priorities/{top['id']}", json={"parent_id": child["id"]}, headers=executive
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "parent_id"
    assert _rows(db_session) == before
    assert client.get(f"/api/v1/priorities/{top['id']}", headers=executive).json()["parent_id"] is None


def test_a_back_brief_outside_your_line_is_403_and_nothing_changes(
    client: TestClient, db_session: Session, org: Org
) -> None:
    executive, vp_b = _headers(db_session, org.executive), _headers(db_session, org.vp_b)
    top = client.post("/api/v1/priorities", json=STATEMENT, headers=executive).json()
    before = _rows(db_session)
    response = client.put(
        f"/api/v1/priorities/{top['id']}/back-briefs/{org.region_a.id}", json={"plan": "Theirs"}, headers=vp_b
    )
    assert response.status_code == 403
    assert response.json()["detail"]["field"] == "org_unit_id"
    assert _rows(db_session) == before


def test_trace_endpoint_kinds_and_visibility(client: TestClient, db_session: Session, org: Org) -> None:
    executive, rep = _headers(db_session, org.executive), _headers(db_session, org.rep_a1)
    top = client.post("/api/v1/priorities", json=STATEMENT, headers=executive).json()
    own = make_account(db_session, owner_id=org.rep_a1.id)
    other = make_account(db_session, owner_id=org.manager_b1.id)
    deal = make_opportunity(db_session, account_id=own.id, owner_id=org.rep_a1.id)
    db_session.commit()
    account_trace = client.get(f"/api/v1/trace/account/{own.id}", headers=rep)
    assert account_trace.status_code == 200
    assert account_trace.json()["serves_no_priority"] is True
    assert client.get(f"/api/v1/trace/opportunity/{deal.id}", headers=rep).json()["name"] == deal.name
    assert client.get(f"/api/v1/trace/account/{other.id}", headers=rep).status_code == 404
    assert client.get("/api/v1/trace/account/999999", headers=rep).status_code == 404
    unknown = client.get(f"/api/v1/trace/territory/{own.id}", headers=rep)
    assert unknown.status_code == 422
    assert unknown.json()["detail"]["field"] == "kind"
    priority_trace = client.get(f"/api/v1/trace/priority/{top['id']}", headers=rep).json()
    assert priority_trace["priority"]["id"] == top["id"]
    assert priority_trace["counts"]["missing"] == 4


# --- pages ---------------------------------------------------------------------------------------


def _form(**values: str) -> dict[str, str]:
    return {"csrf_token": CSRF_TOKEN, **values}


def test_pages_walk_and_rights(client: TestClient, db_session: Session, org: Org) -> None:
    sign_in(client, db_session, org.executive)
    assert "No priorities yet" in client.get("/strategy").text
    created = client.post(
        "/strategy/priorities/new", data=_form(**STATEMENT, status="active"), follow_redirects=False
    )
    assert created.status_code == 303, created.text
    page_path = created.headers["location"]
    page = client.get(page_path)
    assert page.status_code == 200
    assert "Move upmarket" in page.text
    assert "Version 1" in page.text
    tree = client.get("/strategy").text
    assert "4 missing" in tree

    bad = client.post("/strategy/priorities/new", data=_form(**{**STATEMENT, "target_period": "soon"}))
    assert bad.status_code == 422
    assert "target_period" in bad.text
    assert 'value="soon"' in bad.text

    sign_in(client, db_session, org.rep_a1)
    assert client.get(page_path + "/edit").status_code == 403
    assert client.post(page_path + "/edit", data=_form(**STATEMENT, status="active")).status_code == 403
    assert "Edit</a>" not in client.get(page_path).text

    sign_in(client, db_session, org.vp_a)
    priority_id = page_path.rsplit("/", 1)[1]
    form_path = f"/strategy/priorities/{priority_id}/back-briefs/{org.region_a.id}"
    assert client.get(form_path).status_code == 200
    saved = client.post(form_path, data=_form(plan="Top 40 banks", action="submit"), follow_redirects=False)
    assert saved.status_code == 303
    assert db_session.scalars(select(BackBrief)).one().status.value == "submitted"

    sign_in(client, db_session, org.executive)
    brief = db_session.scalars(select(BackBrief)).one()
    returned = client.post(
        f"/strategy/back-briefs/{brief.id}/decide",
        data=_form(decision="return", comment="Name them"),
        follow_redirects=False,
    )
    assert returned.status_code == 303
    db_session.refresh(brief)
    assert brief.status.value == "returned"
    assert "Name them" in client.get(page_path).text


def test_edit_and_restate_pages(client: TestClient, db_session: Session, org: Org) -> None:
    executive = _headers(db_session, org.executive)
    top = client.post("/api/v1/priorities", json=STATEMENT, headers=executive).json()
    sign_in(client, db_session, org.executive)
    edit_path = f"/strategy/priorities/{top['id']}/edit"
    form = client.get(edit_path)
    assert form.status_code == 200
    assert 'value="Move upmarket"' in form.text
    fields = {**STATEMENT, "status": "active", "owner_id": str(org.executive.id), "change_note": "Raised"}
    saved = client.post(
        edit_path, data=_form(**{**fields, "target_value": "15000000"}), follow_redirects=False
    )
    assert saved.status_code == 303
    page = client.get(f"/strategy/priorities/{top['id']}").text
    assert "Version 2" in page
    assert "$15,000,000" in page
    assert "$12,000,000" in page  # the diff shows the value before
    rejected = client.post(
        edit_path, data=_form(**{**fields, "target_metric": "win_rate", "target_value": "150"})
    )
    assert rejected.status_code == 422
    assert "target_value" in rejected.text
    assert client.get(f"/api/v1/priorities/{top['id']}", headers=executive).json()["version"] == 2

    sign_in(client, db_session, org.vp_a)
    restate_path = f"/strategy/priorities/{top['id']}/restate"
    restate_form = client.get(restate_path)
    assert restate_form.status_code == 200
    assert "Region A" in restate_form.text
    assert "Region B" not in restate_form.text  # only units in the manager's own line
    other_line = client.post(restate_path, data=_form(**fields, org_unit_id=str(org.region_b.id)))
    assert other_line.status_code == 403
    created = client.post(
        restate_path,
        data=_form(
            **{**fields, "title": "Region A banks", "owner_id": str(org.vp_a.id)},
            org_unit_id=str(org.region_a.id),
        ),
        follow_redirects=False,
    )
    assert created.status_code == 303
    child = client.get(created.headers["location"]).text
    assert "Region A banks" in child
    assert "Restates, up to the company priority" in child

    bad_decision = client.post("/strategy/back-briefs/999999/decide", data=_form(decision="maybe"))
    assert bad_decision.status_code == 404
