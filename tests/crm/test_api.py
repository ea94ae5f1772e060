"""The CRM JSON API: lists, details, history, query validation and visibility over HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from tests.factories import make_account, make_history, make_opportunity, make_token, make_user
from tests.helpers import bearer


def _client_for(client: TestClient, session: Session, user: User) -> dict[str, str]:
    headers = bearer(make_token(session, user).secret)
    session.commit()
    return headers


@pytest.fixture
def rep(db_session: Session) -> User:
    return make_user(db_session, full_name="Rita Rep")


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_lists_the_api(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
        "/api/v1/accounts",
        "/api/v1/accounts/{account_id}",
        "/api/v1/opportunities",
        "/api/v1/opportunities/{opportunity_id}",
        "/api/v1/opportunities/{opportunity_id}/history",
        "/healthz",
    ]:
        assert path in paths, path
    # Pages are not part of the API document.
    assert "/login" not in paths
    assert "/opportunities" not in paths
    parameters = {p["name"] for p in paths["/api/v1/opportunities"]["get"]["parameters"]}
    assert {
        "owner_id",
        "stage",
        "status",
        "close_quarter",
        "amount_min",
        "amount_max",
        "q",
        "sort",
    } <= parameters
    assert {"page", "page_size"} <= parameters


def test_api_needs_authentication(client: TestClient) -> None:
    for path in ["/api/v1/accounts", "/api/v1/opportunities", "/api/v1/opportunities/1"]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


def test_opportunity_list_with_filters_and_pages(client: TestClient, db_session: Session, rep: User) -> None:
    acme = make_account(db_session, name="Acme")
    for n in range(5):
        make_opportunity(
            db_session,
            owner_id=rep.id,
            account_id=acme.id,
            name=f"Open {n}",
            stage="Proposal",
            amount=Decimal(1000 * (n + 1)),
            close_date=dt.date(2026, 5, 1 + n),
        )
    make_opportunity(
        db_session,
        owner_id=rep.id,
        name="Won",
        stage="Closed Won",
        is_closed=True,
        is_won=True,
        amount=Decimal("250.5"),
        close_date=dt.date(2026, 4, 1),
    )
    make_opportunity(db_session, owner_id=rep.id, name="Later", close_date=dt.date(2026, 7, 1))
    headers = _client_for(client, db_session, rep)

    everything = client.get("/api/v1/opportunities", headers=headers).json()
    assert everything["total"] == 7
    assert everything["pages"] == 1

    response = client.get(
        "/api/v1/opportunities",
        params={
            "status": "open",
            "close_quarter": "2026-Q2",
            "amount_min": "2000",
            "amount_max": "4000",
            "sort": "amount",
            "page": 2,
            "page_size": 2,
        },
        headers=headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"], body["page_size"], body["pages"]) == (3, 2, 2, 2)
    assert [item["name"] for item in body["items"]] == ["Open 3"]
    item = body["items"][0]
    assert item["amount"] == "4000.00"
    assert item["account_name"] == "Acme"
    assert item["owner"] == {"id": rep.id, "full_name": "Rita Rep"}
    assert item["close_date"] == "2026-05-04"

    won = client.get("/api/v1/opportunities", params={"status": "won"}, headers=headers).json()
    assert [(i["name"], i["amount"]) for i in won["items"]] == [("Won", "250.50")]
    stage = client.get("/api/v1/opportunities", params={"stage": "Closed Won"}, headers=headers).json()
    assert stage["total"] == 1
    searched = client.get("/api/v1/opportunities", params={"q": "open 4"}, headers=headers).json()
    assert [i["name"] for i in searched["items"]] == ["Open 4"]


def test_money_is_a_string_with_two_decimals(client: TestClient, db_session: Session, rep: User) -> None:
    account = make_account(db_session, owner_id=rep.id, annual_revenue_amount=Decimal("50000000"))
    deal = make_opportunity(
        db_session, owner_id=rep.id, account_id=account.id, amount=Decimal("1050"), close_date=dt.date.today()
    )
    make_opportunity(
        db_session,
        owner_id=rep.id,
        account_id=account.id,
        amount=Decimal("0.1"),
        stage="Closed Won",
        is_closed=True,
        is_won=True,
    )
    headers = _client_for(client, db_session, rep)
    listed = client.get("/api/v1/opportunities", params={"sort": "-amount"}, headers=headers).json()
    assert [item["amount"] for item in listed["items"]] == ["1050.00", "0.10"]
    detail = client.get(f"/api/v1/opportunities/{deal.id}", headers=headers).json()
    assert detail["amount"] == "1050.00"
    account_body = client.get(f"/api/v1/accounts/{account.id}", headers=headers).json()
    assert account_body["annual_revenue_amount"] == "50000000.00"
    assert account_body["summary"] == {
        "open_count": 1,
        "open_amount": "1050.00",
        "won_count": 1,
        "won_amount": "0.10",
        "lost_count": 0,
    }


def test_opportunity_detail_and_history(client: TestClient, db_session: Session, rep: User) -> None:
    deal = make_opportunity(db_session, owner_id=rep.id, stage="Discovery", amount=Decimal(500))
    start = dt.datetime(2026, 2, 1, 8, 0, tzinfo=dt.UTC)
    make_history(db_session, deal, changed_at=start)
    make_history(
        db_session, deal, changed_at=start + dt.timedelta(days=3), stage="Proposal", changed_by_id=rep.id
    )
    headers = _client_for(client, db_session, rep)
    detail = client.get(f"/api/v1/opportunities/{deal.id}", headers=headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["id"] == deal.id
    assert [change["stage"] for change in body["history"]] == ["Discovery", "Proposal"]
    history = client.get(f"/api/v1/opportunities/{deal.id}/history", headers=headers)
    assert history.status_code == 200
    assert history.json() == body["history"]
    assert history.json()[1]["changed_fields"] == ["stage"]
    assert history.json()[1]["changed_by"] == {"id": rep.id, "full_name": "Rita Rep"}
    assert dt.datetime.fromisoformat(history.json()[0]["changed_at"]) == start


def test_accounts_list_and_detail(client: TestClient, db_session: Session, rep: User) -> None:
    mine = make_account(db_session, name="Globex", owner_id=rep.id, industry="Energy", country="Canada")
    make_account(db_session, name="Initech", owner_id=rep.id, industry="Software", country="France")
    make_account(db_session, name="Hidden", owner_id=make_user(db_session).id)
    headers = _client_for(client, db_session, rep)
    body = client.get("/api/v1/accounts", headers=headers).json()
    assert [item["name"] for item in body["items"]] == ["Globex", "Initech"]
    assert body["total"] == 2
    filtered = client.get("/api/v1/accounts", params={"industry": "Energy", "sort": "-name"}, headers=headers)
    assert [item["name"] for item in filtered.json()["items"]] == ["Globex"]
    paged = client.get("/api/v1/accounts", params={"page_size": 1, "page": 2}, headers=headers).json()
    assert [item["name"] for item in paged["items"]] == ["Initech"]
    assert paged["pages"] == 2
    detail = client.get(f"/api/v1/accounts/{mine.id}", headers=headers).json()
    assert detail["name"] == "Globex"
    assert detail["owner"] == {"id": rep.id, "full_name": "Rita Rep"}


def test_another_reps_deal_is_404_and_not_leaked(client: TestClient, db_session: Session, rep: User) -> None:
    other = make_user(db_session)
    secret_account = make_account(db_session, name="Secret Account Inc", owner_id=other.id)
    theirs = make_opportunity(
        db_session,
        owner_id=other.id,
        account_id=secret_account.id,
        name="Confidential Megadeal",
        amount=Decimal("9999999"),
    )
    headers = _client_for(client, db_session, rep)
    for path in [
        f"/api/v1/opportunities/{theirs.id}",
        f"/api/v1/opportunities/{theirs.id}/history",
        f"/api/v1/accounts/{secret_account.id}",
    ]:
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert "Confidential" not in response.text
        assert "Megadeal" not in response.text
        assert "Secret Account" not in response.text
        assert "9999999" not in response.text
    missing = client.get(f"/api/v1/opportunities/{theirs.id + 10_000}", headers=headers)
    assert missing.status_code == 404
    # The same answer whether the deal exists or not: nothing to learn from probing ids.
    assert (
        missing.json()["detail"]["message"]
        == client.get(f"/api/v1/opportunities/{theirs.id}", headers=headers).json()["detail"]["message"]
    )
    listed = client.get("/api/v1/opportunities", params={"owner_id": other.id}, headers=headers).json()
    assert listed["items"] == []


def test_manager_sees_the_teams_deals(client: TestClient, db_session: Session) -> None:
    manager = make_user(db_session, role=Role.MANAGER)
    member = make_user(db_session, manager_id=manager.id)
    outsider = make_user(db_session)
    team_deal = make_opportunity(db_session, owner_id=member.id, name="Team deal")
    make_opportunity(db_session, owner_id=manager.id, name="Own deal")
    make_opportunity(db_session, owner_id=outsider.id, name="Outside deal")
    headers = _client_for(client, db_session, manager)
    names = {item["name"] for item in client.get("/api/v1/opportunities", headers=headers).json()["items"]}
    assert names == {"Team deal", "Own deal"}
    assert client.get(f"/api/v1/opportunities/{team_deal.id}", headers=headers).status_code == 200
    by_member = client.get("/api/v1/opportunities", params={"owner_id": member.id}, headers=headers).json()
    assert [item["name"] for item in by_member["items"]] == ["Team deal"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-3"}, "page"),
        ({"page_size": "100000"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"amount_min": "abc"}, "amount_min"),
        ({"amount_min": "-1"}, "amount_min"),
        ({"amount_min": "NaN"}, "amount_min"),
        ({"amount_max": "Infinity"}, "amount_max"),
        ({"amount_max": "1e100"}, "amount_max"),
        ({"amount_min": "10", "amount_max": "5"}, "amount_min"),
        ({"close_quarter": "2026-Q5"}, "close_quarter"),
        ({"close_quarter": "Q1-2026"}, "close_quarter"),
        ({"close_quarter": "1800-Q1"}, "close_quarter"),
        ({"sort": "bogus"}, "sort"),
        ({"sort": "password_hash"}, "sort"),
        ({"status": "pending"}, "status"),
        ({"owner_id": "0"}, "owner_id"),
        ({"owner_id": "me"}, "owner_id"),
        ({"owner_id": str(2**63)}, "owner_id"),
        ({"account_id": str(10**30)}, "account_id"),
        ({"q": "x" * 101}, "q"),
        ({"foo": "1"}, "foo"),
    ],
)
def test_bad_opportunity_query_is_422_naming_the_parameter(
    client: TestClient, db_session: Session, rep: User, params: dict[str, str], parameter: str
) -> None:
    headers = _client_for(client, db_session, rep)
    response = client.get("/api/v1/opportunities", params=params, headers=headers)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert isinstance(errors, list)
    assert errors
    assert any(parameter in error["loc"] or parameter in error["msg"] for error in errors), errors


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"sort": "-owner"}, "sort"),
        ({"page": "abc"}, "page"),
        ({"owner_id": str(2**63)}, "owner_id"),
        ({"industry": "x" * 101}, "industry"),
        ({"stage": "Proposal"}, "stage"),  # an opportunity filter, unknown here
    ],
)
def test_bad_account_query_is_422_naming_the_parameter(
    client: TestClient, db_session: Session, rep: User, params: dict[str, str], parameter: str
) -> None:
    headers = _client_for(client, db_session, rep)
    response = client.get("/api/v1/accounts", params=params, headers=headers)
    assert response.status_code == 422
    assert any(parameter in error["loc"] for error in response.json()["detail"])


@pytest.mark.parametrize("object_id", ["0", "-1", "abc", "1.5", str(2**63), str(10**30)])
@pytest.mark.parametrize(
    "path", ["/api/v1/opportunities/{}", "/api/v1/opportunities/{}/history", "/api/v1/accounts/{}"]
)
def test_bad_ids_are_422(
    client: TestClient, db_session: Session, rep: User, path: str, object_id: str
) -> None:
    headers = _client_for(client, db_session, rep)
    response = client.get(path.format(object_id), headers=headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][0] == "path"
    assert error["loc"][1] in {"opportunity_id", "account_id"}


def test_largest_id_is_a_clean_404(client: TestClient, db_session: Session, rep: User) -> None:
    headers = _client_for(client, db_session, rep)
    response = client.get(f"/api/v1/opportunities/{2**63 - 1}", headers=headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/opportunities", {"q": "a\x00b"}, "q"),
        ("/api/v1/opportunities", {"stage": "\x00"}, "stage"),
        ("/api/v1/accounts", {"industry": "Energy\x00"}, "industry"),
        ("/api/v1/accounts", {"q": "\x00"}, "q"),
    ],
)
def test_nul_characters_are_422_not_a_database_error(
    client: TestClient, db_session: Session, rep: User, path: str, params: dict[str, str], parameter: str
) -> None:
    headers = _client_for(client, db_session, rep)
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 422
    assert any(parameter in error["loc"] for error in response.json()["detail"])


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"q": "' OR 1=1 --"}, False),
        ({"q": "ünïcødé ✓"}, True),
        ({"close_quarter": ""}, True),
        ({"q": "  "}, True),
    ],
    ids=["sql-ish", "unicode", "blank-quarter", "blank-q"],
)
def test_odd_but_valid_input_is_taken_literally(
    client: TestClient, db_session: Session, rep: User, params: dict[str, Any], found: bool
) -> None:
    make_opportunity(db_session, owner_id=rep.id, name="Plain ünïcødé ✓ deal")
    headers = _client_for(client, db_session, rep)
    response = client.get("/api/v1/opportunities", params=params, headers=headers)
    assert response.status_code == 200
    assert response.json()["total"] == (1 if found else 0)
