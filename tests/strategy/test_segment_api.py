"""The segment, ICP and pipeline-definition API and pages over HTTP: rights, bad input, previews, editor."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.strategy.models import AccountFit, IcpCriterion, PipelineDefinition, Segment, SegmentMember
from tests.factories import make_account, make_opportunity, make_token, make_user
from tests.helpers import CSRF_TOKEN, bearer, sign_in
from tests.strategy.segment_support import make_priority

BANKS = {"all": [{"field": "industry", "op": "eq", "value": "Banking"}]}


@pytest.fixture
def planner(db_session: Session) -> User:
    return make_user(db_session, role=Role.PLANNER, full_name="Pia Planner")


@pytest.fixture
def planner_headers(db_session: Session, planner: User) -> dict[str, str]:
    headers = bearer(make_token(db_session, planner).secret)
    db_session.commit()
    return headers


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_segment_crud_over_the_api(
    client: TestClient, db_session: Session, planner_headers: dict[str, str]
) -> None:
    bank = make_account(db_session, industry="Banking")
    make_account(db_session, industry="Retail")
    priority = make_priority(db_session)
    db_session.commit()
    created = client.post(
        "/api/v1/segments",
        json={"name": "Banks", "stance": "invest", "rule": BANKS, "priority_ids": [priority.id]},
        headers=planner_headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["priority_ids"] == [priority.id]
    assert body["member_count"] == 1
    segment_id = body["id"]
    members = client.get(f"/api/v1/segments/{segment_id}/members", headers=planner_headers).json()
    assert [item["id"] for item in members["items"]] == [bank.id]
    patched = client.patch(
        f"/api/v1/segments/{segment_id}",
        json={
            "stance": "maintain",
            "rule": {"any": [{"field": "industry", "op": "in", "value": ["banking", "retail"]}]},
        },
        headers=planner_headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["member_count"] == 2
    assert client.get("/api/v1/segments", headers=planner_headers).json()[0]["stance"] == "maintain"
    assert client.delete(f"/api/v1/segments/{segment_id}", headers=planner_headers).status_code == 204
    assert client.get(f"/api/v1/segments/{segment_id}", headers=planner_headers).status_code == 404


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"all": [{"field": "favourite_colour", "op": "eq", "value": "red"}]}, "rule.all[0].field"),
        ({"all": [{"field": "employees", "op": "gte", "value": "a thousand"}]}, "rule.all[0].value"),
        ({"all": [{"field": "employees", "op": "between", "value": [100]}]}, "rule.all[0].value"),
        ({"any": [{"field": "country", "op": "in", "value": "Kenya"}]}, "rule.any[0].value"),
    ],
)
def test_bad_rules_get_422_naming_the_field_and_store_nothing(
    client: TestClient,
    db_session: Session,
    planner_headers: dict[str, str],
    rule: dict[str, object],
    field: str,
) -> None:
    response = client.post(
        "/api/v1/segments", json={"name": "Bad", "stance": "invest", "rule": rule}, headers=planner_headers
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == field
    preview = client.post("/api/v1/segments/preview", json={"rule": rule}, headers=planner_headers)
    assert preview.status_code == 422
    assert _count(db_session, Segment) == 0


def test_reps_and_managers_may_read_but_not_edit(
    client: TestClient, db_session: Session, planner: User
) -> None:
    planner_headers = bearer(make_token(db_session, planner).secret)
    for role in (Role.REP, Role.MANAGER):
        user = make_user(db_session, role=role)
        headers = bearer(make_token(db_session, user).secret)
        db_session.commit()
        response = client.post(
            "/api/v1/segments", json={"name": "Mine", "stance": "invest", "rule": BANKS}, headers=headers
        )
        assert response.status_code == 403
        assert client.get("/api/v1/segments", headers=headers).status_code == 200
        criterion = client.post(
            "/api/v1/icp/criteria", json={"label": "x", "rule": BANKS, "weight": 1}, headers=headers
        )
        assert criterion.status_code == 403
    segment = client.post(
        "/api/v1/segments", json={"name": "Banks", "stance": "invest", "rule": BANKS}, headers=planner_headers
    ).json()
    rep_headers = bearer(make_token(db_session, make_user(db_session, role=Role.REP)).secret)
    db_session.commit()
    assert (
        client.patch(
            f"/api/v1/segments/{segment['id']}", json={"name": "Hijacked"}, headers=rep_headers
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=rep_headers).status_code == 403
    assert db_session.scalar(select(Segment.name)) == "Banks"
    assert _count(db_session, IcpCriterion) == 0


def test_preview_endpoint_writes_nothing(
    client: TestClient, db_session: Session, planner_headers: dict[str, str], planner: User
) -> None:
    bank = make_account(db_session, industry="Banking")
    make_opportunity(db_session, account_id=bank.id, owner_id=planner.id)
    db_session.commit()
    response = client.post("/api/v1/segments/preview", json={"rule": BANKS}, headers=planner_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["matched_accounts"] >= 1
    assert body["open_count"] == 1
    assert bank.id in [item["id"] for item in body["sample"]]
    assert _count(db_session, Segment) == 0
    assert _count(db_session, SegmentMember) == 0


def test_icp_and_fit_endpoints(
    client: TestClient, db_session: Session, planner_headers: dict[str, str]
) -> None:
    bank = make_account(db_session, industry="Banking", employees=10)
    db_session.commit()
    first = client.post(
        "/api/v1/icp/criteria", json={"label": "Banks", "rule": BANKS, "weight": 3}, headers=planner_headers
    )
    assert first.status_code == 201, first.text
    second = client.post(
        "/api/v1/icp/criteria",
        json={"label": "Big", "rule": {"field": "employees", "op": "gte", "value": 1000}, "weight": 1},
        headers=planner_headers,
    )
    assert second.status_code == 201
    fit = client.get(f"/api/v1/accounts/{bank.id}/fit", headers=planner_headers).json()
    assert fit["score"] == 75
    assert {reason["label"]: reason["met"] for reason in fit["reasons"]} == {"Banks": True, "Big": False}
    top = client.get("/api/v1/icp/fits?order=top&page_size=1", headers=planner_headers).json()
    assert top["items"][0]["score"] == db_session.scalar(select(func.max(AccountFit.score)))
    bad = client.post(
        "/api/v1/icp/criteria",
        json={"label": "x", "rule": {"field": "nope", "op": "eq", "value": 1}, "weight": 1},
        headers=planner_headers,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"]["field"] == "rule.field"
    assert _count(db_session, IcpCriterion) == 2


def test_pipeline_definition_endpoints(
    client: TestClient, db_session: Session, planner_headers: dict[str, str]
) -> None:
    priority = make_priority(db_session)
    db_session.commit()
    created = client.post(
        "/api/v1/pipeline-definitions",
        json={"priority_id": priority.id, "name": "All", "business_kind": "any"},
        headers=planner_headers,
    )
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]
    preview = client.get(f"/api/v1/pipeline-definitions/{definition_id}/preview", headers=planner_headers)
    assert preview.status_code == 200
    bad = client.post(
        "/api/v1/pipeline-definitions",
        json={"priority_id": priority.id, "name": "x", "products": [3]},
        headers=planner_headers,
    )
    assert bad.status_code == 422
    missing = client.post(
        "/api/v1/pipeline-definitions", json={"priority_id": 99999, "name": "x"}, headers=planner_headers
    )
    assert missing.status_code == 422
    assert missing.json()["detail"]["field"] == "priority_id"
    assert _count(db_session, PipelineDefinition) == 1


# --- pages ---------------------------------------------------------------------------------------


def test_editor_pages_render_and_save(client: TestClient, db_session: Session, planner: User) -> None:
    make_account(db_session, industry="Banking", employees=5000)
    sign_in(client, db_session, planner)
    assert "No segments yet" in client.get("/strategy/segments").text
    editor = client.get("/strategy/segments/new")
    assert editor.status_code == 200
    assert 'name="field_0"' in editor.text
    form = {
        "csrf_token": CSRF_TOKEN,
        "name": "Big banks",
        "stance": "invest",
        "is_active": "on",
        "rule_mode": "conditions",
        "match": "all",
        "row_count": "2",
        "field_0": "industry",
        "op_0": "in",
        "value_0": "Banking, Insurance",
        "field_1": "employees",
        "op_1": "gte",
        "value_1": "1,000",
    }
    preview = client.post(
        "/strategy/segments-editor/preview", data=form, headers={"X-CSRF-Token": CSRF_TOKEN}
    )
    assert preview.status_code == 200
    assert 'data-testid="preview-matched"' in preview.text
    added = client.post(
        "/strategy/segments-editor/conditions",
        data={**form, "editor_action": "add"},
        headers={"X-CSRF-Token": CSRF_TOKEN},
    )
    assert added.text.count('data-testid="condition-row"') == 3
    saved = client.post("/strategy/segments/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    segment = db_session.scalars(select(Segment)).one()
    assert segment.rule == {
        "all": [
            {"field": "industry", "op": "in", "value": ["Banking", "Insurance"]},
            {"field": "employees", "op": "gte", "value": 1000},
        ]
    }
    assert segment.member_count >= 1
    page = client.get(saved.headers["location"])
    assert page.status_code == 200
    assert 'data-testid="member-table"' in page.text
    assert "Big banks" in client.get("/strategy/segments").text


def test_editor_refuses_bad_input_with_a_message(
    client: TestClient, db_session: Session, planner: User
) -> None:
    sign_in(client, db_session, planner)
    form = {
        "csrf_token": CSRF_TOKEN,
        "name": "Odd",
        "stance": "invest",
        "rule_mode": "conditions",
        "match": "all",
        "row_count": "1",
        "field_0": "employees",
        "op_0": "between",
        "value_0": "100",
    }
    response = client.post("/strategy/segments/new", data=form)
    assert response.status_code == 422
    assert "all[0].value" in response.text
    json_form = {**form, "rule_mode": "json", "rule_json": "{not json"}
    assert client.post("/strategy/segments/new", data=json_form).status_code == 422
    preview = client.post(
        "/strategy/segments-editor/preview", data=form, headers={"X-CSRF-Token": CSRF_TOKEN}
    )
    assert 'data-testid="preview-error"' in preview.text
    assert _count(db_session, Segment) == 0


def test_pages_for_read_only_roles(client: TestClient, db_session: Session, planner: User) -> None:
    rep = make_user(db_session, role=Role.REP)
    account = make_account(db_session, owner_id=rep.id, industry="Banking")
    sign_in(client, db_session, rep)
    assert client.get("/strategy/segments/new").status_code == 403
    for path in ("/strategy/segments", "/strategy/icp", "/strategy/pipelines"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "<title>" in response.text
        assert "New segment</a>" not in response.text
    fragment = client.get(f"/strategy/accounts/{account.id}/fit")
    assert fragment.status_code == 200
    assert "No ICP score yet" in fragment.text
    account_page = client.get(f"/accounts/{account.id}")
    assert f"/strategy/accounts/{account.id}/fit" in account_page.text


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\u0000b", "stance": "invest", "rule": BANKS},
        {"name": "x" * 121, "stance": "invest", "rule": BANKS},
        {
            "name": "ok",
            "stance": "invest",
            "rule": {"all": [{"field": "industry", "op": "eq", "value": "a\u0000"}]},
        },
        {"name": "ok", "stance": "invest", "rule": BANKS, "priority_ids": [2**63]},
        {"name": "ok", "stance": "invest", "rule": {"all": [{"field": "owner", "op": "eq", "value": 2**63}]}},
        {"name": "ok", "stance": "sometimes", "rule": BANKS},
    ],
)
def test_hostile_segment_input_is_a_4xx(
    client: TestClient, db_session: Session, planner_headers: dict[str, str], body: dict[str, object]
) -> None:
    response = client.post("/api/v1/segments", json=body, headers=planner_headers)
    assert response.status_code == 422, response.text
    assert _count(db_session, Segment) == 0


def test_editor_form_with_overlong_name_shows_a_message(
    client: TestClient, db_session: Session, planner: User
) -> None:
    sign_in(client, db_session, planner)
    form = {
        "csrf_token": CSRF_TOKEN,
        "name": "n" * 500,
        "stance": "invest",
        "rule_mode": "conditions",
        "match": "all",
        "row_count": "1",
        "field_0": "industry",
        "op_0": "eq",
        "value_0": "Banking",
        "priority_ids": "99999999999999999999999",
    }
    response = client.post("/strategy/segments/new", data=form)
    assert response.status_code == 422
    assert 'data-testid="form-error"' in response.text
    assert _count(db_session, Segment) == 0
