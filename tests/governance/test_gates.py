"""The Degree-of-Implementation gates: each prerequisite refused then met, rights, cancel and reopen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.errors import Conflict, PermissionDenied, ValidationFailed
from bridgehead.governance import gates, initiatives
from bridgehead.governance.initiatives import AUDIT_TYPE
from bridgehead.governance.models import ApprovalDecision, InitiativeStage
from bridgehead.governance.schemas import InitiativeCreate, InitiativeUpdate, MilestoneCreate
from tests.governance.support import (
    WINDOW_END,
    WINDOW_START,
    Cast,
    bare_initiative,
    full_initiative,
    make_cast,
    walk_to,
)


@pytest.fixture
def cast(db_session: Session) -> Cast:
    """Everyone an initiative involves."""
    return make_cast(db_session)


def test_only_executives_admins_and_planners_create(db_session: Session, cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        initiatives.create_initiative(
            db_session,
            actor=cast.manager,
            data=InitiativeCreate(title="x", owner_id=cast.owner.id, sponsor_id=cast.sponsor.id),
        )
    created = initiatives.create_initiative(
        db_session,
        actor=cast.planner,
        data=InitiativeCreate(title="Partner channel", owner_id=cast.owner.id, sponsor_id=cast.sponsor.id),
    )
    assert created.stage == InitiativeStage.IDENTIFIED
    entries = history_of(db_session, object_type=AUDIT_TYPE, object_id=created.id)
    assert [entry.action for entry in entries] == ["create"]
    assert entries[0].actor_id == cast.planner.id


def test_detailed_gate_lists_everything_missing_then_passes(db_session: Session, cast: Cast) -> None:
    initiative = bare_initiative(db_session, cast)
    with pytest.raises(Conflict) as refused:
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="detailed")
    missing = refused.value.context["missing"]
    assert missing == gates.missing_for(db_session, initiative=initiative, target=InitiativeStage.DETAILED)
    assert any("priority" in item for item in missing)
    assert any("controller" in item for item in missing)
    assert any("expected value" in item for item in missing)
    assert any("milestone" in item for item in missing)
    assert initiative.stage == InitiativeStage.IDENTIFIED

    initiatives.update_initiative(
        db_session,
        actor=cast.owner,
        initiative_id=initiative.id,
        changes=InitiativeUpdate(
            priority_id=cast.priority.id,
            controller_id=cast.controller.id,
            value_kind="revenue_uplift",
            expected_value_amount=Decimal("500000"),
            business_case="Partner-sourced pipeline",
            start_date=WINDOW_START,
            end_date=WINDOW_END,
        ),
    )
    assert gates.missing_for(db_session, initiative=initiative, target=InitiativeStage.DETAILED) == [
        "at least one milestone"
    ]
    initiatives.add_milestone(
        db_session,
        actor=cast.owner,
        initiative_id=initiative.id,
        data=MilestoneCreate(title="Sign three partners", due_date=WINDOW_END),
    )
    gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="detailed")
    assert initiative.stage == InitiativeStage.DETAILED


def test_decided_gate_needs_the_sponsors_own_approval(db_session: Session, cast: Cast) -> None:
    initiative = walk_to(db_session, cast, full_initiative(db_session, cast), InitiativeStage.DETAILED)
    with pytest.raises(Conflict) as refused:
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="decided")
    assert refused.value.context["missing"] == ["the sponsor's approval"]

    advice = gates.decide(
        db_session, actor=cast.executive, initiative_id=initiative.id, decision=ApprovalDecision.APPROVED
    )
    assert advice.as_sponsor is False
    assert advice.approver_role.value == "executive"
    with pytest.raises(Conflict):
        gates.advance(db_session, actor=cast.owner, initiative_id=initiative.id)

    with pytest.raises(ValidationFailed) as no_comment:
        gates.decide(
            db_session, actor=cast.sponsor, initiative_id=initiative.id, decision=ApprovalDecision.REJECTED
        )
    assert no_comment.value.context["field"] == "comment"
    with pytest.raises(PermissionDenied):
        gates.decide(
            db_session, actor=cast.rep, initiative_id=initiative.id, decision=ApprovalDecision.APPROVED
        )

    gates.decide(
        db_session,
        actor=cast.sponsor,
        initiative_id=initiative.id,
        decision=ApprovalDecision.REJECTED,
        comment="Cost too high",
    )
    with pytest.raises(Conflict):
        gates.advance(db_session, actor=cast.owner, initiative_id=initiative.id)

    gates.decide(
        db_session,
        actor=cast.sponsor,
        initiative_id=initiative.id,
        decision=ApprovalDecision.APPROVED,
        comment="Go",
    )
    gates.advance(db_session, actor=cast.owner, initiative_id=initiative.id)
    assert initiative.stage == InitiativeStage.DECIDED


def test_implemented_gate_needs_every_milestone_done(db_session: Session, cast: Cast) -> None:
    initiative = walk_to(db_session, cast, full_initiative(db_session, cast), InitiativeStage.DECIDED)
    second = initiatives.add_milestone(
        db_session,
        actor=cast.owner,
        initiative_id=initiative.id,
        data=MilestoneCreate(title="Launch compliance pack", due_date=WINDOW_END),
    )
    with pytest.raises(Conflict) as refused:
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="implemented")
    assert "Launch compliance pack" in refused.value.context["missing"][0]
    assert "2 open" in refused.value.context["missing"][0]

    for milestone in initiatives.milestones_of(db_session, initiative_id=initiative.id):
        initiatives.complete_milestone(
            db_session, actor=cast.owner, initiative_id=initiative.id, milestone_id=milestone.id
        )
    assert second.done_by_id == cast.owner.id
    with pytest.raises(Conflict):
        initiatives.complete_milestone(
            db_session, actor=cast.owner, initiative_id=initiative.id, milestone_id=second.id
        )
    gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="implemented")
    assert initiative.stage == InitiativeStage.IMPLEMENTED


def test_a_manager_cannot_close_and_the_controller_closes_with_evidence(
    db_session: Session, cast: Cast
) -> None:
    initiative = walk_to(db_session, cast, full_initiative(db_session, cast), InitiativeStage.IMPLEMENTED)
    with pytest.raises(PermissionDenied):
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="closed")
    with pytest.raises(PermissionDenied):
        gates.advance(db_session, actor=cast.sponsor, initiative_id=initiative.id)
    with pytest.raises(PermissionDenied):
        gates.confirm_value(
            db_session,
            actor=cast.owner,
            initiative_id=initiative.id,
            realised_value_amount=Decimal("1"),
            evidence="trust me",
        )
    with pytest.raises(PermissionDenied):
        gates.confirm_value(
            db_session,
            actor=cast.other_controller,
            initiative_id=initiative.id,
            realised_value_amount=Decimal("1"),
            evidence="not mine",
        )
    with pytest.raises(Conflict) as refused:
        gates.transition(db_session, actor=cast.controller, initiative_id=initiative.id, to="closed")
    assert refused.value.context["missing"] == ["the controller's confirmation of realised value"]
    with pytest.raises(ValidationFailed):
        gates.confirm_value(
            db_session,
            actor=cast.controller,
            initiative_id=initiative.id,
            realised_value_amount=Decimal("5"),
            evidence=" ",
        )

    confirmation = gates.confirm_value(
        db_session,
        actor=cast.controller,
        initiative_id=initiative.id,
        realised_value_amount=Decimal("850000"),
        evidence="Q3 ledger: 14 FS deals attributed",
        close=True,
    )
    assert initiative.stage == InitiativeStage.CLOSED
    assert confirmation.controller_id == cast.controller.id
    assert confirmation.realised_value_amount == Decimal("850000")
    actions = [
        entry.action for entry in history_of(db_session, object_type=AUDIT_TYPE, object_id=initiative.id)
    ]
    assert actions[-2:] == ["confirm_value", "transition"]
    with pytest.raises(Conflict):
        gates.transition(db_session, actor=cast.controller, initiative_id=initiative.id, to="closed")


def test_a_cancelled_initiative_reopens_only_with_a_new_sponsor_approval(
    db_session: Session, cast: Cast
) -> None:
    initiative = walk_to(db_session, cast, full_initiative(db_session, cast), InitiativeStage.DECIDED)
    with pytest.raises(ValidationFailed):
        gates.cancel(db_session, actor=cast.owner, initiative_id=initiative.id, reason="  ")
    with pytest.raises(PermissionDenied):
        gates.cancel(db_session, actor=cast.rep, initiative_id=initiative.id, reason="no")
    gates.transition(
        db_session, actor=cast.owner, initiative_id=initiative.id, to="cancelled", reason="Budget cut"
    )
    assert initiative.stage == InitiativeStage.CANCELLED
    assert initiative.cancellation_reason == "Budget cut"

    # The approval that passed the Decided gate came before the cancellation: it does not reopen.
    with pytest.raises(Conflict) as refused:
        gates.reopen(db_session, actor=cast.owner, initiative_id=initiative.id)
    assert "approval" in refused.value.context["missing"][0]
    with pytest.raises(Conflict):
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="implemented")

    gates.decide(
        db_session, actor=cast.executive, initiative_id=initiative.id, decision=ApprovalDecision.APPROVED
    )
    with pytest.raises(Conflict):
        gates.reopen(db_session, actor=cast.owner, initiative_id=initiative.id)

    gates.decide(
        db_session,
        actor=cast.sponsor,
        initiative_id=initiative.id,
        decision=ApprovalDecision.APPROVED,
        comment="Budget restored",
    )
    gates.reopen(db_session, actor=cast.owner, initiative_id=initiative.id)
    assert initiative.stage == InitiativeStage.DECIDED
    assert initiative.cancellation_reason is None


@pytest.mark.parametrize("target", ["decided", "implemented", "closed", "identified"])
def test_no_transition_skips_or_reverses_a_gate(db_session: Session, cast: Cast, target: str) -> None:
    initiative = full_initiative(db_session, cast)
    with pytest.raises(Conflict) as refused:
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to=target)
    assert refused.value.context["next_stage"] == "detailed"
    assert initiative.stage == InitiativeStage.IDENTIFIED


def test_an_unknown_transition_is_refused(db_session: Session, cast: Cast) -> None:
    initiative = full_initiative(db_session, cast)
    with pytest.raises(ValidationFailed) as refused:
        gates.transition(db_session, actor=cast.owner, initiative_id=initiative.id, to="launched")
    assert refused.value.context == {"field": "to", "value": "launched"}


def test_the_business_case_is_frozen_once_decided(db_session: Session, cast: Cast) -> None:
    initiative = walk_to(db_session, cast, full_initiative(db_session, cast), InitiativeStage.DECIDED)
    with pytest.raises(Conflict):
        initiatives.update_initiative(
            db_session,
            actor=cast.owner,
            initiative_id=initiative.id,
            changes=InitiativeUpdate(expected_value_amount=Decimal("9000000")),
        )
    updated = initiatives.update_initiative(
        db_session,
        actor=cast.owner,
        initiative_id=initiative.id,
        changes=InitiativeUpdate(next_gate_due_date=dt.date.today() + dt.timedelta(days=10)),
    )
    assert updated.expected_value_amount == Decimal("1200000")
