"""The initiative API: create, read, patch, plan, approve, transitions and value, with every gate enforced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import User
from bridgehead.common.types import MAX_AMOUNT
from bridgehead.governance.models import Initiative
from tests.factories import make_token
from tests.governance.support import WINDOW_END, WINDOW_START, Cast, make_cast
from tests.helpers import bearer


@pytest.fixture
def cast(db_session: Session) -> Cast:
    """Everyone an initiative involves."""
    return make_cast(db_session)


@pytest.fixture
def headers(db_session: Session, cast: Cast) -> dict[str, dict[str, str]]:
    """Bearer headers by part."""
    parts: dict[str, User] = {
        "executive": cast.executive,
        "sponsor": cast.sponsor,
        "owner": cast.owner,
        "controller": cast.controller,
        "manager": cast.manager,
        "rep": cast.rep,
    }
    tokens = {name: bearer(make_token(db_session, user).secret) for name, user in parts.items()}
    db_session.commit()
    return tokens


def _business_case(cast: Cast) -> dict[str, Any]:
    return {
        "title": "Launch a partner channel",
        "owner_id": cast.owner.id,
        "sponsor_id": cast.sponsor.id,
        "controller_id": cast.controller.id,
        "priority_id": cast.priority.id,
        "value_kind": "revenue_uplift",
        "expected_value_amount": "1200000",
        "cost_amount": "80000",
        "business_case": "Resellers in DACH and Nordics",
        "start_date": WINDOW_START.isoformat(),
        "end_date": WINDOW_END.isoformat(),
    }


def _create(client: TestClient, headers: dict[str, dict[str, str]], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/initiatives", json=body, headers=headers["executive"])
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _state(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Initiative)) or 0,
        session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


def test_walk_from_identified_to_closed_over_the_api(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    initiative = _create(client, headers, _business_case(cast))
    base = f"/api/v1/initiatives/{initiative['id']}"
    assert initiative["stage"] == "identified"

    refused = client.post(f"{base}/advance", headers=headers["owner"])
    assert refused.status_code == 409
    assert refused.json()["detail"]["missing"] == ["at least one milestone"]

    milestone = client.post(
        f"{base}/milestones",
        json={"title": "Sign five resellers", "due_date": (WINDOW_START + dt.timedelta(days=40)).isoformat()},
        headers=headers["owner"],
    )
    assert milestone.status_code == 201, milestone.text
    kpi = client.post(
        f"{base}/kpis",
        json={
            "name": "Partner-sourced pipeline",
            "unit": "USD",
            "baseline_value": "0",
            "target_value": "3000000",
        },
        headers=headers["owner"],
    )
    assert kpi.status_code == 201, kpi.text
    assert (
        client.post(f"{base}/transitions", json={"to": "detailed"}, headers=headers["owner"]).status_code
        == 200
    )

    assert client.post(f"{base}/advance", headers=headers["owner"]).json()["detail"]["missing"] == [
        "the sponsor's approval"
    ]
    approval = client.post(f"{base}/approve", json={"comment": "Go"}, headers=headers["sponsor"])
    assert approval.status_code == 201
    assert approval.json()["as_sponsor"] is True
    assert client.post(f"{base}/advance", headers=headers["owner"]).json()["stage"] == "decided"

    done = client.post(f"{base}/milestones/{milestone.json()['id']}/done", headers=headers["owner"])
    assert done.status_code == 200
    assert done.json()["done_at"] is not None
    assert (
        client.post(f"{base}/transitions", json={"to": "implemented"}, headers=headers["owner"]).status_code
        == 200
    )

    manager_close = client.post(f"{base}/transitions", json={"to": "closed"}, headers=headers["owner"])
    assert manager_close.status_code == 403
    no_confirmation = client.post(f"{base}/transitions", json={"to": "closed"}, headers=headers["controller"])
    assert no_confirmation.status_code == 409
    not_controller = client.post(
        f"{base}/confirm-value",
        json={"realised_value_amount": "1", "evidence": "x", "close": True},
        headers=headers["manager"],
    )
    assert not_controller.status_code == 403

    confirmed = client.post(
        f"{base}/confirm-value",
        json={"realised_value_amount": "640000.50", "evidence": "Partner ledger Q3", "close": True},
        headers=headers["controller"],
    )
    assert confirmed.status_code == 201, confirmed.text
    assert Decimal(confirmed.json()["realised_value_amount"]) == Decimal("640000.50")

    detail = client.get(base, headers=headers["rep"]).json()
    assert detail["stage"] == "closed"
    assert [step["to_stage"] for step in detail["gate_history"]] == [
        "detailed",
        "decided",
        "implemented",
        "closed",
    ]
    assert detail["confirmations"][0]["evidence"] == "Partner ledger Q3"
    assert detail["next_gate"]["next_stage"] is None
    value = client.get(f"{base}/value", headers=headers["rep"])
    assert value.status_code == 200
    assert value.json()["measurable"] is False


def test_list_filters_by_stage_and_priority(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    first = _create(client, headers, _business_case(cast))
    second = _create(
        client, headers, {"title": "No priority", "owner_id": cast.owner.id, "sponsor_id": cast.sponsor.id}
    )
    by_priority = client.get(
        f"/api/v1/initiatives?priority_id={cast.priority.id}", headers=headers["rep"]
    ).json()
    assert [item["id"] for item in by_priority["items"]] == [first["id"]]
    identified = client.get("/api/v1/initiatives?stage=identified", headers=headers["rep"]).json()
    assert {first["id"], second["id"]} <= {item["id"] for item in identified["items"]}
    assert client.get("/api/v1/initiatives?stage=done", headers=headers["rep"]).status_code == 422


def test_rights_over_the_api(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    body = _business_case(cast)
    before = _state(db_session)
    assert client.post("/api/v1/initiatives", json=body, headers=headers["manager"]).status_code == 403
    assert _state(db_session) == before
    created = _create(client, headers, body)
    patch = client.patch(
        f"/api/v1/initiatives/{created['id']}", json={"title": "Hijack"}, headers=headers["rep"]
    )
    assert patch.status_code == 403
    own = client.patch(
        f"/api/v1/initiatives/{created['id']}", json={"title": "Partners"}, headers=headers["owner"]
    )
    assert own.status_code == 200
    assert own.json()["title"] == "Partners"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expected_value_amount": "-5"}, "expected_value_amount"),
        ({"expected_value_amount": str(MAX_AMOUNT * 10)}, "expected_value_amount"),
        ({"start_date": WINDOW_END.isoformat(), "end_date": WINDOW_START.isoformat()}, "end_date"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_stores_nothing(
    client: TestClient,
    db_session: Session,
    cast: Cast,
    headers: dict[str, dict[str, str]],
    change: dict[str, str],
    field: str,
) -> None:
    before = _state(db_session)
    response = client.post(
        "/api/v1/initiatives", json=_business_case(cast) | change, headers=headers["executive"]
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == field
    assert _state(db_session) == before


def test_unknown_and_skipping_transitions(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    created = _create(client, headers, _business_case(cast))
    base = f"/api/v1/initiatives/{created['id']}"
    before = _state(db_session)
    unknown = client.post(f"{base}/transitions", json={"to": "launched"}, headers=headers["owner"])
    assert unknown.status_code == 422
    assert unknown.json()["detail"]["value"] == "launched"
    assert client.post(f"{base}/transitions", json={}, headers=headers["owner"]).status_code == 422
    for target in ("decided", "implemented", "closed"):
        skipped = client.post(f"{base}/transitions", json={"to": target}, headers=headers["owner"])
        assert skipped.status_code == 409, target
    # Every other action that could move the stage refuses too.
    assert client.post(f"{base}/reopen", headers=headers["owner"]).status_code == 409
    assert client.post(f"{base}/approve", json={}, headers=headers["sponsor"]).status_code == 409
    value = {"realised_value_amount": "1", "evidence": "x", "close": True}
    assert client.post(f"{base}/confirm-value", json=value, headers=headers["controller"]).status_code == 409
    assert client.patch(base, json={"stage": "closed"}, headers=headers["owner"]).status_code == 422
    assert _state(db_session) == before
    assert client.get(base, headers=headers["owner"]).json()["stage"] == "identified"


def test_cancel_and_reopen_over_the_api(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    created = _create(client, headers, _business_case(cast))
    base = f"/api/v1/initiatives/{created['id']}"
    assert client.post(f"{base}/cancel", json={"reason": ""}, headers=headers["owner"]).status_code == 422
    cancelled = client.post(
        f"{base}/cancel", json={"reason": "Merged into FS entry"}, headers=headers["owner"]
    )
    assert cancelled.json()["stage"] == "cancelled"
    assert client.post(f"{base}/reopen", headers=headers["owner"]).status_code == 409
    rejected = client.post(f"{base}/reject", json={"comment": "Stay cancelled"}, headers=headers["sponsor"])
    assert rejected.status_code == 201
    assert client.post(f"{base}/reopen", headers=headers["owner"]).status_code == 409
    assert (
        client.post(f"{base}/approve", json={"comment": "Back on"}, headers=headers["sponsor"]).status_code
        == 201
    )
    reopened = client.post(f"{base}/reopen", headers=headers["owner"])
    assert reopened.status_code == 200
    assert reopened.json()["stage"] == "identified"


def test_missing_initiative_is_404(client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    assert client.get("/api/v1/initiatives/999999", headers=headers["rep"]).status_code == 404
    assert client.post("/api/v1/initiatives/999999/advance", headers=headers["owner"]).status_code == 404


def test_board_api(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    created = _create(client, headers, _business_case(cast))
    board = client.get(
        f"/api/v1/governance/board?priority_id={cast.priority.id}", headers=headers["rep"]
    ).json()
    assert [card["id"] for card in board["columns"]["identified"]] == [created["id"]]
    assert Decimal(board["funnel"][0]["amount"]) == Decimal(_business_case(cast)["expected_value_amount"])


def test_kpi_reading_over_the_api(
    client: TestClient, db_session: Session, cast: Cast, headers: dict[str, dict[str, str]]
) -> None:
    created = _create(client, headers, _business_case(cast))
    base = f"/api/v1/initiatives/{created['id']}"
    not_a_number = client.post(
        f"{base}/kpis",
        json={"name": "Win rate", "unit": "%", "baseline_value": "about 20", "target_value": "30"},
        headers=headers["owner"],
    )
    assert not_a_number.status_code == 422
    assert client.get(f"{base}/kpis", headers=headers["owner"]).json() == []
    kpi = client.post(
        f"{base}/kpis",
        json={"name": "Win rate", "unit": "%", "baseline_value": "20", "target_value": "30"},
        headers=headers["owner"],
    ).json()
    reading = client.patch(
        f"{base}/kpis/{kpi['id']}", json={"current_value": "24.5"}, headers=headers["owner"]
    )
    assert reading.status_code == 200
    assert Decimal(reading.json()["current_value"]) == Decimal("24.5")
    assert (
        client.patch(
            f"{base}/kpis/{kpi['id']}", json={"current_value": "1"}, headers=headers["rep"]
        ).status_code
        == 403
    )
    assert (
        client.patch(f"{base}/kpis/999999", json={"current_value": "1"}, headers=headers["owner"]).status_code
        == 404
    )
