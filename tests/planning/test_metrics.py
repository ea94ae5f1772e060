"""Quota attainment and pipeline coverage in the metrics engine, once quotas exist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bridgehead.common.periods import parse_period
from bridgehead.intelligence.metrics import service as metrics
from bridgehead.intelligence.metrics.periods import Grain
from bridgehead.intelligence.metrics.scope import MetricFilters
from bridgehead.intelligence.schemas import Dimension, MetricValue, TrendMetric
from bridgehead.planning import service
from tests.factories import make_opportunity
from tests.planning.support import Org, make_org, quota, won

Q1 = parse_period("2026-Q1")


@pytest.fixture
def org(db_session: Session) -> Org:
    """Rita won $100,000 of a $200,000 quota; Olga, without a quota, won $50,000; $300,000 is open."""
    made = make_org(db_session)
    won(db_session, made.rep, "100000", dt.date(2026, 2, 1))
    won(db_session, made.other_rep, "50000", dt.date(2026, 2, 1))
    make_opportunity(
        db_session,
        owner_id=made.rep.id,
        amount=Decimal("300000"),
        close_date=dt.date(2026, 3, 1),
        created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    return made


def _headline(session: Session, viewer: object, **filters: object) -> dict[str, MetricValue]:
    values = metrics.headline(session, viewer=viewer, filters=MetricFilters(period=Q1, **filters))  # type: ignore[arg-type]
    return {metric.key: metric for metric in values.metrics}


def test_without_quotas_attainment_says_where_to_set_them(db_session: Session, org: Org) -> None:
    headline = _headline(db_session, None)
    assert headline["quota_attainment"].available is False
    assert "Plan → Quotas" in headline["quota_attainment"].note
    assert headline["coverage"].value is None


def test_attainment_and_coverage_read_the_quotas_in_scope(db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "200000"))
    headline = _headline(db_session, None)
    assert headline["quota_attainment"].value == pytest.approx(0.5)
    assert "1 person" in headline["quota_attainment"].note
    # $300,000 open against the $100,000 still to win.
    assert headline["coverage"].value == pytest.approx(3.0)
    assert "quota still to win" in headline["coverage"].note
    # A target given wins over the quota.
    targeted = _headline(db_session, None, target_amount=Decimal(600000))
    assert targeted["coverage"].value == pytest.approx(0.5)


def test_scope_filters_reach_the_quotas(db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "200000"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.other_rep, "25000"))
    everyone = _headline(db_session, None)["quota_attainment"]
    assert everyone.value == pytest.approx(150000 / 225000)
    other_team = _headline(db_session, None, org_unit_id=org.other_team.id)["quota_attainment"]
    assert other_team.value == pytest.approx(2.0)
    assert _headline(db_session, org.rep)["quota_attainment"].value == pytest.approx(0.5)
    by_product = _headline(db_session, None, product="Platform")["quota_attainment"]
    assert (by_product.available, by_product.note) == (False, "quotas are set per person, not per product")
    next_quarter = metrics.headline(
        db_session, viewer=None, filters=MetricFilters(period=parse_period("2026-Q2"))
    )
    unavailable = {metric.key: metric for metric in next_quarter.metrics}["quota_attainment"]
    assert unavailable.available is False
    assert "inside 2026-Q2" in unavailable.note


def test_a_met_quota_leaves_nothing_to_cover(db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "80000"))
    headline = _headline(db_session, org.rep)
    assert headline["quota_attainment"].value == pytest.approx(1.25)
    assert (headline["coverage"].value, headline["coverage"].note) == (
        None,
        "the bookings quota is met: nothing left to cover",
    )


def test_owner_slices_carry_their_peoples_quotas(db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "200000"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.teammate, "50000"))
    by_rep = metrics.sliced_metrics(
        db_session, viewer=None, filters=MetricFilters(period=Q1), by=Dimension.REP
    )
    rows = {row.label: row for row in by_rep.rows}
    assert (rows["Rita Rep"].quota_amount, rows["Rita Rep"].quota_attainment) == (Decimal("200000.00"), 0.5)
    assert rows["Olga Other"].quota_amount is None, "no quota, no attainment"
    by_team = metrics.sliced_metrics(
        db_session, viewer=None, filters=MetricFilters(period=Q1), by=Dimension.TEAM
    )
    team = {row.label: row for row in by_team.rows}["NA Enterprise"]
    assert team.quota_amount == Decimal("250000.00")
    assert team.quota_attainment == pytest.approx(100000 / 250000)
    by_product = metrics.sliced_metrics(
        db_session, viewer=None, filters=MetricFilters(period=Q1, product="x"), by=Dimension.REP
    )
    assert all(row.quota_amount is None for row in by_product.rows)


def test_quota_attainment_follows_the_periods(db_session: Session, org: Org) -> None:
    won(db_session, org.rep, "60000", dt.date(2026, 5, 1))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "200000", "2026-Q1"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "120000", "2026-Q2"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.other_rep, "100000", "2026-Q2"))
    filters = MetricFilters(period=parse_period("2026-Q3"))
    overall = metrics.trend(
        db_session,
        viewer=None,
        filters=filters,
        metric=TrendMetric.QUOTA_ATTAINMENT,
        grain=Grain.QUARTER,
        count=3,
    )
    assert overall.unit == "ratio"
    assert [(point.period, point.value) for point in overall.points] == [
        ("2026-Q1", pytest.approx(0.5)),
        ("2026-Q2", pytest.approx(60000 / 220000)),
    ], "2026-Q3 has no quota, so no point"
    by_rep = metrics.trend(
        db_session,
        viewer=None,
        filters=filters,
        metric=TrendMetric.QUOTA_ATTAINMENT,
        grain=Grain.QUARTER,
        count=3,
        by=Dimension.REP,
    )
    assert {(point.period, point.label, round(float(point.value or 0), 6)) for point in by_rep.points} == {
        ("2026-Q1", "Rita Rep", 0.5),
        ("2026-Q2", "Rita Rep", 0.5),
        ("2026-Q2", "Olga Other", 0.0),
    }
    by_segment = metrics.trend(
        db_session,
        viewer=None,
        filters=filters,
        metric=TrendMetric.QUOTA_ATTAINMENT,
        grain=Grain.QUARTER,
        count=3,
        by=Dimension.SEGMENT,
    )
    assert by_segment.points == []
