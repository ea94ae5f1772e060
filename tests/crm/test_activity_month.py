"""``activity_month``: the per-owner, per-month activity counts the database keeps with triggers.

Every way of writing activities is checked against counting the activities themselves: ORM
inserts, bulk inserts, INSERT … SELECT, updates of each counted column and of others, deletes,
the cascade from a deleted account, and (PostgreSQL) TRUNCATE. Then the metrics that read it give
what counting gives.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from bridgehead.crm.models import Account, Activity, ActivityDirection, ActivityKind
from bridgehead.intelligence.metrics import rollup, service
from bridgehead.intelligence.metrics.periods import Grain, parse_period
from bridgehead.intelligence.metrics.scope import MetricFilters, resolve_scope
from bridgehead.intelligence.schemas import TrendMetric
from bridgehead.intelligence.slices import Dimension
from tests.factories import make_account, make_activity, make_user
from tests.helpers import activities_counted, activity_month_kept, owners_across_a_tree, team_and_outsider

UTC = dt.UTC


def _assert_kept(session: Session) -> None:
    assert activity_month_kept(session) == activities_counted(session)


def test_counts_follow_inserts_updates_and_deletes(db_session: Session) -> None:
    ann, bob = make_user(db_session), make_user(db_session)
    account = make_account(db_session)
    before = activity_month_kept(db_session)
    # 23:30 on 31 January in UTC, written as 00:30 on 1 February at UTC+1: January's.
    late_january = dt.datetime(2026, 2, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    first = make_activity(db_session, owner_id=ann.id, occurred_at=late_january, account_id=account.id)
    make_activity(db_session, owner_id=ann.id, occurred_at=dt.datetime(2026, 1, 5, tzinfo=UTC))
    make_activity(db_session, owner_id=ann.id, occurred_at=dt.datetime(2026, 2, 1, tzinfo=UTC))
    unowned = make_activity(db_session, owner_id=None, occurred_at=dt.datetime(2026, 3, 9, tzinfo=UTC))
    kept = activity_month_kept(db_session)
    assert kept[(ann.id, dt.date(2026, 1, 1), "call")] == 2
    assert kept[(ann.id, dt.date(2026, 2, 1), "call")] == 1
    assert kept[(0, dt.date(2026, 3, 1), "call")] == before.get((0, dt.date(2026, 3, 1), "call"), 0) + 1
    _assert_kept(db_session)

    first.owner_id = bob.id
    db_session.flush()
    assert activity_month_kept(db_session)[(ann.id, dt.date(2026, 1, 1), "call")] == 1
    assert activity_month_kept(db_session)[(bob.id, dt.date(2026, 1, 1), "call")] == 1
    first.kind = ActivityKind.MEETING
    first.occurred_at = dt.datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    unowned.owner_id = ann.id
    db_session.flush()
    _assert_kept(db_session)
    assert activity_month_kept(db_session)[(bob.id, dt.date(2025, 12, 1), "meeting")] == 1

    # An update of nothing counted changes no count.
    kept = activity_month_kept(db_session)
    db_session.execute(update(Activity).where(Activity.owner_id == ann.id).values(subject="Renamed"))
    assert activity_month_kept(db_session) == kept

    db_session.delete(unowned)
    db_session.flush()
    _assert_kept(db_session)
    # The account's activities go with it (ON DELETE CASCADE), and out of the counts.
    db_session.execute(delete(Account).where(Account.id == account.id))
    _assert_kept(db_session)
    assert (bob.id, dt.date(2025, 12, 1), "meeting") not in activity_month_kept(db_session)


def test_counts_follow_bulk_statements(db_session: Session) -> None:
    ann, bob = make_user(db_session), make_user(db_session)
    start = dt.datetime(2025, 11, 1, tzinfo=UTC)
    kinds = list(ActivityKind)
    rows = [
        {
            "kind": kinds[index % len(kinds)],
            "direction": ActivityDirection.INBOUND,
            "occurred_at": start + dt.timedelta(hours=7 * index),
            "owner_id": (ann.id, bob.id, None)[index % 3],
            "custom_fields": {},
        }
        for index in range(600)
    ]
    db_session.execute(insert(Activity), rows)
    _assert_kept(db_session)
    # INSERT … SELECT: one statement writing many rows (a statement-level trigger on PostgreSQL).
    db_session.execute(
        insert(Activity).from_select(
            ["kind", "direction", "occurred_at", "owner_id", "custom_fields"],
            select(
                Activity.kind,
                Activity.direction,
                Activity.occurred_at,
                Activity.owner_id,
                Activity.custom_fields,
            ).where(Activity.owner_id == ann.id),
        )
    )
    _assert_kept(db_session)
    db_session.execute(
        update(Activity).where(Activity.owner_id == bob.id).values(owner_id=ann.id, kind=ActivityKind.EMAIL)
    )
    _assert_kept(db_session)
    db_session.execute(delete(Activity).where(Activity.owner_id.is_(None)))
    _assert_kept(db_session)


@pytest.mark.postgres
def test_truncate_empties_the_counts(db_session: Session) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite has no such statement")
    make_activity(db_session, owner_id=make_user(db_session).id)
    assert activity_month_kept(db_session)
    db_session.execute(text("TRUNCATE activity"))
    assert activity_month_kept(db_session) == {}


def test_metrics_read_the_same_activity_counts_as_counting(db_session: Session) -> None:
    people = team_and_outsider(db_session)
    manager, rep = people.manager, people.rep
    for day, owner, kind in [
        (dt.datetime(2026, 4, 2, 9, tzinfo=UTC), rep, ActivityKind.CALL),
        (dt.datetime(2026, 5, 30, 23, tzinfo=UTC), rep, ActivityKind.EMAIL),
        (dt.datetime(2026, 6, 30, 23, 59, tzinfo=UTC), manager, ActivityKind.MEETING),
        (dt.datetime(2026, 7, 1, 0, 0, tzinfo=UTC), rep, ActivityKind.CALL),  # next quarter
        (dt.datetime(2026, 5, 3, tzinfo=UTC), people.outsider, ActivityKind.TASK),
    ]:
        make_activity(db_session, owner_id=owner.id, occurred_at=day, kind=kind)
    make_activity(db_session, owner_id=None, occurred_at=dt.datetime(2026, 4, 20, tzinfo=UTC))
    db_session.flush()
    cases = people.owner_only_scopes()
    for viewer, filters in cases:
        scope = resolve_scope(db_session, viewer=viewer, filters=filters)
        assert scope.owner_only is not None
        assert rollup.whole_months(filters.period)
        kept = rollup.owner_activity_counts(db_session, scope, filters.period)
        counted = rollup._counted_activities(db_session, scope, filters.period)
        assert kept == counted, (viewer, filters)
    quarter = rollup.owner_activity_counts(
        db_session,
        resolve_scope(db_session, viewer=manager, filters=MetricFilters(period=parse_period("2026-Q2"))),
        parse_period("2026-Q2"),
    )
    assert quarter == {rep.id: {"call": 1, "email": 1}, manager.id: {"meeting": 1}}


@pytest.mark.parametrize(
    "by", [Dimension.ALL, Dimension.REP, Dimension.MANAGER, Dimension.TEAM, Dimension.OFFICE]
)
def test_the_activity_trend_from_the_month_counts_equals_counting(
    db_session: Session, monkeypatch: pytest.MonkeyPatch, by: Dimension
) -> None:
    owners = owners_across_a_tree(db_session)
    for index in range(40):
        owner = owners[index % len(owners)]
        make_activity(
            db_session,
            owner_id=owner.id if owner is not None else None,
            occurred_at=dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(days=11 * index, hours=23),
            kind=list(ActivityKind)[index % 4],
        )
    db_session.flush()
    filters = MetricFilters(period=parse_period("2025-Q4"))

    def activity_trend() -> list[tuple[str, str, object]]:
        result = service.trend(
            db_session,
            viewer=None,
            filters=filters,
            metric=TrendMetric.ACTIVITIES,
            grain=Grain.QUARTER,
            count=4,
            by=by,
        )
        return [(point.period, point.label, point.value) for point in result.points]

    kept = activity_trend()
    monkeypatch.setattr(rollup, "whole_months", lambda period: False)
    counted = activity_trend()
    assert kept == counted
    # Activity i falls 11 i days and 23 hours after 1 January 2025: i = 0..33 fall in 2025.
    assert sum(value for _period, _label, value in kept if isinstance(value, int)) == 34
