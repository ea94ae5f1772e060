"""The Maven CRM figures of shared/data/README.md, computed by the product through the metrics API.

Maven CRM is imported through the shipped mapping into a fresh database of each backend; every
figure is read from ``/api/v1/metrics/…`` and compared with the README and with an independent
pandas computation over the raw CSV files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role
from bridgehead.web.app import create_app
from tests.conftest import Settings
from tests.connectors.support import MAPPINGS, MAVEN_DIR, fresh_database, import_mapping
from tests.factories import make_token, make_user
from tests.helpers import bearer

pd = pytest.importorskip("pandas")


@dataclass(frozen=True)
class MavenApi:
    """An HTTP client on a database holding Maven CRM, and the headers of an executive's token."""

    client: TestClient
    headers: dict[str, str]

    def get(self, path: str, **params: str) -> dict:  # type: ignore[type-arg]
        response = self.client.get(f"/api/v1/metrics/{path}", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict = response.json()  # type: ignore[type-arg]
        return body


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def maven(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MavenApi]:
    with fresh_database(request.param, tmp_path_factory.mktemp("maven")) as engine:
        with Session(engine) as session:
            report = import_mapping(session, MAVEN_DIR, MAPPINGS / "maven-crm.toml")
            assert report.ok, report.problems[:5]
            executive = make_user(session, role=Role.EXECUTIVE, email="cro@maven.example")
            secret = make_token(session, executive).secret
            session.commit()
        settings = Settings(
            secret_key="maven-test", database_url=engine.url.render_as_string(hide_password=False)
        )
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield MavenApi(client, bearer(secret))
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def pipeline() -> object:
    """The raw pipeline CSV joined to the sales teams, read independently with pandas."""
    deals = pd.read_csv(MAVEN_DIR / "sales_pipeline.csv")
    teams = pd.read_csv(MAVEN_DIR / "sales_teams.csv")
    closed = deals[deals["deal_stage"].isin(["Won", "Lost"])].merge(teams, on="sales_agent", how="left")
    closed["won"] = closed["deal_stage"] == "Won"
    return closed


def _rates(rows: list[dict]) -> dict[str, tuple[float, int]]:  # type: ignore[type-arg]
    return {row["label"]: (round(row["win_rate"], 4), row["closed"]) for row in rows}


def _pandas_rates(closed: object, column: str) -> dict[str, tuple[float, int]]:
    grouped = closed.groupby(column)["won"].agg(["mean", "count"])  # type: ignore[attr-defined]
    return {str(name): (round(float(row["mean"]), 4), int(row["count"])) for name, row in grouped.iterrows()}


def test_overall_win_rate(maven: MavenApi, pipeline: object) -> None:
    (row,) = maven.get("win-rate", period="2017", by="all")["rows"]
    assert (row["won"], row["closed"]) == (4_238, 6_711)
    assert round(row["win_rate"], 4) == 0.6315
    summary = {metric["key"]: metric for metric in maven.get("summary", period="2017")["metrics"]}
    assert round(summary["win_rate"]["value"], 4) == 0.6315
    assert row["won"] == int(pipeline["won"].sum())  # type: ignore[index]


def test_win_rate_by_regional_office(maven: MavenApi, pipeline: object) -> None:
    rates = _rates(maven.get("win-rate", period="2017", by="office")["rows"])
    assert rates == {"West": (0.6394, 2_249), "East": (0.6302, 1_858), "Central": (0.6256, 2_604)}
    assert rates == _pandas_rates(pipeline, "regional_office")


def test_win_rate_by_manager(maven: MavenApi, pipeline: object) -> None:
    rates = _rates(maven.get("win-rate", period="2017", by="manager")["rows"])
    assert {name: rate for name, (rate, _) in rates.items()} == {
        "Cara Losch": 0.6443,
        "Summer Sewald": 0.6434,
        "Celia Rouche": 0.6341,
        "Dustin Brinkmann": 0.6298,
        "Melvin Marxen": 0.6220,
        "Rocco Neubert": 0.6208,
    }
    assert rates == _pandas_rates(pipeline, "manager")


def test_best_and_worst_agent(maven: MavenApi, pipeline: object) -> None:
    rates = _rates(maven.get("win-rate", period="2017", by="rep")["rows"])
    ranked = sorted(rates.items(), key=lambda item: item[1][0])
    assert ranked[-1] == ("Hayden Neloms", (0.7039, 152))
    assert ranked[0] == ("Lajuana Vencill", (0.5498, 231))
    assert rates == _pandas_rates(pipeline, "sales_agent")


def test_median_days_from_engage_to_close(maven: MavenApi, pipeline: object) -> None:
    (row,) = maven.get("cycle", period="2017", by="all")["rows"]
    assert (row["median_won_days"], row["median_lost_days"]) == (57, 14)
    days = (pd.to_datetime(pipeline["close_date"]) - pd.to_datetime(pipeline["engage_date"])).dt.days  # type: ignore[index]
    assert row["median_won_days"] == days[pipeline["won"]].median()  # type: ignore[index]
    assert row["median_lost_days"] == days[~pipeline["won"]].median()  # type: ignore[index]


def test_won_value_by_quarter_of_2017(maven: MavenApi, pipeline: object) -> None:
    trend = maven.get("trend", metric="won_amount", grain="quarter", period="2017-Q4", periods="4")
    values = {point["period"]: Decimal(point["value"]) for point in trend["points"]}
    assert values == {"2017-Q1": 1_134_672, "2017-Q2": 3_086_111, "2017-Q3": 2_982_255, "2017-Q4": 2_802_496}
    assert sum(values.values()) == 10_005_534
    won = pipeline[pipeline["won"]]  # type: ignore[index]
    by_quarter = won.groupby(pd.PeriodIndex(won["close_date"], freq="Q").astype(str))["close_value"].sum()
    assert {f"{label[:4]}-{label[4:]}": Decimal(int(value)) for label, value in by_quarter.items()} == values


def test_funnel_says_maven_has_no_stage_history(maven: MavenApi) -> None:
    funnel = maven.get("funnel", period="2017")
    assert funnel["deals_with_history"] == 0
    assert "no stage history" in funnel["note"]
