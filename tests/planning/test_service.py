"""The quota sheet's rules on both databases: set, update, overlap, visibility, attainment, audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.common.pagination import PageRequest
from bridgehead.common.periods import parse_period
from bridgehead.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from bridgehead.planning import service
from bridgehead.planning.models import Quota, QuotaBasis
from bridgehead.planning.schemas import QuotaUpdate
from bridgehead.planning.service import QuotaFilters
from tests.factories import make_opportunity
from tests.planning.support import Q1, Org, lost, make_org, quota, won

EVERYTHING = PageRequest(page=1, page_size=500)


@pytest.fixture
def org(db_session: Session) -> Org:
    """Two teams, their people and a segment."""
    return make_org(db_session)


def _rows(session: Session, viewer: object, **filters: object) -> dict[int, object]:
    page = service.list_quotas(session, viewer=viewer, filters=QuotaFilters(**filters), page=EVERYTHING)  # type: ignore[arg-type]
    return {row.owner_id: row for row in page.items}


def test_set_creates_then_updates_then_leaves_unchanged(db_session: Session, org: Org) -> None:
    created, outcome = service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "300000"))
    assert outcome == "created"
    assert (created.period, created.period_start_date, created.period_end_date) == (
        Q1,
        dt.date(2026, 1, 1),
        dt.date(2026, 4, 1),
    )
    again, outcome = service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "350000", ramp=50))
    assert (again.id, outcome) == (created.id, "updated")
    assert (again.quota_amount, again.ramp_percent) == (Decimal("350000.00"), 50)
    _same, outcome = service.set_quota(
        db_session, actor=org.planner, data=quota(org.rep, "350000.00", ramp=50)
    )
    assert outcome == "unchanged"
    assert db_session.scalar(select(func.count()).select_from(Quota)) == 1
    entries = db_session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "quota").order_by(AuditEntry.id)
    ).all()
    assert [entry.action for entry in entries] == ["create", "update"], "an unchanged set writes no entry"
    assert entries[1].before == {"quota_amount": "300000.00", "ramp_percent": 100}
    assert entries[1].after == {"quota_amount": "350000.00", "ramp_percent": 50}
    assert entries[1].actor_id == org.planner.id


def test_overlapping_periods_on_one_basis_are_refused(db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "300000", "2026-Q1"))
    for overlapping in ("2026", "2026-02"):
        with pytest.raises(Conflict) as refused:
            service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "1", overlapping))
        assert refused.value.context["field"] == "period"
        assert "2026-Q1" in refused.value.message
    # Another basis, another person or the next quarter are no overlap.
    service.set_quota(
        db_session,
        actor=org.planner,
        data=quota(org.rep, "900000", "2026", basis=QuotaBasis.PIPELINE_CREATED),
    )
    service.set_quota(db_session, actor=org.planner, data=quota(org.teammate, "1", "2026"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "1", "2026-04"))
    assert db_session.scalar(select(func.count()).select_from(Quota)) == 4


def test_bad_owner_segment_and_period_name_the_field(db_session: Session, org: Org) -> None:
    bad = quota(org.rep, "1").model_copy(update={"owner_id": 10**9})
    with pytest.raises(ValidationFailed) as refused:
        service.set_quota(db_session, actor=org.planner, data=bad)
    assert refused.value.context["field"] == "owner_id"
    bad = quota(org.rep, "1").model_copy(update={"segment_id": 10**9})
    with pytest.raises(ValidationFailed) as refused:
        service.set_quota(db_session, actor=org.planner, data=bad)
    assert refused.value.context["field"] == "segment_id"
    for written in ("2026-Q5", "2026-13", "26-Q1", "1899"):
        with pytest.raises(ValidationFailed) as refused:
            service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "1", written))
        assert refused.value.context == {"field": "period", "value": written}
    assert db_session.scalar(select(func.count()).select_from(Quota)) == 0


def test_only_planners_admins_and_executives_set_quotas(db_session: Session, org: Org) -> None:
    for person in (org.rep, org.manager):
        with pytest.raises(PermissionDenied):
            service.set_quota(db_session, actor=person, data=quota(org.rep, "1"))
    made, _ = service.set_quota(db_session, actor=org.executive, data=quota(org.rep, "1"))
    with pytest.raises(PermissionDenied):
        service.update_quota(
            db_session, actor=org.manager, quota_id=made.id, changes=QuotaUpdate(ramp_percent=1)
        )
    with pytest.raises(PermissionDenied):
        service.delete_quota(db_session, actor=org.rep, quota_id=made.id)


def test_bookings_attainment_counts_the_owners_won_deals_in_the_period(db_session: Session, org: Org) -> None:
    won(db_session, org.rep, "100000", dt.date(2026, 1, 1))
    won(db_session, org.rep, "50000", dt.date(2026, 3, 31))
    won(db_session, org.rep, "70000", dt.date(2026, 4, 1))  # next quarter
    won(db_session, org.rep, "80000", dt.date(2025, 12, 31))  # last quarter
    lost(db_session, org.rep, "90000", dt.date(2026, 2, 1))
    won(db_session, org.teammate, "60000", dt.date(2026, 2, 1))
    make_opportunity(db_session, owner_id=org.rep.id, amount=Decimal("40000"), close_date=dt.date(2026, 2, 1))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "300000", ramp=50))
    rows = _rows(db_session, org.planner)
    row = rows[org.rep.id]
    assert row.effective_amount == Decimal("150000.00")
    assert row.attained_amount == Decimal("150000.00")
    assert row.attainment == pytest.approx(1.0)


def test_pipeline_quota_counts_deals_created_in_the_period(db_session: Session, org: Org) -> None:
    for created, amount in (
        (dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC), "10000"),
        (dt.datetime(2026, 3, 31, 23, 59, tzinfo=dt.UTC), "20000"),
        (dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC), "40000"),
        (dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC), "80000"),
    ):
        make_opportunity(db_session, owner_id=org.rep.id, amount=Decimal(amount), created_at=created)
    service.set_quota(
        db_session, actor=org.planner, data=quota(org.rep, "60000", basis=QuotaBasis.PIPELINE_CREATED)
    )
    row = _rows(db_session, org.planner)[org.rep.id]
    assert row.attained_amount == Decimal("30000.00")
    assert row.attainment == pytest.approx(0.5)


def test_segment_quota_counts_only_the_segments_accounts(db_session: Session, org: Org) -> None:
    won(db_session, org.rep, "100000", dt.date(2026, 2, 1), org.segment_account)
    won(db_session, org.rep, "30000", dt.date(2026, 2, 1), org.other_account)
    won(db_session, org.rep, "20000", dt.date(2026, 2, 1))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "200000", segment=org.segment))
    row = _rows(db_session, org.planner)[org.rep.id]
    assert (row.segment_name, row.attained_amount) == ("Enterprise FS", Decimal("100000.00"))
    by_segment = _rows(db_session, org.planner, segment_id=org.segment.id)
    assert set(by_segment) == {org.rep.id}


def test_a_zero_quota_has_no_attainment_ratio(db_session: Session, org: Org) -> None:
    won(db_session, org.rep, "100", dt.date(2026, 2, 1))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "0"))
    row = _rows(db_session, org.planner)[org.rep.id]
    assert (row.attained_amount, row.attainment) == (Decimal("100.00"), None)


def test_visibility_rep_sees_own_manager_sees_line(db_session: Session, org: Org) -> None:
    ids = {}
    for person in (org.rep, org.teammate, org.other_rep):
        ids[person.id] = service.set_quota(db_session, actor=org.planner, data=quota(person, "1000"))[0].id
    assert set(_rows(db_session, org.rep)) == {org.rep.id}
    assert set(_rows(db_session, org.manager)) == {org.rep.id, org.teammate.id}
    assert set(_rows(db_session, org.executive)) == {org.rep.id, org.teammate.id, org.other_rep.id}
    with pytest.raises(NotFound):
        service.get_quota(db_session, viewer=org.rep, quota_id=ids[org.other_rep.id])
    assert (
        service.get_quota(db_session, viewer=org.manager, quota_id=ids[org.teammate.id]).owner_id
        == org.teammate.id
    )


def test_filters_period_inside_and_org_unit_subtree(db_session: Session, org: Org) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "1", "2026-Q1"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.teammate, "1", "2026"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.other_rep, "1", "2026-02"))
    assert set(_rows(db_session, org.planner, period=parse_period("2026-Q1"))) == {
        org.rep.id,
        org.other_rep.id,
    }
    assert set(_rows(db_session, org.planner, period=parse_period("2026"))) == {
        org.rep.id,
        org.teammate.id,
        org.other_rep.id,
    }
    assert set(_rows(db_session, org.planner, org_unit_id=org.region.id)) == {org.rep.id, org.teammate.id}
    with pytest.raises(ValidationFailed):
        _rows(db_session, org.planner, org_unit_id=10**9)


def test_summary_adds_up_the_list(db_session: Session, org: Org) -> None:
    won(db_session, org.rep, "90000", dt.date(2026, 2, 1))
    won(db_session, org.teammate, "30000", dt.date(2026, 2, 1))
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "100000"))
    service.set_quota(db_session, actor=org.planner, data=quota(org.teammate, "100000", ramp=50))
    summary = service.summarise(db_session, viewer=org.manager, filters=QuotaFilters())
    assert (summary.quotas, summary.people) == (2, 2)
    assert (summary.effective_amount, summary.attained_amount) == (Decimal("150000.00"), Decimal("120000.00"))
    assert summary.attainment == pytest.approx(0.8)
    assert service.summarise(db_session, viewer=org.other_rep, filters=QuotaFilters()).quotas == 0


def test_update_and_delete_are_audited(db_session: Session, org: Org) -> None:
    made, _ = service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "1000"))
    service.update_quota(
        db_session,
        actor=org.planner,
        quota_id=made.id,
        changes=QuotaUpdate(quota_amount=Decimal("2000"), segment_id=org.segment.id),
    )
    assert (made.quota_amount, made.segment_id, made.ramp_percent) == (
        Decimal("2000.00"),
        org.segment.id,
        100,
    )
    service.update_quota(
        db_session, actor=org.planner, quota_id=made.id, changes=QuotaUpdate(segment_id=None)
    )
    assert made.segment_id is None
    with pytest.raises(ValidationFailed):
        service.update_quota(
            db_session, actor=org.planner, quota_id=made.id, changes=QuotaUpdate(quota_amount=None)
        )
    service.delete_quota(db_session, actor=org.planner, quota_id=made.id)
    assert db_session.get(Quota, made.id) is None
    actions = db_session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "quota").order_by(AuditEntry.id)
    ).all()
    assert actions == ["create", "update", "update", "delete"]
    with pytest.raises(NotFound):
        service.delete_quota(db_session, actor=org.planner, quota_id=made.id)


def test_pipeline_attainment_counts_utc_days_whatever_the_sessions_time_zone(
    db_session: Session, org: Org
) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("only PostgreSQL compares timestamps in a session time zone")
    db_session.execute(text("SET LOCAL TIME ZONE 'America/Los_Angeles'"))
    # 2026-04-01 02:00 UTC is still March 31 in Los Angeles: it belongs to Q2 all the same.
    make_opportunity(
        db_session,
        owner_id=org.rep.id,
        amount=Decimal("7000"),
        created_at=dt.datetime(2026, 4, 1, 2, tzinfo=dt.UTC),
    )
    make_opportunity(
        db_session,
        owner_id=org.rep.id,
        amount=Decimal("5000"),
        created_at=dt.datetime(2026, 3, 31, 23, tzinfo=dt.UTC),
    )
    service.set_quota(
        db_session, actor=org.planner, data=quota(org.rep, "10000", basis=QuotaBasis.PIPELINE_CREATED)
    )
    assert _rows(db_session, org.planner)[org.rep.id].attained_amount == Decimal("5000.00")
