"""Deal execution rules: stage moves with requirements, overrides, qualification, stakeholders, plans."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.crm.models import OpportunityHistory
from bridgehead.deals import action_plans, process, qualification, stakeholders
from bridgehead.deals.handoffs import accept_handoff, list_handoffs
from bridgehead.deals.models import QualificationEntry, StageOverride, Stakeholder
from bridgehead.deals.orgchart import layout_org_chart
from bridgehead.deals.room import deal_room
from bridgehead.deals.schemas import StepCreate, StepUpdate
from bridgehead.errors import NotFound, PermissionDenied, ValidationFailed
from tests.deals.conftest import Team
from tests.factories import make_activity


def _framework_id(session: Session, team: Team) -> int:
    return process.process_for(session, team.deal).framework.id


def _qualify(session: Session, team: Team, key: str, status: str = "validated") -> None:
    qualification.set_qualification(
        session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        framework_id=_framework_id(session, team),
        dimension_key=key,
        status=status,
        evidence=f"{key} evidence",
    )


def _tick_all_before(session: Session, team: Team, stage: str) -> None:
    context = process.process_for(session, team.deal)
    target = context.stage_named(stage)
    assert target is not None
    for earlier in context.stages:
        if earlier.position < target.position and not earlier.is_closed:
            for index in range(len(earlier.exit_criteria)):
                process.tick_exit_criterion(
                    session,
                    viewer=team.rep,
                    opportunity_id=team.deal.id,
                    stage=earlier.name,
                    index=index,
                    checked=True,
                )


def test_new_business_deal_gets_meddpicc_and_expansion_gets_meddic(db_session: Session, team: Team) -> None:
    assert process.process_for(db_session, team.deal).framework.key == "meddpicc"
    team.deal.type = "Expansion"
    assert process.process_for(db_session, team.deal).framework.key == "meddic"


def test_imported_crm_stage_names_map_onto_process_stages(db_session: Session, team: Team) -> None:
    context = process.process_for(db_session, team.deal)
    for crm_name, expected in [
        ("Proposal/Price Quote", "Proposal"),
        ("closedwon", "Closed Won"),
        ("Needs Analysis", "Qualification"),
        ("Engaging", "Qualification"),
        ("negotiation/review", "Negotiation"),
    ]:
        stage = context.stage_named(crm_name)
        assert stage is not None
        assert stage.name == expected


def test_move_with_unmet_requirements_is_refused_with_the_list(db_session: Session, team: Team) -> None:
    with pytest.raises(ValidationFailed) as refused:
        process.move_stage(db_session, viewer=team.rep, opportunity_id=team.deal.id, stage="Qualification")
    missing = refused.value.context["missing"]
    kinds = {item["kind"] for item in missing}
    assert kinds == {"exit_criterion", "qualification"}
    assert any(item["key"] == "identify_pain" for item in missing)
    db_session.refresh(team.deal)
    assert team.deal.stage == "Prospecting"


def test_move_succeeds_once_requirements_are_met_and_history_is_written(
    db_session: Session, team: Team
) -> None:
    _tick_all_before(db_session, team, "Qualification")
    _qualify(db_session, team, "identify_pain", "identified")
    before = db_session.scalar(select(func.count()).select_from(OpportunityHistory))
    opportunity, overridden = process.move_stage(
        db_session, viewer=team.rep, opportunity_id=team.deal.id, stage="Qualification"
    )
    assert overridden == []
    assert opportunity.stage == "Qualification"
    context = process.process_for(db_session, opportunity)
    qualification_stage = context.stage_named("Qualification")
    assert qualification_stage is not None
    assert opportunity.probability == qualification_stage.probability
    assert db_session.scalar(select(func.count()).select_from(OpportunityHistory)) == (before or 0) + 1


def test_rep_cannot_override_but_manager_can_with_a_reason(db_session: Session, team: Team) -> None:
    with pytest.raises(PermissionDenied):
        process.move_stage(
            db_session,
            viewer=team.rep,
            opportunity_id=team.deal.id,
            stage="Proposal",
            override_reason="trust me",
        )
    opportunity, overridden = process.move_stage(
        db_session,
        viewer=team.manager,
        opportunity_id=team.deal.id,
        stage="Proposal",
        override_reason="CFO confirmed budget verbally",
    )
    assert opportunity.stage == "Proposal"
    assert overridden
    override = db_session.scalars(
        select(StageOverride).where(StageOverride.opportunity_id == team.deal.id)
    ).one()
    assert override.reason == "CFO confirmed budget verbally"
    assert override.actor_id == team.manager.id
    assert len(override.missing) == len(overridden)
    actions = [
        entry.action for entry in history_of(db_session, object_type="opportunity", object_id=team.deal.id)
    ]
    assert "override" in actions


def test_moving_back_and_losing_need_nothing(db_session: Session, team: Team) -> None:
    process.move_stage(
        db_session, viewer=team.manager, opportunity_id=team.deal.id, stage="Solution", override_reason="x"
    )
    opportunity, _ = process.move_stage(
        db_session, viewer=team.rep, opportunity_id=team.deal.id, stage="Qualification"
    )
    assert opportunity.stage == "Qualification"
    opportunity, _ = process.move_stage(
        db_session, viewer=team.rep, opportunity_id=team.deal.id, stage="Closed Lost"
    )
    assert opportunity.is_closed
    assert not opportunity.is_won


def test_others_read_but_may_not_change_and_strangers_do_not_see(db_session: Session, team: Team) -> None:
    room = deal_room(db_session, viewer=team.executive, opportunity_id=team.deal.id)
    assert room.can_edit is False
    with pytest.raises(PermissionDenied):
        _qualify_as(db_session, team, team.executive)
    with pytest.raises(NotFound):
        deal_room(db_session, viewer=team.other_rep, opportunity_id=team.deal.id)
    assert deal_room(db_session, viewer=team.manager, opportunity_id=team.deal.id).can_override is True


def _qualify_as(session: Session, team: Team, viewer: object) -> None:
    qualification.set_qualification(
        session,
        viewer=viewer,  # type: ignore[arg-type]
        opportunity_id=team.deal.id,
        framework_id=_framework_id(session, team),
        dimension_key="metrics",
        status="identified",
        evidence="",
    )


def test_qualification_records_who_and_when_and_scores_completeness(db_session: Session, team: Team) -> None:
    _qualify(db_session, team, "metrics", "validated")
    _qualify(db_session, team, "champion", "identified")
    room = deal_room(db_session, viewer=team.rep, opportunity_id=team.deal.id)
    items = {item.key: item for item in room.qualification.items}
    assert items["metrics"].status == "validated"
    assert items["metrics"].updated_by is not None
    assert items["metrics"].updated_by.id == team.rep.id
    assert items["metrics"].updated_at is not None
    statuses = [qualification.QualificationStatus(item.status) for item in room.qualification.items]
    assert room.qualification.completeness == qualification.completeness(statuses)
    assert 0 < room.qualification.completeness < 100


def test_evidence_over_ten_thousand_characters_is_refused(db_session: Session, team: Team) -> None:
    with pytest.raises(ValidationFailed) as refused:
        qualification.set_qualification(
            db_session,
            viewer=team.rep,
            opportunity_id=team.deal.id,
            framework_id=_framework_id(db_session, team),
            dimension_key="metrics",
            status="identified",
            evidence="x" * 10_001,
        )
    assert refused.value.context["field"] == "evidence"
    assert db_session.scalar(select(func.count()).select_from(QualificationEntry)) == 0


def test_stakeholder_from_another_account_is_refused(db_session: Session, team: Team) -> None:
    with pytest.raises(ValidationFailed) as refused:
        stakeholders.add_stakeholder(
            db_session,
            viewer=team.rep,
            opportunity_id=team.deal.id,
            contact_id=team.stranger.id,
            role="champion",
        )
    assert refused.value.context["field"] == "contact_id"
    assert db_session.scalar(select(func.count()).select_from(Stakeholder)) == 0


@pytest.mark.parametrize(
    ("field", "value"), [("role", "kingmaker"), ("stance", "lukewarm"), ("influence", "huge")]
)
def test_unknown_role_stance_or_influence_is_refused(
    db_session: Session, team: Team, field: str, value: str
) -> None:
    values = {"role": "champion", "stance": "neutral", "influence": "medium", field: value}
    with pytest.raises(ValidationFailed) as refused:
        stakeholders.add_stakeholder(
            db_session, viewer=team.rep, opportunity_id=team.deal.id, contact_id=team.contacts[0].id, **values
        )
    assert refused.value.context["field"] == field
    assert db_session.scalar(select(func.count()).select_from(Stakeholder)) == 0


def test_coverage_counts_engagement_from_activities(db_session: Session, team: Team) -> None:
    cfo, cio, analyst = team.contacts
    for contact, role in ((cfo, "economic_buyer"), (cio, "champion"), (analyst, "blocker")):
        stakeholders.add_stakeholder(
            db_session, viewer=team.rep, opportunity_id=team.deal.id, contact_id=contact.id, role=role
        )
    make_activity(db_session, contact_id=cio.id, account_id=team.account.id, opportunity_id=team.deal.id)
    make_activity(
        db_session,
        contact_id=cfo.id,
        account_id=team.account.id,
        occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=200),
    )
    mapped = stakeholders.stakeholder_map(db_session, opportunity=team.deal)
    assert mapped.coverage.engaged == 1
    assert mapped.coverage.economic_buyer_on_map is True
    assert mapped.coverage.economic_buyer_engaged is False
    assert mapped.coverage.blockers_without_plan == 1
    by_name = {item.name: item for item in mapped.stakeholders}
    assert by_name[cfo.full_name].last_engaged_at is not None
    # The reports-to line comes from the contacts: CFO above CIO above the analyst.
    rows = {node.name: node.y for node in mapped.chart.nodes}
    assert rows[cfo.full_name] < rows[cio.full_name] < rows[analyst.full_name]
    assert len(mapped.chart.edges) == 2


def test_org_chart_survives_a_reporting_cycle() -> None:
    from bridgehead.deals.schemas import StakeholderRead

    def person(contact_id: int, manager: int | None) -> StakeholderRead:
        return StakeholderRead(
            id=contact_id,
            contact_id=contact_id,
            name=f"P{contact_id}",
            title=None,
            role="user",
            stance="neutral",
            influence="low",
            reports_to_contact_id=manager,
            plan="",
            source="manual",
            last_engaged_at=None,
            engaged=False,
        )

    chart = layout_org_chart([person(1, 2), person(2, 1), person(3, 1)])
    assert len(chart.nodes) == 3
    assert len({(node.x, node.y) for node in chart.nodes}) == 3


def test_contact_roles_become_stakeholders_set_wise(db_session: Session, team: Team) -> None:
    from tests.factories import make_contact_role

    cfo, cio, _ = team.contacts
    make_contact_role(db_session, opportunity_id=team.deal.id, contact_id=cfo.id, role="Economic Buyer")
    make_contact_role(db_session, opportunity_id=team.deal.id, contact_id=cio.id, role="Technical Buyer")
    make_contact_role(db_session, opportunity_id=team.deal.id, contact_id=cio.id, role="Decision Maker")
    make_contact_role(db_session, opportunity_id=team.deal.id, contact_id=team.stranger.id, role="Influencer")
    added = stakeholders.refresh_from_contact_roles(db_session)
    count = db_session.scalar(select(func.count()).select_from(Stakeholder))
    assert (added, count) == (2, 2)
    roles = dict(
        db_session.execute(
            select(Stakeholder.contact_id, Stakeholder.role).where(Stakeholder.opportunity_id == team.deal.id)
        ).all()
    )
    assert roles[cfo.id].value == "economic_buyer"
    assert roles[cio.id].value == "economic_buyer"  # Decision Maker outranks Technical Buyer
    assert stakeholders.refresh_from_contact_roles(db_session) == 0


def test_action_plan_steps_overdue_and_due_date_rule(db_session: Session, team: Team) -> None:
    today = dt.date.today()
    with pytest.raises(ValidationFailed) as refused:
        action_plans.add_step(
            db_session,
            viewer=team.rep,
            opportunity_id=team.deal.id,
            step=StepCreate(title="Kick-off", due_date=today - dt.timedelta(days=1)),
        )
    assert refused.value.context["field"] == "due_date"
    assert action_plans.plan_of(db_session, team.deal.id) is None
    step = action_plans.add_step(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        step=StepCreate(title="Security review", due_date=today + dt.timedelta(days=3), buyer_owner="CISO"),
    )
    plan = action_plans.plan_read(db_session, opportunity_id=team.deal.id, today=today + dt.timedelta(days=5))
    assert plan.overdue == 1
    assert plan.steps[0].overdue
    action_plans.update_step(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        step_id=step.id,
        changes=StepUpdate(completed=True),
    )
    plan = action_plans.plan_read(db_session, opportunity_id=team.deal.id, today=today + dt.timedelta(days=5))
    assert plan.overdue == 0
    assert plan.completed == 1


def test_share_link_opens_the_plan_and_refuses_tampering_and_expiry(db_session: Session, team: Team) -> None:
    action_plans.add_step(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        step=StepCreate(title="Pilot", due_date=dt.date.today() + dt.timedelta(days=7)),
    )
    link = action_plans.share_link(
        db_session, viewer=team.rep, opportunity_id=team.deal.id, secret="s3cret", days=2
    )
    plan, opportunity = action_plans.plan_for_token(db_session, token=link.token, secret="s3cret")
    assert opportunity.id == team.deal.id
    with pytest.raises(PermissionDenied):
        action_plans.plan_for_token(db_session, token=link.token, secret="other-secret")
    _payload, signature = link.token.split(".")
    forged = action_plans._b64(f"{plan.id + 1}:9999999999".encode()) + "." + signature
    with pytest.raises(PermissionDenied):
        action_plans.plan_for_token(db_session, token=forged, secret="s3cret")
    with pytest.raises(action_plans.LinkExpired):
        action_plans.plan_for_token(
            db_session, token=link.token, secret="s3cret", now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
        )


def test_winning_opens_a_handoff_that_customer_success_accepts(db_session: Session, team: Team) -> None:
    action_plans.add_step(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        step=StepCreate(
            title="Go-live by March", due_date=dt.date.today() + dt.timedelta(days=7), milestone="Go-live"
        ),
    )
    process.move_stage(
        db_session,
        viewer=team.manager,
        opportunity_id=team.deal.id,
        stage="Closed Won",
        override_reason="signed",
    )
    handoffs = list_handoffs(db_session, viewer=team.manager)
    assert len(handoffs) == 1
    handoff = handoffs[0]
    assert handoff.recipient is not None
    assert handoff.recipient.id == team.manager.id
    assert any("Go-live by March" in item for item in handoff.commitments)
    with pytest.raises(PermissionDenied):
        accept_handoff(db_session, viewer=team.rep, handoff_id=handoff.id)
    accepted = accept_handoff(db_session, viewer=team.manager, handoff_id=handoff.id)
    assert accepted.status == "accepted"
    assert accepted.accepted_by is not None


def test_crm_stage_change_is_flagged_not_rejected(db_session: Session, team: Team) -> None:
    from bridgehead.deals.compliance import check_stage_compliance
    from bridgehead.deals.models import StageComplianceFlag

    team.deal.stage = "Proposal/Price Quote"  # as a Salesforce import writes it
    db_session.flush()
    written = check_stage_compliance(db_session)
    flags = db_session.scalars(
        select(StageComplianceFlag).where(StageComplianceFlag.opportunity_id == team.deal.id)
    ).all()
    assert written == len(flags)
    kinds = {(flag.kind, flag.key) for flag in flags}
    assert ("qualification", "economic_buyer") in kinds
    assert ("stakeholders", "economic_buyer") in kinds
    # The same unmet requirements the deal room computes for the stage.
    context = process.process_for(db_session, team.deal)
    target = context.stage_named("Proposal")
    assert target is not None
    expected = process.missing_for_stage(db_session, opportunity=team.deal, context=context, target=target)
    assert {(item.kind, item.key) for item in expected} == kinds
    db_session.refresh(team.deal)
    assert team.deal.stage == "Proposal/Price Quote"
    room = deal_room(db_session, viewer=team.rep, opportunity_id=team.deal.id)
    assert len(room.playbook.flags) == len(flags)
