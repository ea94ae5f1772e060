"""Priorities: stating, restating, changing, rights, validation, cycles and the version history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.errors import PermissionDenied, ValidationFailed
from bridgehead.strategy import service
from bridgehead.strategy.models import Priority, PriorityStatus, PriorityVersion, TargetMetric
from bridgehead.strategy.schemas import PriorityCreate, PriorityUpdate
from tests.strategy.priority_support import Org, company_priority, make_org, restatement, statement


@pytest.fixture
def org(db_session: Session) -> Org:
    return make_org(db_session)


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_executive_states_a_company_priority_with_version_one_and_audit(
    db_session: Session, org: Org
) -> None:
    priority = company_priority(db_session, org)
    assert priority.org_unit_id == org.company.id
    assert priority.owner_id == org.executive.id
    assert priority.version == 1
    assert priority.target_metric == TargetMetric.BOOKINGS_AMOUNT
    assert priority.effective_from == dt.date.today()
    versions = service.list_versions(db_session, priority_id=priority.id)
    assert [version.version for version in versions] == [1]
    assert versions[0].statement["title"] == "Move upmarket"
    assert versions[0].changed_by is not None
    assert versions[0].changed_by.id == org.executive.id
    entries = history_of(db_session, object_type="priority", object_id=priority.id)
    assert [entry.action for entry in entries] == ["create"]


@pytest.mark.parametrize("role_user", ["vp_a", "manager_a1", "rep_a1", "planner"])
def test_only_executives_and_admins_state_company_priorities(
    db_session: Session, org: Org, role_user: str
) -> None:
    with pytest.raises(PermissionDenied):
        service.create_priority(db_session, actor=getattr(org, role_user), data=PriorityCreate(**statement()))
    assert _count(db_session, Priority) == 0
    company_priority(db_session, org)
    admin_made = service.create_priority(
        db_session, actor=org.admin, data=PriorityCreate(**statement(title="Other"))
    )
    assert admin_made.owner_id == org.admin.id


def test_manager_restates_for_own_line_only(db_session: Session, org: Org) -> None:
    parent = company_priority(db_session, org)
    region = restatement(db_session, org, parent, org.region_a, actor=org.vp_a)
    assert region.parent_id == parent.id
    assert region.owner_id == org.vp_a.id
    team = restatement(db_session, org, region, org.team_a1, actor=org.manager_a1)
    assert team.parent_id == region.id
    # A VP of another region, and a team manager for their region, are outside their line.
    with pytest.raises(PermissionDenied):
        restatement(db_session, org, parent, org.region_a, actor=org.vp_b)
    with pytest.raises(PermissionDenied):
        restatement(db_session, org, parent, org.region_a, actor=org.manager_a1)
    with pytest.raises(PermissionDenied):
        restatement(db_session, org, parent, org.team_a1, actor=org.rep_a1)
    assert _count(db_session, Priority) == 3


def test_restatement_must_be_strictly_below_the_parent_unit(db_session: Session, org: Org) -> None:
    parent = company_priority(db_session, org)
    region = restatement(db_session, org, parent, org.region_a)
    with pytest.raises(ValidationFailed) as same_unit:
        restatement(db_session, org, region, org.region_a)
    assert same_unit.value.context["field"] == "org_unit_id"
    with pytest.raises(ValidationFailed):
        restatement(db_session, org, region, org.team_b1)  # a team of another region
    with pytest.raises(ValidationFailed):
        restatement(db_session, org, region, org.company)
    assert _count(db_session, Priority) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_metric", "revenue_vibes"),
        ("target_period", "2026-Q5"),
        ("target_period", "next year"),
        ("target_period", "26"),
        ("title", "   "),
        ("intent_what", ""),
        ("intent_why", " "),
        ("status", "paused"),
    ],
)
def test_bad_statement_is_refused_naming_the_field(
    db_session: Session, org: Org, field: str, value: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        company_priority(db_session, org, **{field: value})
    assert error.value.context["field"] == field
    assert _count(db_session, Priority) == 0
    assert _count(db_session, PriorityVersion) == 0


@pytest.mark.parametrize(
    ("metric", "value", "ok"),
    [
        ("win_rate", "35", True),
        ("win_rate", "100", True),
        ("win_rate", "101", False),
        ("win_rate", "-1", False),
        ("share_of_pipeline", "150", False),
        ("bookings_amount", "0", False),
        ("bookings_amount", "12.345", False),
        ("bookings_amount", "2000000000000", False),
        ("bookings_amount", "1500000.50", True),
        ("new_logos", "12.5", False),
        ("new_logos", "40", True),
        ("sales_cycle_days", "45", True),
        ("sales_cycle_days", "99999", False),
    ],
)
def test_target_value_must_be_sane_for_its_metric(
    db_session: Session, org: Org, metric: str, value: str, ok: bool
) -> None:
    if ok:
        priority = company_priority(db_session, org, target_metric=metric, target_value=Decimal(value))
        assert priority.target_value == Decimal(value)
        return
    with pytest.raises(ValidationFailed) as error:
        company_priority(db_session, org, target_metric=metric, target_value=Decimal(value))
    assert error.value.context["field"] == "target_value"
    assert _count(db_session, Priority) == 0


def test_a_change_makes_a_version_with_a_field_diff(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org, target_value=Decimal("10000000"))
    effective = dt.date.today() + dt.timedelta(days=3)
    service.update_priority(
        db_session,
        actor=org.executive,
        priority_id=priority.id,
        data=PriorityUpdate(
            target_value=Decimal("12500000"), effective_from=effective, change_note="Raised mid-year"
        ),
    )
    assert priority.version == 2
    assert priority.effective_from == effective
    versions = service.list_versions(db_session, priority_id=priority.id)
    assert [version.version for version in versions] == [2, 1]
    latest = versions[0]
    assert latest.change_note == "Raised mid-year"
    assert [
        (change.field, change.before, change.after)
        for change in latest.changes
        if change.field != "effective_from"
    ] == [("target_value", "10000000.00", "12500000.00")]
    assert [
        entry.action for entry in history_of(db_session, object_type="priority", object_id=priority.id)
    ] == [
        "create",
        "update",
    ]


def test_a_change_that_changes_nothing_makes_no_version(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    service.update_priority(
        db_session, actor=org.executive, priority_id=priority.id, data=PriorityUpdate(title="Move upmarket")
    )
    assert priority.version == 1
    assert len(service.list_versions(db_session, priority_id=priority.id)) == 1


def test_a_change_cannot_apply_before_the_current_version(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    with pytest.raises(ValidationFailed) as error:
        service.update_priority(
            db_session,
            actor=org.executive,
            priority_id=priority.id,
            data=PriorityUpdate(title="New", effective_from=dt.date.today() - dt.timedelta(days=1)),
        )
    assert error.value.context["field"] == "effective_from"


def test_rep_and_other_line_cannot_edit(db_session: Session, org: Org) -> None:
    parent = company_priority(db_session, org)
    region = restatement(db_session, org, parent, org.region_a)
    for actor in (org.rep_a1, org.planner, org.vp_a, org.manager_a1):
        with pytest.raises(PermissionDenied):
            service.update_priority(
                db_session, actor=actor, priority_id=parent.id, data=PriorityUpdate(title="Mine")
            )
    with pytest.raises(PermissionDenied):
        service.update_priority(
            db_session, actor=org.vp_b, priority_id=region.id, data=PriorityUpdate(title="Mine")
        )
    service.update_priority(
        db_session, actor=org.vp_a, priority_id=region.id, data=PriorityUpdate(title="Ours")
    )
    assert region.title == "Ours"
    assert parent.title == "Move upmarket"


def test_reparenting_under_a_descendant_is_a_cycle_and_changes_nothing(db_session: Session, org: Org) -> None:
    top = company_priority(db_session, org)
    region = restatement(db_session, org, top, org.region_a)
    team = restatement(db_session, org, region, org.team_a1)
    for target in (top.id, team.id, region.id):
        with pytest.raises(ValidationFailed) as error:
            service.update_priority(
                db_session, actor=org.executive, priority_id=top.id, data=PriorityUpdate(parent_id=target)
            )
        assert error.value.context["field"] == "parent_id"
    db_session.expire_all()
    assert db_session.get(Priority, top.id).parent_id is None  # type: ignore[union-attr]
    assert db_session.get(Priority, top.id).version == 1  # type: ignore[union-attr]
    assert _count(db_session, PriorityVersion) == 3


def test_moving_a_restatement_keeps_units_below_parents(db_session: Session, org: Org) -> None:
    top = company_priority(db_session, org)
    other = company_priority(db_session, org, title="Grow the installed base")
    region = restatement(db_session, org, top, org.region_a)
    restatement(db_session, org, region, org.team_a1)
    moved = service.update_priority(
        db_session, actor=org.executive, priority_id=region.id, data=PriorityUpdate(parent_id=other.id)
    )
    assert moved.parent_id == other.id
    assert moved.version == 2
    # The region restatement cannot move down to a team: its own team restatement would be above it.
    with pytest.raises(ValidationFailed):
        service.update_priority(
            db_session,
            actor=org.executive,
            priority_id=region.id,
            data=PriorityUpdate(org_unit_id=org.team_a1.id),
        )


def test_status_moves_follow_the_life_cycle(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org, status="draft")
    with pytest.raises(ValidationFailed):
        service.update_priority(
            db_session, actor=org.executive, priority_id=priority.id, data=PriorityUpdate(status="achieved")
        )
    service.update_priority(
        db_session, actor=org.executive, priority_id=priority.id, data=PriorityUpdate(status="active")
    )
    service.update_priority(
        db_session, actor=org.executive, priority_id=priority.id, data=PriorityUpdate(status="achieved")
    )
    assert priority.status == PriorityStatus.ACHIEVED
    assert priority.version == 3


def test_list_is_a_tree_walk_with_depths(db_session: Session, org: Org) -> None:
    top = company_priority(db_session, org)
    second = company_priority(
        db_session,
        org,
        title="Shorten the sales cycle",
        target_metric="sales_cycle_days",
        target_value=Decimal(60),
    )
    region = restatement(db_session, org, top, org.region_a)
    team = restatement(db_session, org, region, org.team_a1)
    listed = service.list_priorities(db_session)
    assert [(item.id, item.depth) for item in listed] == [
        (top.id, 0),
        (region.id, 1),
        (team.id, 2),
        (second.id, 0),
    ]
    assert [item.id for item in service.ancestors_of(db_session, team)] == [region.id, top.id]
