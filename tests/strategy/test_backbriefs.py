"""Back-briefs: the draft → submitted → returned → revised → accepted walk, rights, history and counts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.errors import Conflict, PermissionDenied, ValidationFailed
from bridgehead.strategy import backbriefs, service
from bridgehead.strategy.models import BackBrief, BackBriefEvent, BackBriefStatus
from bridgehead.strategy.schemas import BackBriefWrite, PriorityUpdate
from tests.strategy.priority_support import Org, company_priority, make_org, restatement


@pytest.fixture
def org(db_session: Session) -> Org:
    return make_org(db_session)


def _write(
    session: Session, org: Org, priority_id: int, unit_id: int, actor_name: str, plan: str
) -> BackBrief:
    return backbriefs.write_back_brief(
        session,
        actor=getattr(org, actor_name),
        priority_id=priority_id,
        org_unit_id=unit_id,
        data=BackBriefWrite(plan=plan, implied_tasks="Hire two enterprise AEs", risks="Long cycles"),
    )


def test_the_full_walk_keeps_every_step_with_its_text(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    brief = _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Focus on top 40 banks")
    assert brief.status == BackBriefStatus.DRAFT
    assert brief.revision == 1
    backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=brief.id)
    backbriefs.return_back_brief(
        db_session, actor=org.executive, back_brief_id=brief.id, comment="Name the accounts and the quarter"
    )
    assert brief.status == BackBriefStatus.RETURNED
    revised = _write(
        db_session, org, priority.id, org.region_a.id, "vp_a", "Top 40 banks named; pilots in Q3"
    )
    assert revised.id == brief.id
    assert revised.status == BackBriefStatus.DRAFT
    assert revised.revision == 2
    backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=brief.id)
    backbriefs.accept_back_brief(db_session, actor=org.executive, back_brief_id=brief.id)
    assert brief.status == BackBriefStatus.ACCEPTED
    assert brief.decided_by_id == org.executive.id

    [read] = backbriefs.read_back_briefs(db_session, [brief])
    assert [(event.action, event.revision) for event in read.events] == [
        ("drafted", 1),
        ("submitted", 1),
        ("returned", 1),
        ("revised", 2),
        ("submitted", 2),
        ("accepted", 2),
    ]
    returned = read.events[2]
    assert returned.comment == "Name the accounts and the quarter"
    assert returned.content["plan"] == "Focus on top 40 banks"
    assert read.events[-1].content["plan"] == "Top 40 banks named; pilots in Q3"
    actions = [entry.action for entry in history_of(db_session, object_type="back_brief", object_id=brief.id)]
    assert actions == ["create", "submit", "return", "update", "submit", "accept"]


def test_returning_needs_a_comment(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    brief = _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Plan")
    backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=brief.id)
    with pytest.raises(ValidationFailed) as error:
        backbriefs.return_back_brief(db_session, actor=org.executive, back_brief_id=brief.id, comment="  ")
    assert error.value.context["field"] == "comment"
    assert brief.status == BackBriefStatus.SUBMITTED


def test_only_the_next_level_up_decides(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    team_brief = _write(db_session, org, priority.id, org.team_a1.id, "manager_a1", "Team plan")
    backbriefs.submit_back_brief(db_session, actor=org.manager_a1, back_brief_id=team_brief.id)
    for outsider in (org.manager_a1, org.vp_b, org.rep_a1, org.planner, org.executive):
        with pytest.raises(PermissionDenied):
            backbriefs.accept_back_brief(db_session, actor=outsider, back_brief_id=team_brief.id)
    backbriefs.accept_back_brief(db_session, actor=org.vp_a, back_brief_id=team_brief.id, comment="Good")
    assert team_brief.status == BackBriefStatus.ACCEPTED
    region_brief = _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Region plan")
    backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=region_brief.id)
    with pytest.raises(PermissionDenied):
        backbriefs.accept_back_brief(db_session, actor=org.vp_a, back_brief_id=region_brief.id)
    backbriefs.accept_back_brief(db_session, actor=org.executive, back_brief_id=region_brief.id)


def test_a_back_brief_for_a_unit_outside_your_line_changes_nothing(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    for actor_name, unit in (
        ("executive", org.region_a),
        ("vp_b", org.region_a),
        ("manager_a1", org.region_a),
        ("vp_a", org.team_b1),
        ("rep_a1", org.team_a1),
    ):
        with pytest.raises(PermissionDenied):
            _write(db_session, org, priority.id, unit.id, actor_name, "Not mine")
    assert db_session.scalar(select(func.count()).select_from(BackBrief)) == 0
    assert db_session.scalar(select(func.count()).select_from(BackBriefEvent)) == 0


def test_only_units_below_the_priority_back_brief_it(db_session: Session, org: Org) -> None:
    top = company_priority(db_session, org)
    region = restatement(db_session, org, top, org.region_a)
    with pytest.raises(ValidationFailed):
        _write(db_session, org, region.id, org.region_a.id, "vp_a", "The region itself")
    with pytest.raises(ValidationFailed):
        _write(db_session, org, region.id, org.team_b1.id, "admin", "Another region's team")
    assert (
        _write(db_session, org, region.id, org.team_a1.id, "manager_a1", "Team plan").status
        == BackBriefStatus.DRAFT
    )


def test_workflow_refuses_out_of_order_steps(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    brief = backbriefs.write_back_brief(
        db_session,
        actor=org.vp_a,
        priority_id=priority.id,
        org_unit_id=org.region_a.id,
        data=BackBriefWrite(),
    )
    with pytest.raises(ValidationFailed):
        backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=brief.id)  # no plan yet
    with pytest.raises(Conflict):
        backbriefs.accept_back_brief(db_session, actor=org.executive, back_brief_id=brief.id)  # still a draft
    _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Plan")
    backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=brief.id)
    with pytest.raises(Conflict):
        _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Changed while submitted")
    assert brief.plan == "Plan"


def test_dropped_priority_takes_no_back_briefs(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    service.update_priority(
        db_session, actor=org.executive, priority_id=priority.id, data=PriorityUpdate(status="dropped")
    )
    with pytest.raises(Conflict):
        _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Too late")


def test_slots_and_counts_show_missing_units(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    region_a = _write(db_session, org, priority.id, org.region_a.id, "vp_a", "Plan A")
    backbriefs.submit_back_brief(db_session, actor=org.vp_a, back_brief_id=region_a.id)
    _write(db_session, org, priority.id, org.team_b1.id, "manager_b1", "Plan B1")
    slots = backbriefs.back_brief_slots(db_session, priority_id=priority.id)
    assert [(slot.org_unit.name, slot.depth, slot.status) for slot in slots] == [
        ("Region A", 1, "submitted"),
        ("Team A1", 2, "missing"),
        ("Region B", 1, "missing"),
        ("Team B1", 2, "draft"),
    ]
    counts = backbriefs.status_counts(db_session)[priority.id]
    assert counts == backbriefs.count_slots(slots)
    assert (counts.missing, counts.draft, counts.submitted, counts.expected) == (2, 1, 1, 4)


def test_work_lists_what_to_decide_and_what_to_write(db_session: Session, org: Org) -> None:
    priority = company_priority(db_session, org)
    dropped = company_priority(db_session, org, title="Old idea")
    service.update_priority(
        db_session, actor=org.executive, priority_id=dropped.id, data=PriorityUpdate(status="dropped")
    )
    team_brief = _write(db_session, org, priority.id, org.team_a1.id, "manager_a1", "Team plan")
    backbriefs.submit_back_brief(db_session, actor=org.manager_a1, back_brief_id=team_brief.id)
    vp_work = backbriefs.work_for(db_session, org.vp_a)
    assert [(item.action, item.org_unit_id, item.status) for item in vp_work] == [
        ("decide", org.team_a1.id, "submitted"),
        ("write", org.region_a.id, "missing"),
    ]
    # The team's own back-brief is submitted, so nothing waits for its manager; the dropped priority never does.
    assert backbriefs.work_for(db_session, org.manager_a1) == []
    assert backbriefs.work_for(db_session, org.rep_a1) == []
    backbriefs.return_back_brief(
        db_session, actor=org.vp_a, back_brief_id=team_brief.id, comment="More detail"
    )
    assert [(item.action, item.status) for item in backbriefs.work_for(db_session, org.manager_a1)] == [
        ("write", "returned")
    ]
