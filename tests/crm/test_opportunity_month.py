"""``opportunity_month`` and ``open_opportunity_stage``: the sums over deals the database keeps with triggers.

Every way of writing deals is checked against summing the deals one by one in Python: ORM
inserts, updates of each counted column (and of an uncounted one), deletes, a deleted owner
(ON DELETE SET NULL), bulk inserts, INSERT … SELECT, bulk updates and deletes, and (PostgreSQL)
TRUNCATE. Then the metrics that read the sums give what reading the deals gives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.crm.models import ForecastCategory, Opportunity
from bridgehead.intelligence.metrics import rollup, service
from bridgehead.intelligence.metrics.periods import Grain, parse_period
from bridgehead.intelligence.metrics.scope import MetricFilters, resolve_scope
from bridgehead.intelligence.schemas import TrendMetric
from bridgehead.intelligence.slices import Dimension
from tests.factories import make_opportunity, make_user
from tests.helpers import (
    opportunity_sums_counted,
    opportunity_sums_kept,
    owners_across_a_tree,
    team_and_outsider,
)

UTC = dt.UTC


def _assert_kept(session: Session) -> None:
    assert opportunity_sums_kept(session) == opportunity_sums_counted(session)


def test_sums_follow_inserts_updates_and_deletes(db_session: Session) -> None:
    ann, bob = make_user(db_session), make_user(db_session)
    # 23:30 on 31 January in UTC, written as 00:30 on 1 February at UTC+1: created in January.
    late_january = dt.datetime(2026, 2, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    deal = make_opportunity(
        db_session,
        owner_id=ann.id,
        created_at=late_january,
        close_date=dt.date(2026, 3, 31),
        amount=Decimal("1000.50"),
        probability=40,
        stage="Discovery",
    )
    make_opportunity(
        db_session, owner_id=ann.id, created_at=dt.datetime(2026, 1, 3, tzinfo=UTC), close_date=None
    )
    won = make_opportunity(
        db_session,
        owner_id=ann.id,
        created_at=dt.datetime(2026, 1, 9, tzinfo=UTC),
        close_date=dt.date(2026, 3, 2),
        is_closed=True,
        is_won=True,
        stage="Closed Won",
    )
    unowned = make_opportunity(db_session, owner_id=None, amount=None, probability=None)
    months, stages = opportunity_sums_kept(db_session)
    assert months[(ann.id, dt.date(2026, 1, 1))] == (3, 100_050 + 1_000_000 + 1_000_000, 0, 0, 0)
    assert months[(ann.id, dt.date(2026, 3, 1))] == (0, 0, 1, 100_050, 100_050 * 40)
    assert stages[(ann.id, "Discovery")] == (1, 40, 1)
    assert (ann.id, "Closed Won") not in stages
    _assert_kept(db_session)

    # Each counted column on its own, then several at once.
    for change in (
        {"owner_id": bob.id},
        {"stage": "Proposal"},
        {"amount": Decimal("2500")},
        {"probability": 75},
        {"close_date": dt.date(2026, 4, 1)},
        {"close_date": None},
        {"created_at": dt.datetime(2025, 12, 31, 23, 59, tzinfo=UTC)},
        {"is_closed": True, "is_won": False, "stage": "Closed Lost", "close_date": dt.date(2026, 4, 2)},
        {"is_closed": False, "stage": "Negotiation", "owner_id": None},
    ):
        for name, value in change.items():
            setattr(deal, name, value)
        db_session.flush()
        _assert_kept(db_session)
    won.is_won, won.is_closed, won.stage = False, False, "Negotiation"  # reopened
    unowned.owner_id = ann.id
    db_session.flush()
    _assert_kept(db_session)

    # An update of nothing counted changes no sum.
    kept = opportunity_sums_kept(db_session)
    db_session.execute(update(Opportunity).where(Opportunity.owner_id == ann.id).values(name="Renamed"))
    assert opportunity_sums_kept(db_session) == kept

    db_session.delete(won)
    db_session.flush()
    _assert_kept(db_session)
    # A deleted owner's deals lose their owner (ON DELETE SET NULL) and move to "no owner".
    db_session.execute(delete(User).where(User.id == ann.id))
    db_session.expire_all()
    _assert_kept(db_session)
    assert not any(owner == ann.id for owner, _month in opportunity_sums_kept(db_session)[0])


def test_sums_follow_bulk_statements(db_session: Session) -> None:
    ann, bob = make_user(db_session), make_user(db_session)
    start = dt.datetime(2025, 11, 1, tzinfo=UTC)
    rows = [
        {
            "external_id": f"BULK-{index}",
            "name": f"Bulk {index}",
            "amount": None if index % 7 == 0 else Decimal(index * 10),
            "probability": None if index % 5 == 0 else index % 100,
            "stage": ("Discovery", "Proposal", "Closed Won")[index % 3],
            "is_closed": index % 3 == 2,
            "is_won": index % 3 == 2,
            "close_date": None if index % 11 == 0 else dt.date(2026, 1, 1) + dt.timedelta(days=index % 200),
            "created_at": start + dt.timedelta(hours=7 * index),
            "owner_id": (ann.id, bob.id, None)[index % 4 % 3],
            "forecast_category": ForecastCategory.PIPELINE,
            "custom_fields": {},
        }
        for index in range(600)
    ]
    db_session.execute(insert(Opportunity), rows)
    _assert_kept(db_session)
    # INSERT … SELECT: one statement writing many rows (a statement-level trigger on PostgreSQL).
    copied = [
        "name",
        "amount",
        "probability",
        "stage",
        "is_closed",
        "is_won",
        "close_date",
        "created_at",
        "owner_id",
        "forecast_category",
        "custom_fields",
    ]
    db_session.execute(
        insert(Opportunity).from_select(
            copied,
            select(*[Opportunity.__table__.c[name] for name in copied]).where(Opportunity.owner_id == ann.id),
        )
    )
    _assert_kept(db_session)
    db_session.execute(
        update(Opportunity)
        .where(Opportunity.owner_id == bob.id)
        .values(owner_id=ann.id, stage="Negotiation", amount=Opportunity.amount + 1)
    )
    _assert_kept(db_session)
    db_session.execute(
        update(Opportunity)
        .where(Opportunity.stage == "Discovery")
        .values(is_closed=True, stage="Closed Lost")
    )
    _assert_kept(db_session)
    db_session.execute(delete(Opportunity).where(Opportunity.owner_id.is_(None)))
    _assert_kept(db_session)


@pytest.mark.postgres
def test_truncate_empties_the_sums(db_session: Session) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite has no such statement")
    make_opportunity(db_session, owner_id=make_user(db_session).id)
    assert opportunity_sums_kept(db_session) != ({}, {})
    db_session.execute(text("TRUNCATE opportunity CASCADE"))
    assert opportunity_sums_kept(db_session) == ({}, {})


def test_metrics_read_the_same_deal_figures_as_reading_the_deals(db_session: Session) -> None:
    people = team_and_outsider(db_session)
    manager, rep, outsider = people.manager, people.rep, people.outsider
    for created, close, owner, stage, closed in [
        (dt.datetime(2026, 4, 2, 9, tzinfo=UTC), dt.date(2026, 6, 30), rep, "Qualification", False),
        (dt.datetime(2026, 5, 30, 23, tzinfo=UTC), dt.date(2026, 7, 1), rep, "Proposal", False),
        (dt.datetime(2026, 6, 30, 23, 59, tzinfo=UTC), dt.date(2026, 5, 1), manager, "Proposal", False),
        (dt.datetime(2026, 7, 1, 0, 0, tzinfo=UTC), dt.date(2026, 5, 15), rep, "Closed Won", True),
        (dt.datetime(2026, 5, 3, tzinfo=UTC), dt.date(2026, 6, 1), outsider, "Negotiation", False),
        (dt.datetime(2026, 4, 20, tzinfo=UTC), None, None, "Proposal", False),
    ]:
        make_opportunity(
            db_session,
            owner_id=owner.id if owner is not None else None,
            created_at=created,
            close_date=close,
            stage=stage,
            is_closed=closed,
            is_won=closed,
        )
    db_session.flush()
    unqualified = ["Qualification"]
    cases = people.owner_only_scopes()
    for viewer, filters in cases:
        scope = resolve_scope(db_session, viewer=viewer, filters=filters)
        assert scope.owner_only is not None
        assert rollup.whole_months(filters.period)
        kept = rollup.owner_deal_totals(db_session, scope, filters.period, unqualified)
        read = rollup._read_deal_totals(db_session, scope, filters.period, unqualified)
        assert kept == read, (viewer, filters)
    quarter = rollup.owner_deal_totals(
        db_session,
        resolve_scope(db_session, viewer=manager, filters=MetricFilters(period=parse_period("2026-Q2"))),
        parse_period("2026-Q2"),
        unqualified,
    )
    assert {owner: (t.created, t.open_any, t.open_closing, t.qualified) for owner, t in quarter.items()} == {
        rep.id: (2, 2, 1, 1),
        manager.id: (1, 1, 1, 1),
    }


@pytest.mark.parametrize(
    "by", [Dimension.ALL, Dimension.REP, Dimension.MANAGER, Dimension.TEAM, Dimension.OFFICE]
)
def test_sliced_metrics_from_the_sums_equal_reading_the_deals(
    db_session: Session, monkeypatch: pytest.MonkeyPatch, by: Dimension
) -> None:
    owners = owners_across_a_tree(db_session)
    for index in range(60):
        owner = owners[index % len(owners)]
        make_opportunity(
            db_session,
            owner_id=owner.id if owner is not None else None,
            created_at=dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(days=6 * index, hours=23),
            close_date=dt.date(2025, 2, 1) + dt.timedelta(days=5 * index),
            amount=Decimal(1000 + index),
            probability=index % 100,
            stage=("Qualification", "Proposal", "Negotiation")[index % 3],
        )
    db_session.flush()
    filters = MetricFilters(period=parse_period("2025-Q3"))

    def figures() -> list[tuple[str | None, object]]:
        sliced = service.sliced_metrics(db_session, viewer=None, filters=filters, by=by)
        return [(row.key, row.model_dump()) for row in sliced.rows]

    kept = figures()
    monkeypatch.setattr(rollup, "whole_months", lambda period: False)
    assert figures() == kept
    assert kept


@pytest.mark.parametrize(
    "by", [Dimension.ALL, Dimension.REP, Dimension.MANAGER, Dimension.TEAM, Dimension.OFFICE]
)
def test_the_pipeline_created_trend_from_the_month_sums_equals_reading_the_deals(
    db_session: Session, monkeypatch: pytest.MonkeyPatch, by: Dimension
) -> None:
    owners = owners_across_a_tree(db_session)
    for index in range(40):
        owner = owners[index % len(owners)]
        make_opportunity(
            db_session,
            owner_id=owner.id if owner is not None else None,
            created_at=dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(days=11 * index, hours=23),
            amount=None if index % 9 == 0 else Decimal(100 * index) + Decimal("0.25"),
            is_closed=index % 4 == 0,
            is_won=index % 8 == 0,
        )
    db_session.flush()
    filters = MetricFilters(period=parse_period("2025-Q4"))

    def created_trend() -> list[tuple[str, str, object]]:
        result = service.trend(
            db_session,
            viewer=None,
            filters=filters,
            metric=TrendMetric.PIPELINE_CREATED,
            grain=Grain.QUARTER,
            count=4,
            by=by,
        )
        return [(point.period, point.label, point.value) for point in result.points]

    kept = created_trend()
    monkeypatch.setattr(rollup, "whole_months", lambda period: False)
    assert created_trend() == kept
    # Deal i is created 11 i days and 23 hours after 1 January 2025: i = 0..33 in 2025.
    expected = sum(Decimal(100 * i) + Decimal("0.25") for i in range(34) if i % 9)
    assert sum(value for _period, _label, value in kept if isinstance(value, Decimal)) == expected
