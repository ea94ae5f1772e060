"""The metrics API and pages over HTTP: validation names the parameter, CSV and chart downloads, pages render."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role
from tests.factories import make_token, make_user
from tests.helpers import bearer, sign_in
from tests.intelligence.support import CLOSED_DEALS, PERIOD, Org, add_closed_deals, build_org


@pytest.fixture
def org(db_session: Session) -> Org:
    org = build_org(db_session)
    add_closed_deals(db_session, org)
    return org


@pytest.fixture
def headers(db_session: Session, org: Org) -> dict[str, str]:
    executive = make_user(db_session, role=Role.EXECUTIVE)
    secret = make_token(db_session, executive).secret
    db_session.commit()
    return bearer(secret)


def test_metrics_need_authentication(client: TestClient) -> None:
    assert client.get("/api/v1/metrics/summary").status_code == 401


def test_summary_as_json_and_csv(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/metrics/summary", params={"period": PERIOD}, headers=headers)
    assert response.status_code == 200
    metrics = {metric["key"]: metric for metric in response.json()["metrics"]}
    won = sum(1 for _, is_won, _, _ in CLOSED_DEALS if is_won)
    assert metrics["win_rate"]["value"] == pytest.approx(won / len(CLOSED_DEALS))
    as_csv = client.get(
        "/api/v1/metrics/summary", params={"period": PERIOD, "format": "csv"}, headers=headers
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {row["key"]: row for row in rows}["win_rate"]["value"] == str(metrics["win_rate"]["value"])


def test_a_rep_gets_only_their_book_through_the_api(
    client: TestClient, db_session: Session, org: Org
) -> None:
    secret = make_token(db_session, org.rep_c).secret
    db_session.commit()
    rows = client.get(
        "/api/v1/metrics/win-rate", params={"period": PERIOD, "by": "rep"}, headers=bearer(secret)
    ).json()["rows"]
    assert [row["label"] for row in rows] == ["Cat Rep"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/metrics/summary", {"period": "2025-Q7"}, "period"),
        ("/api/v1/metrics/summary", {"period": "yesterday"}, "period"),
        ("/api/v1/metrics/summary", {"org_unit_id": "987654"}, "org_unit_id"),
        ("/api/v1/metrics/summary", {"rep_id": "987654"}, "rep_id"),
        ("/api/v1/metrics/waterfall", {"close_period": "Q9"}, "close_period"),
        ("/api/v1/metrics/waterfall", {"from": "2025-01-01", "to": "2029-01-01"}, "from"),
        ("/api/v1/metrics/waterfall", {"to": "0001-01-01"}, "to"),
        ("/api/v1/metrics/waterfall", {"from": "9999-12-31", "to": "9999-12-31"}, "from"),
    ],
)
def test_domain_validation_names_the_parameter(
    client: TestClient, headers: dict[str, str], path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == field


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/metrics/win-rate", {"by": "astrology"}, "by"),
        ("/api/v1/metrics/summary", {"target": "-5"}, "target"),
        ("/api/v1/metrics/summary", {"target": "lots"}, "target"),
        ("/api/v1/metrics/summary", {"org_unit_id": "0"}, "org_unit_id"),
        ("/api/v1/metrics/trend", {"metric": "happiness"}, "metric"),
        ("/api/v1/metrics/trend", {"periods": "500"}, "periods"),
        ("/api/v1/metrics/trend", {"grain": "decade"}, "grain"),
        ("/api/v1/metrics/waterfall", {"from": "2025-02-30"}, "from"),
        ("/api/v1/metrics/summary", {"product": "a\x00b"}, "product"),
        ("/api/v1/metrics/summary", {"format": "xml"}, "format"),
    ],
)
def test_malformed_parameters_get_422_naming_them(
    client: TestClient, headers: dict[str, str], path: str, params: dict[str, str], parameter: str
) -> None:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 422
    assert any(parameter in error["loc"] for error in response.json()["detail"])


def test_from_after_to_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(
        "/api/v1/metrics/waterfall", params={"from": "2025-03-02", "to": "2025-03-01"}, headers=headers
    )
    assert response.status_code == 422


@pytest.mark.parametrize("name", ["win-rate", "trend", "funnel", "waterfall", "win-loss"])
def test_every_chart_as_spec_image_and_data(client: TestClient, headers: dict[str, str], name: str) -> None:
    params = {"period": PERIOD, "by": "office"}
    spec = client.get(f"/api/v1/metrics/charts/{name}.json", params=params, headers=headers)
    assert spec.status_code == 200
    body = spec.json()
    assert "vega-lite" in body["$schema"]
    assert body["title"]
    png = client.get(f"/api/v1/metrics/charts/{name}.png", params=params, headers=headers)
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = client.get(f"/api/v1/metrics/charts/{name}.svg", params=params, headers=headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content[:200]
    data = client.get(f"/api/v1/metrics/charts/{name}.csv", params=params, headers=headers)
    assert data.headers["content-type"].startswith("text/csv")
    assert len(data.text.splitlines()) >= 1


def test_win_rate_chart_data_matches_the_table(client: TestClient, headers: dict[str, str]) -> None:
    params = {"period": PERIOD, "by": "office"}
    table = client.get("/api/v1/metrics/win-rate", params=params, headers=headers).json()["rows"]
    data = list(
        csv.DictReader(
            io.StringIO(
                client.get("/api/v1/metrics/charts/win-rate.csv", params=params, headers=headers).text
            )
        )
    )
    assert {row["group"]: float(row["win_rate"]) for row in data} == {
        row["label"]: row["win_rate"] for row in table
    }


def test_unknown_chart_or_extension_is_a_client_error(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/api/v1/metrics/charts/pie.json", headers=headers).status_code == 422
    assert client.get("/api/v1/metrics/charts/trend.exe", headers=headers).status_code == 422


@pytest.mark.parametrize(
    "path", ["/insights/metrics", "/insights/win-loss", "/insights/funnel", "/insights/waterfall"]
)
def test_pages_render_for_a_manager(client: TestClient, db_session: Session, org: Org, path: str) -> None:
    sign_in(client, db_session, org.manager)
    response = client.get(path, params={"period": PERIOD})
    assert response.status_code == 200
    assert "<title>" in response.text
    assert "data-chart-spec" in response.text or "empty-state" in response.text


def test_metrics_page_shows_the_headline_and_unavailable_metrics(
    client: TestClient, db_session: Session, org: Org
) -> None:
    sign_in(client, db_session, org.manager)
    page = client.get("/insights/metrics", params={"period": PERIOD, "by": "rep"}).text
    assert 'data-testid="metric-win_rate"' in page
    assert "needs quotas" in page
    assert "Ann Rep" in page
    assert "Ben Rep" in page
    assert "Dan Rep" not in page, "the manager sees only their reporting line"


def test_a_bad_filter_on_a_page_shows_a_message(client: TestClient, db_session: Session, org: Org) -> None:
    sign_in(client, db_session, org.manager)
    response = client.get("/insights/metrics", params={"period": "2025-Q9"})
    assert response.status_code == 422
    assert "not a period" in response.text
    assert 'role="alert"' in response.text
