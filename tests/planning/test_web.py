"""The quota sheet page: the list with attainment, forms that set, change and remove, the sheet upload."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.common.types import Period
from bridgehead.planning import service
from bridgehead.planning.models import Quota
from tests.helpers import CSRF_TOKEN, sign_in
from tests.planning.support import Org, make_org, quota, won


@pytest.fixture
def org(db_session: Session) -> Org:
    """Two teams; Rita has a $200,000 2026-Q1 quota and won $150,000 of it. Committed."""
    made = make_org(db_session)
    won(db_session, made.rep, "150000", dt.date(2026, 2, 1))
    service.set_quota(db_session, actor=made.planner, data=quota(made.rep, "200000"))
    db_session.commit()
    return made


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Quota)) or 0)


def test_planner_sees_the_sheet_with_attainment_and_forms(
    client: TestClient, db_session: Session, org: Org
) -> None:
    sign_in(client, db_session, org.planner)
    page = client.get("/plan/quotas", params={"period": "2026"})
    assert page.status_code == 200
    assert "<title>Quotas" in page.text
    row = page.text.split('data-testid="quota-row"', 1)[1].split("</tr>", 1)[0]
    assert "Rita Rep" in row
    assert "$200,000" in row
    assert "$150,000" in row
    assert "75%" in row
    assert 'data-testid="set-quota"' in page.text
    assert 'data-testid="load-sheet"' in page.text


def test_the_page_opens_on_this_quarter_and_says_what_to_do_when_empty(
    client: TestClient, db_session: Session, org: Org
) -> None:
    sign_in(client, db_session, org.planner)
    page = client.get("/plan/quotas")
    assert page.status_code == 200
    this_quarter = Period.containing(dt.date.today()).label
    assert f'name="period" value="{this_quarter}"' in page.text
    if this_quarter != "2026-Q1":
        assert f"No quotas inside {this_quarter}" in page.text
    assert 'href="/plan/quotas?period="' in page.text


def test_a_rep_sees_only_their_quota_and_no_forms(client: TestClient, db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.other_rep, "1000"))
    db_session.commit()
    sign_in(client, db_session, org.rep)
    page = client.get("/plan/quotas", params={"period": ""})
    assert "Rita Rep" in page.text
    assert "Olga Other" not in page.text.split('data-testid="quota-table"', 1)[1]
    assert 'data-testid="set-quota"' not in page.text
    refused = client.post(
        "/plan/quotas",
        data={
            "csrf_token": CSRF_TOKEN,
            "owner_id": str(org.rep.id),
            "period": "2026-Q2",
            "quota_amount": "1",
        },
    )
    assert refused.status_code == 403
    assert _count(db_session) == 2


def test_setting_a_quota_through_the_form(client: TestClient, db_session: Session, org: Org) -> None:
    sign_in(client, db_session, org.planner)
    done = client.post(
        "/plan/quotas",
        data={
            "csrf_token": CSRF_TOKEN,
            "owner_id": str(org.teammate.id),
            "period": "2026-Q2",
            "basis": "bookings",
            "quota_amount": "$180,000",
            "ramp_percent": "60%",
            "segment_id": str(org.segment.id),
            "note": "new hire",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/plan/quotas?period=2026-Q2#quota-")
    stored = db_session.scalars(select(Quota).where(Quota.owner_id == org.teammate.id)).one()
    assert (stored.quota_amount, stored.ramp_percent, stored.segment_id, stored.note) == (
        Decimal("180000.00"),
        60,
        org.segment.id,
        "new hire",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quota_amount", "lots", "must be an amount"),
        ("period", "2026-Q9", "not a period"),
        ("ramp_percent", "150", "ramp_percent"),
        ("owner_id", "", "owner_id"),
    ],
)
def test_a_refused_form_says_why_and_keeps_what_was_typed(
    client: TestClient, db_session: Session, org: Org, field: str, value: str, message: str
) -> None:
    sign_in(client, db_session, org.planner)
    form = {
        "csrf_token": CSRF_TOKEN,
        "owner_id": str(org.teammate.id),
        "period": "2026-Q2",
        "quota_amount": "1000",
        "note": "kept-note",
        field: value,
    }
    page = client.post("/plan/quotas", data=form)
    assert page.status_code in (400, 422)
    assert message in page.text.split('data-testid="form-error"', 1)[1].split("</p>", 1)[0]
    assert 'value="kept-note"' in page.text
    assert _count(db_session) == 1


def test_edit_and_remove_from_the_row(client: TestClient, db_session: Session, org: Org) -> None:
    sign_in(client, db_session, org.planner)
    quota_id = db_session.scalar(select(Quota.id))
    edited = client.post(
        f"/plan/quotas/{quota_id}/edit",
        data={"csrf_token": CSRF_TOKEN, "quota_amount": "300000", "ramp_percent": "50", "note": ""},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    db_session.expire_all()
    assert db_session.scalar(select(Quota.ramp_percent)) == 50
    bad = client.post(f"/plan/quotas/{quota_id}/edit", data={"csrf_token": CSRF_TOKEN, "quota_amount": "-3"})
    assert bad.status_code in (400, 422)
    no_csrf = client.post(f"/plan/quotas/{quota_id}/delete", data={})
    assert no_csrf.status_code == 403
    removed = client.post(
        f"/plan/quotas/{quota_id}/delete", data={"csrf_token": CSRF_TOKEN}, follow_redirects=False
    )
    assert removed.status_code == 303
    assert _count(db_session) == 0


def test_loading_a_sheet_from_the_page(client: TestClient, db_session: Session, org: Org) -> None:
    sign_in(client, db_session, org.planner)
    good = b"owner,period,quota_amount\ntom@quota.example,2026-Q1,1000\n"
    page = client.post(
        "/plan/quotas/sheet",
        data={"csrf_token": CSRF_TOKEN},
        files={"file": ("team.csv", good, "text/csv")},
    )
    assert page.status_code == 200
    assert "Loaded team.csv" in page.text
    assert "1 new" in page.text
    bad = b"owner,period,quota_amount\ntom@quota.example,2026-Q2,1000\nghost@quota.example,2026-Q2,x\n"
    refused = client.post(
        "/plan/quotas/sheet",
        data={"csrf_token": CSRF_TOKEN},
        files={"file": ("team.csv", bad, "text/csv")},
    )
    assert refused.status_code == 422
    problems = refused.text.split('data-testid="sheet-problems"', 1)[1].split("</section>", 1)[0]
    assert "ghost@quota.example" in problems
    assert "not a number" in problems
    assert "Nothing was stored" in problems
    assert _count(db_session) == 2
    forged = client.post(
        "/plan/quotas/sheet", data={"csrf_token": "forged"}, files={"file": ("team.csv", good, "text/csv")}
    )
    assert forged.status_code == 403


def test_the_list_downloads_as_a_sheet_that_loads_back(
    client: TestClient, db_session: Session, org: Org
) -> None:
    sign_in(client, db_session, org.planner)
    download = client.get("/plan/quotas/export.csv", params={"period": "2026"})
    assert download.status_code == 200
    lines = download.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("quota_id,owner,person,org_unit,period,basis,segment,quota_amount")
    assert "rita@quota.example" in lines[1]
    assert "75.0" in lines[1]
    again = client.post(
        "/plan/quotas/sheet",
        data={"csrf_token": CSRF_TOKEN},
        files={"file": ("quotas.csv", download.content, "text/csv")},
    )
    assert again.status_code == 200
    assert "1 unchanged" in again.text
    xlsx = client.get("/plan/quotas/export.xlsx", params={"period": ""})
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"


def test_salesforce_quota_file_from_the_export_page(
    client: TestClient, db_session: Session, org: Org
) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.teammate, "1000"))
    db_session.commit()
    sign_in(client, db_session, org.planner)
    response = client.get(
        "/data/exports/quotas.csv", params={"forecasting_type_id": "0Db000000000001", "period": "2026-Q1"}
    )
    assert response.status_code == 200
    assert 'filename="quotas-salesforce-2026-Q1.csv"' in response.headers["content-disposition"]
    assert response.text.splitlines() == [
        "Id,QuotaOwnerId,StartDate,QuotaAmount,IsAmount,ForecastingTypeId",
        ",005000000000001AAA,2026-01-01,200000.00,true,0Db000000000001CAA",
    ], "Tom has no Salesforce id, so his quota is left out"
    missing = client.get("/data/exports/quotas.csv", params={"forecasting_type_id": ""})
    assert missing.status_code == 422
    assert "ForecastingType" in missing.text
    sign_in(client, db_session, org.manager)
    assert (
        client.get("/data/exports/quotas.csv", params={"forecasting_type_id": "0Db000000000001"}).status_code
        == 403
    )
