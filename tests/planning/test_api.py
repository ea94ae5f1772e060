"""The quota API: list with attainment, set (201/200), patch, delete, totals, sheet upload; roles enforced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.planning.models import Quota
from tests.factories import make_token
from tests.helpers import bearer, sign_in
from tests.planning.support import Org, make_org, won


@pytest.fixture
def org(db_session: Session) -> Org:
    """Two teams, their people and a segment; Rita won $50,000 in 2026-Q1."""
    made = make_org(db_session)
    won(db_session, made.rep, "50000", dt.date(2026, 2, 1))
    return made


@pytest.fixture
def headers(db_session: Session, org: Org) -> dict[str, dict[str, str]]:
    """Bearer headers by person."""
    people = {"planner": org.planner, "manager": org.manager, "rep": org.rep, "other": org.other_rep}
    tokens = {name: bearer(make_token(db_session, user).secret) for name, user in people.items()}
    db_session.commit()
    return tokens


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Quota)) or 0)


def test_set_read_patch_and_delete(
    client: TestClient, db_session: Session, org: Org, headers: dict[str, dict[str, str]]
) -> None:
    body = {"owner_id": org.rep.id, "period": "2026-q1", "quota_amount": "200000", "ramp_percent": 50}
    created = client.post("/api/v1/quotas", json=body, headers=headers["planner"])
    assert created.status_code == 201, created.text
    quota = created.json()
    assert (quota["period"], quota["effective_amount"], quota["attained_amount"]) == (
        "2026-Q1",
        "100000.00",
        "50000.00",
    )
    assert quota["attainment"] == pytest.approx(0.5)
    assert (quota["owner_name"], quota["org_unit_name"]) == ("Rita Rep", "NA Enterprise")
    again = client.post("/api/v1/quotas", json={**body, "ramp_percent": 100}, headers=headers["planner"])
    assert (again.status_code, again.json()["id"]) == (200, quota["id"])
    patched = client.patch(
        f"/api/v1/quotas/{quota['id']}", json={"quota_amount": "50000"}, headers=headers["planner"]
    )
    assert patched.status_code == 200
    assert patched.json()["attainment"] == pytest.approx(1.0)
    assert client.get(f"/api/v1/quotas/{quota['id']}", headers=headers["rep"]).status_code == 200
    assert client.get(f"/api/v1/quotas/{quota['id']}", headers=headers["other"]).status_code == 404
    assert client.delete(f"/api/v1/quotas/{quota['id']}", headers=headers["manager"]).status_code == 403
    assert client.delete(f"/api/v1/quotas/{quota['id']}", headers=headers["planner"]).status_code == 204
    assert _count(db_session) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"period": "2026-Q7"}, "period"),
        ({"quota_amount": "-1"}, "quota_amount"),
        ({"quota_amount": "1e308"}, "quota_amount"),
        ({"quota_amount": "10.001"}, "quota_amount"),
        ({"ramp_percent": 101}, "ramp_percent"),
        ({"basis": "revenue"}, "basis"),
        ({"owner_id": 999_999_999}, "owner_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    client: TestClient,
    db_session: Session,
    org: Org,
    headers: dict[str, dict[str, str]],
    change: dict[str, object],
    field: str,
) -> None:
    body = {"owner_id": org.rep.id, "period": "2026-Q1", "quota_amount": "1000", **change}
    response = client.post("/api/v1/quotas", json=body, headers=headers["planner"])
    assert response.status_code in (400, 422), response.text
    assert field in response.text
    assert _count(db_session) == 0


def test_an_overlap_is_a_conflict(client: TestClient, org: Org, headers: dict[str, dict[str, str]]) -> None:
    first = {"owner_id": org.rep.id, "period": "2026", "quota_amount": "1000"}
    assert client.post("/api/v1/quotas", json=first, headers=headers["planner"]).status_code == 201
    clash = client.post("/api/v1/quotas", json={**first, "period": "2026-Q2"}, headers=headers["planner"])
    assert clash.status_code == 409
    assert "overlaps" in clash.json()["detail"]["message"]


def test_list_and_summary_follow_visibility_and_filters(
    client: TestClient, org: Org, headers: dict[str, dict[str, str]]
) -> None:
    for person, period in ((org.rep, "2026-Q1"), (org.teammate, "2026-Q1"), (org.other_rep, "2026-Q2")):
        body = {"owner_id": person.id, "period": period, "quota_amount": "100000"}
        assert client.post("/api/v1/quotas", json=body, headers=headers["planner"]).status_code == 201
    assert client.get("/api/v1/quotas", headers=headers["planner"]).json()["total"] == 3
    assert client.get("/api/v1/quotas", headers=headers["manager"]).json()["total"] == 2
    mine = client.get("/api/v1/quotas", headers=headers["rep"]).json()
    assert [item["owner_id"] for item in mine["items"]] == [org.rep.id]
    in_q2 = client.get("/api/v1/quotas", params={"period": "2026-Q2"}, headers=headers["planner"]).json()
    assert [item["owner_id"] for item in in_q2["items"]] == [org.other_rep.id]
    summary = client.get(
        "/api/v1/quotas/summary", params={"org_unit_id": org.team.id}, headers=headers["planner"]
    ).json()
    assert (summary["people"], Decimal(summary["attained_amount"])) == (2, Decimal("50000"))
    assert summary["attainment"] == pytest.approx(0.25)
    bad = client.get("/api/v1/quotas", params={"period": "next year"}, headers=headers["planner"])
    assert bad.status_code == 422
    assert "period" in bad.text


def test_sheet_upload_dry_run_commit_and_refusal(
    client: TestClient, db_session: Session, org: Org, headers: dict[str, dict[str, str]]
) -> None:
    good = b"owner,period,quota_amount\nrita@quota.example,2026-Q1,1000\ntom@quota.example,2026-Q1,2000\n"
    dry = client.post(
        "/api/v1/quotas/sheet",
        files={"file": ("quotas.csv", good, "text/csv")},
        data={"dry_run": "true"},
        headers=headers["planner"],
    )
    assert (dry.status_code, dry.json()["created"], _count(db_session)) == (200, 2, 0)
    done = client.post(
        "/api/v1/quotas/sheet", files={"file": ("quotas.csv", good, "text/csv")}, headers=headers["planner"]
    )
    assert (done.status_code, done.json()["created"]) == (201, 2)
    bad = b"owner,period,quota_amount\nrita@quota.example,2026-Q1,5\nnobody@quota.example,2026-Q1,x\n"
    refused = client.post(
        "/api/v1/quotas/sheet", files={"file": ("quotas.csv", bad, "text/csv")}, headers=headers["planner"]
    )
    assert refused.status_code == 422
    problems = refused.json()["detail"]["problems"]
    assert {(problem["line"], problem["field"]) for problem in problems} == {
        (3, "owner"),
        (3, "quota_amount"),
    }
    assert db_session.scalar(select(Quota.quota_amount).where(Quota.owner_id == org.rep.id)) == Decimal(
        "1000.00"
    )
    wrong_type = client.post(
        "/api/v1/quotas/sheet",
        files={"file": ("quotas.pdf", b"%PDF", "application/pdf")},
        headers=headers["planner"],
    )
    assert wrong_type.status_code == 422
    assert "csv" in wrong_type.json()["detail"]["message"]
    missing = client.post("/api/v1/quotas/sheet", data={"dry_run": "1"}, headers=headers["planner"])
    assert missing.status_code == 422
    forbidden = client.post(
        "/api/v1/quotas/sheet", files={"file": ("quotas.csv", good, "text/csv")}, headers=headers["rep"]
    )
    assert forbidden.status_code == 403


def test_an_oversized_sheet_is_refused_before_it_is_read(
    client: TestClient, db_session: Session, org: Org, headers: dict[str, dict[str, str]]
) -> None:
    huge = b"owner,period,quota_amount\n" + b"rita@quota.example,2026-Q1,1000\n" * 400_000  # about 13 MB
    response = client.post(
        "/api/v1/quotas/sheet", files={"file": ("quotas.csv", huge, "text/csv")}, headers=headers["planner"]
    )
    assert response.status_code == 413
    assert "larger than 10 MiB" in response.json()["detail"]["message"]
    assert _count(db_session) == 0


def test_a_formula_in_a_note_reaches_the_download_as_text(
    client: TestClient, db_session: Session, org: Org, headers: dict[str, dict[str, str]]
) -> None:
    body = {
        "owner_id": org.rep.id,
        "period": "2026-Q1",
        "quota_amount": "1000",
        "note": '=HYPERLINK("http://x")',
    }
    assert client.post("/api/v1/quotas", json=body, headers=headers["planner"]).status_code == 201
    sign_in(client, db_session, org.planner)
    download = client.get("/plan/quotas/export.csv", params={"period": ""})
    assert "'=HYPERLINK" in download.content.decode("utf-8-sig")
