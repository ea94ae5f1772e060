"""The board over HTTP: JSON and CSV, the pages, the home page, bad input and who may look."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from tests.board.support import PERIOD, World, build_world, populate
from tests.factories import make_token, make_user
from tests.helpers import CSRF_TOKEN, bearer, sign_in


@pytest.fixture
def world(db_session: Session) -> World:
    world = build_world(db_session)
    populate(world, db_session)
    db_session.commit()
    return world


def _headers(db_session: Session, user: User) -> dict[str, str]:
    secret = make_token(db_session, user).secret
    db_session.commit()
    return bearer(secret)


@pytest.fixture
def executive(db_session: Session, world: World) -> User:
    user = make_user(db_session, role=Role.EXECUTIVE)
    db_session.commit()
    return user


def test_board_as_json_and_csv(
    client: TestClient, db_session: Session, world: World, executive: User
) -> None:
    headers = _headers(db_session, executive)
    response = client.get("/api/v1/board", params={"period": PERIOD}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["org_unit_id"] == world.company.id
    cells = {cell["gap"]: cell for cell in body["rows"][0]["cells"]}
    assert cells["alignment"]["value"] == pytest.approx(50.0)
    assert cells["alignment"]["severity"] == "high"
    assert [point["period"] for point in cells["knowledge"]["trend"]] == body["periods"]
    assert set(body["definitions"]) == {"alignment", "effects", "knowledge"}
    table = client.get("/api/v1/board", params={"period": PERIOD, "format": "csv"}, headers=headers)
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["gap"] for row in rows] == ["alignment", "effects", "knowledge"]
    assert float(rows[0]["value"]) == pytest.approx(50.0)
    assert rows[0][PERIOD] == rows[0]["value"]


def test_drill_down_as_json_and_csv(
    client: TestClient, db_session: Session, world: World, executive: User
) -> None:
    headers = _headers(db_session, executive)
    url = f"/api/v1/board/{world.priority.id}/alignment"
    body = client.get(url, params={"period": PERIOD, "org_unit_id": world.north.id}, headers=headers).json()
    assert body["org_unit_name"] == "North"
    assert [m["name"] for m in body["members"] if m["kind"] == "unit"] == ["Team A", "Team B"]
    assert body["inbox"][0]["url"] == f"/gaps?org_unit_id={world.north.id}&kind=off_strategy"
    knowledge = client.get(
        f"/api/v1/board/{world.priority.id}/knowledge",
        params={"org_unit_id": world.north.id},
        headers=headers,
    ).json()
    assert knowledge["inbox"][0]["url"].startswith(
        f"/gaps?priority_id={world.priority.id}&org_unit_id={world.north.id}&kind="
    )
    table = client.get(url, params={"period": PERIOD, "format": "csv"}, headers=headers)
    sections = {row["section"] for row in csv.DictReader(io.StringIO(table.text))}
    assert sections == {"unit", "rep", "deal"}


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/board", {"period": "2025-Q9"}, 422, "period"),
        ("/api/v1/board", {"org_unit_id": "x"}, 422, "org_unit_id"),
        ("/api/v1/board", {"org_unit_id": "0"}, 422, "org_unit_id"),
        ("/api/v1/board", {"org_unit_id": "99999999"}, 404, "org_unit_id"),
        ("/api/v1/board/99999999/alignment", {}, 404, "priority_id"),
        ("/api/v1/board/1/sideways", {}, 422, "gap"),
        ("/api/v1/board/0/alignment", {}, 422, "priority_id"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(
    client: TestClient, db_session: Session, world: World, executive: User, path: str, params: dict[str, str],
    status: int, field: str,
) -> None:  # fmt: skip
    response = client.get(path, params=params, headers=_headers(db_session, executive))
    assert response.status_code == status
    assert field in response.text


def test_a_manager_outside_their_line_gets_404_and_a_rep_403(
    client: TestClient, db_session: Session, world: World
) -> None:
    manager = _headers(db_session, world.manager)
    assert client.get("/api/v1/board", headers=manager).json()["org_unit_id"] == world.team_a.id
    assert (
        client.get("/api/v1/board", params={"org_unit_id": world.south.id}, headers=manager).status_code
        == 404
    )
    rep = _headers(db_session, world.reps["ann"])
    assert client.get("/api/v1/board", headers=rep).status_code == 403
    assert client.get("/api/v1/board").status_code == 401


def test_plan_figures_are_stored_by_planners_only(
    client: TestClient, db_session: Session, world: World
) -> None:
    planner = _headers(db_session, make_user(db_session, role=Role.PLANNER))
    url = f"/api/v1/board/plans/{world.priority.id}"
    stored = client.put(
        url, json={"assumed_win_rate_percent": "35", "assumed_cycle_days": 45}, headers=planner
    )
    assert stored.status_code == 200
    assert stored.json()["assumed_cycle_days"] == 45
    assert stored.json()["planned_share_source"].startswith("target")  # its target is a share of pipeline
    assert client.put(url, json={"assumed_cycle_days": 0}, headers=planner).status_code == 422
    manager = _headers(db_session, world.manager)
    assert client.put(url, json={"assumed_cycle_days": 30}, headers=manager).status_code == 403
    assert client.get(url, headers=manager).json()["assumed_cycle_days"] == 45


def test_pages_render_and_executives_land_on_the_board(
    client: TestClient, db_session: Session, world: World, executive: User
) -> None:
    sign_in(client, db_session, executive)
    assert client.get("/", follow_redirects=False).headers["location"] == "/board"
    page = client.get("/board", params={"period": PERIOD})
    assert page.status_code == 200
    assert "<title>Three-gap board" in page.text
    assert 'data-testid="cell-' in page.text
    assert "Three-gap board</a>" in page.text
    assert "higher is worse" in page.text  # the definitions
    drill = client.get(f"/board/{world.priority.id}/alignment", params={"period": PERIOD})
    assert drill.status_code == 200
    assert f'href="/deals/{world.deals["dan-small"].id}"' in drill.text
    assert "/gaps?org_unit_id=" in drill.text
    assert client.get("/board", params={"period": "soon"}).status_code == 422
    saved = client.post(
        f"/board/plans/{world.priority.id}",
        data={"csrf_token": CSRF_TOKEN, "gap": "effects", "period": PERIOD, "assumed_cycle_days": "12"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    refused = client.post(
        f"/board/plans/{world.priority.id}",
        data={"csrf_token": CSRF_TOKEN, "gap": "effects", "assumed_win_rate_percent": "120"},
    )
    assert refused.status_code == 422
    assert (
        'data-testid="plan-error">Input should be less than or equal to 100 (assumed_win_rate_percent'
        in refused.text
    )


def test_other_roles_keep_their_home_page(client: TestClient, db_session: Session, world: World) -> None:
    sign_in(client, db_session, world.manager)
    assert client.get("/", follow_redirects=False).status_code == 200
    sign_in(client, db_session, world.reps["ann"])
    assert client.get("/").status_code == 200
    assert "Three-gap board" not in client.get("/").text
    assert client.get("/board").status_code == 403


def test_an_empty_organisation_gets_a_next_step_not_an_error(client: TestClient, db_session: Session) -> None:
    sign_in(client, db_session, make_user(db_session, role=Role.ADMIN))
    page = client.get("/")  # an admin lands on the board
    assert page.status_code == 200
    assert 'data-testid="board-no-units"' in page.text
    assert 'href="/admin/users"' in page.text  # the navigation is there


def test_the_board_answers_from_its_snapshot_and_refreshes_on_request(
    client: TestClient, db_session: Session, world: World, executive: User
) -> None:
    headers = _headers(db_session, executive)
    sign_in(client, db_session, executive)
    params = {"period": PERIOD, "org_unit_id": world.company.id}
    first = client.get("/api/v1/board", params=params, headers=headers).json()
    assert first["from_snapshot"] is False
    second = client.get("/api/v1/board", params=params, headers=headers).json()
    assert second["from_snapshot"] is True
    assert second["as_of"] == first["as_of"]
    assert second["rows"] == first["rows"]
    refreshed = client.get("/api/v1/board", params={**params, "refresh": "true"}, headers=headers).json()
    assert refreshed["from_snapshot"] is False
    assert refreshed["as_of"] > first["as_of"]

    page = client.get("/board", params=params)
    assert 'data-testid="board-as-of" data-snapshot="yes"' in page.text
    assert "kept from an earlier reading" in page.text
    query = f"org_unit_id={world.company.id}&amp;period={PERIOD}"
    assert f'href="/board?{query}&amp;refresh=true"' in page.text
    again = client.get("/board", params={**params, "refresh": "true"}, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == f"/board?period={PERIOD}&org_unit_id={world.company.id}"
    drill_url = f"/board/{world.priority.id}/effects"
    drill = client.get(drill_url, params=params)
    assert 'data-testid="board-as-of" data-snapshot="yes"' in drill.text
    assert f'href="{drill_url}?{query}&amp;refresh=true"' in drill.text
    drill_again = client.get(drill_url, params={**params, "refresh": "true"}, follow_redirects=False)
    assert drill_again.status_code == 303
    assert drill_again.headers["location"] == f"{drill_url}?period={PERIOD}&org_unit_id={world.company.id}"


def test_the_drill_down_trend_as_image_spec_and_csv(
    client: TestClient, db_session: Session, world: World, executive: User
) -> None:
    headers = _headers(db_session, executive)
    params = {"period": PERIOD, "org_unit_id": world.north.id}
    base = f"/api/v1/board/{world.priority.id}/effects"
    drill = client.get(base, params=params, headers=headers).json()
    expected = [(point["period"], point["value"]) for point in drill["trend"]]

    table = client.get(f"{base}/trend.csv", params=params, headers=headers)
    assert table.status_code == 200
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["period"] for row in rows] == [period for period, _ in expected]
    assert {row["org_unit"] for row in rows} == {"North"}
    for row, (_, value) in zip(rows, expected, strict=True):
        assert (float(row["value"]) if row["value"] else None) == pytest.approx(value, abs=0.005)

    spec = client.get(f"{base}/trend.json", params=params, headers=headers).json()
    values = spec["layer"][0]["data"]["values"] if "data" not in spec else spec["data"]["values"]
    assert [item["period"] for item in values] == [period for period, _ in expected]
    assert "North" in json.dumps(spec)  # the title names the unit

    png = client.get(f"{base}/trend.png", params=params, headers=headers)
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    svg = client.get(f"{base}/trend.svg", params=params, headers=headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text

    assert client.get(f"{base}/trend.gif", params=params, headers=headers).status_code in (404, 422)
    assert client.get("/api/v1/board/999999/effects/trend.csv", headers=headers).status_code == 404
    rep = _headers(db_session, world.reps["ann"])
    assert client.get(f"{base}/trend.csv", headers=rep).status_code == 403

    sign_in(client, db_session, executive)
    page = client.get(f"/board/{world.priority.id}/effects", params=params)
    assert f'href="{base}/trend.png?org_unit_id={world.north.id}&amp;period={PERIOD}"' in page.text
