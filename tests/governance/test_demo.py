"""The demo's initiatives: every stage, stalled ones, the unconfirmed claim, the controller-closed one."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.demo import load_demo
from bridgehead.governance import board, gates, initiatives
from bridgehead.governance.models import ApprovalGate, Initiative, InitiativeStage
from bridgehead.governance.value import measure_value

AS_OF = dt.date(2026, 6, 30)


def test_demo_initiatives_tell_the_governance_story(db_session: Session) -> None:
    load_demo(db_session, scale=0.05, seed=11, as_of=AS_OF)
    portfolio = list(db_session.scalars(select(Initiative).order_by(Initiative.id)))

    assert 12 <= len(portfolio) <= 18
    assert set(Counter(item.stage for item in portfolio)) == set(InitiativeStage)
    for item in portfolio:
        if item.stage in (InitiativeStage.IMPLEMENTED, InitiativeStage.CLOSED):
            open_milestones = [
                m for m in initiatives.milestones_of(db_session, initiative_id=item.id) if m.done_at is None
            ]
            assert not open_milestones, item.title
        if item.stage in (InitiativeStage.DECIDED, InitiativeStage.IMPLEMENTED, InitiativeStage.CLOSED):
            decision = gates.sponsor_decision(db_session, initiative=item, gate=ApprovalGate.DECIDED)
            assert decision is not None, item.title
        if item.stage == InitiativeStage.CLOSED:
            confirmation = gates.current_confirmation(db_session, initiative=item)
            assert confirmation is not None, item.title
            assert confirmation.evidence
            controller = db_session.get(User, confirmation.controller_id)
            assert controller is not None
            assert controller.role == Role.CONTROLLER

    implemented = [item for item in portfolio if item.stage == InitiativeStage.IMPLEMENTED]
    unconfirmed = []
    for item in implemented:
        measured = measure_value(db_session, initiative=item, as_of=AS_OF)
        if measured.measurable and item.expected_value_amount is not None:
            assert measured.bookings_uplift_amount is not None
            if measured.bookings_uplift_amount * 4 < item.expected_value_amount:
                unconfirmed.append(item)
    assert unconfirmed, "one implemented initiative claims far more than the deals show"

    portfolio_board = board.portfolio_board(db_session, as_of=AS_OF)
    assert portfolio_board.overdue, "some gates or milestones are overdue"
    assert portfolio_board.motion, "some initiatives move without progress"
    funnel = [step.amount for step in portfolio_board.funnel]
    assert funnel[0] >= funnel[1] >= funnel[2] > 0
    assert funnel[3] > 0
