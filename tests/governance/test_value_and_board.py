"""Measured value from the CRM's own deals, and the portfolio board's funnel, overdue gates and motion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy.orm import Session

from bridgehead.governance import board, gates, initiatives
from bridgehead.governance.models import InitiativeStage
from bridgehead.governance.schemas import InitiativeUpdate, MilestoneCreate
from bridgehead.governance.value import measure_value
from bridgehead.strategy.models import PipelineDefinition, Segment, SegmentMember, SegmentStance
from tests.factories import make_account, make_opportunity
from tests.governance.support import TODAY, WINDOW_START, Cast, full_initiative, make_cast, walk_to


@pytest.fixture
def cast(db_session: Session) -> Cast:
    """Everyone an initiative involves."""
    return make_cast(db_session)


def _closed_deal(
    session: Session, account_id: int, amount: str, close: dt.date, *, won: bool, cycle_days: int
) -> None:
    created = dt.datetime.combine(close - dt.timedelta(days=cycle_days), dt.time(12), tzinfo=dt.UTC)
    make_opportunity(
        session,
        account_id=account_id,
        amount=Decimal(amount),
        stage="Closed Won" if won else "Closed Lost",
        is_closed=True,
        is_won=won,
        close_date=close,
        created_at=created,
    )


def test_measured_value_compares_the_value_window_with_the_baseline(db_session: Session, cast: Cast) -> None:
    inside = make_account(db_session)
    outside = make_account(db_session)
    segment = Segment(name="Enterprise FS", stance=SegmentStance.INVEST, rule={"all": []})
    db_session.add(segment)
    db_session.flush()
    db_session.add(SegmentMember(segment_id=segment.id, account_id=inside.id))
    value_deals = [("300000", 20, True, 40), ("150000", 50, True, 60), ("90000", 70, False, 30)]
    baseline_deals = [("100000", -30, True, 90), ("80000", -60, False, 45)]
    for amount, offset, won, cycle in value_deals + baseline_deals:
        _closed_deal(
            db_session, inside.id, amount, WINDOW_START + dt.timedelta(days=offset), won=won, cycle_days=cycle
        )
    # Same dates, another account: not the target, must not count.
    _closed_deal(
        db_session, outside.id, "999999", WINDOW_START + dt.timedelta(days=20), won=True, cycle_days=10
    )
    initiative = full_initiative(db_session, cast, segment_id=segment.id)

    measured = measure_value(db_session, initiative=initiative, as_of=TODAY)

    assert measured.measurable
    assert measured.value_window is not None
    assert measured.baseline_window is not None
    won_value = [Decimal(a) for a, _, won, _ in value_deals if won]
    won_baseline = [Decimal(a) for a, _, won, _ in baseline_deals if won]
    assert measured.value_window.bookings_amount == sum(won_value)
    assert measured.baseline_window.bookings_amount == sum(won_baseline)
    assert measured.bookings_uplift_amount == sum(won_value) - sum(won_baseline)
    assert measured.value_window.win_rate == pytest.approx(len(won_value) / len(value_deals), abs=1e-4)
    assert measured.value_window.median_cycle_days == pytest.approx(
        float(np.median([cycle for _, _, won, cycle in value_deals if won]))
    )
    assert measured.baseline_window.end_date == measured.value_window.start_date
    window_length = measured.value_window.end_date - measured.value_window.start_date
    assert measured.baseline_window.end_date - measured.baseline_window.start_date == window_length


def test_value_through_the_priority_pipeline_definitions(db_session: Session, cast: Cast) -> None:
    account = make_account(db_session)
    db_session.add(
        PipelineDefinition(priority_id=cast.priority.id, name="FS platform", products=["Platform"])
    )
    db_session.flush()
    make_opportunity(
        db_session,
        account_id=account.id,
        product="Platform",
        amount=Decimal("42000"),
        is_closed=True,
        is_won=True,
        stage="Closed Won",
        close_date=WINDOW_START + dt.timedelta(days=5),
    )
    make_opportunity(
        db_session,
        account_id=account.id,
        product="Add-on",
        amount=Decimal("7000"),
        is_closed=True,
        is_won=True,
        stage="Closed Won",
        close_date=WINDOW_START + dt.timedelta(days=5),
    )
    initiative = full_initiative(db_session, cast)
    measured = measure_value(db_session, initiative=initiative)
    assert measured.measurable
    assert measured.bookings_uplift_amount == Decimal("42000")


def test_value_is_not_measurable_without_a_target(db_session: Session, cast: Cast) -> None:
    initiative = full_initiative(db_session, cast)
    measured = measure_value(db_session, initiative=initiative)
    assert not measured.measurable
    assert "pipeline definition" in measured.reason


def test_the_value_funnel_sums_expected_value_by_degree_of_implementation(
    db_session: Session, cast: Cast
) -> None:
    amounts = {
        InitiativeStage.IDENTIFIED: Decimal("100000"),
        InitiativeStage.DETAILED: Decimal("200000"),
        InitiativeStage.DECIDED: Decimal("300000"),
        InitiativeStage.IMPLEMENTED: Decimal("400000"),
        InitiativeStage.CLOSED: Decimal("500000"),
    }
    for stage, amount in amounts.items():
        walk_to(db_session, cast, full_initiative(db_session, cast, expected_value_amount=amount), stage)
    cancelled = full_initiative(db_session, cast, expected_value_amount=Decimal("700000"))
    gates.cancel(db_session, actor=cast.owner, initiative_id=cancelled.id, reason="Dropped")

    funnel = {step.label: step for step in board.value_funnel(db_session, priority_id=cast.priority.id)}

    decided_or_later = [InitiativeStage.DECIDED, InitiativeStage.IMPLEMENTED, InitiativeStage.CLOSED]
    assert funnel["Expected"].amount == sum(amounts.values())
    assert funnel["Decided"].amount == sum(amounts[stage] for stage in decided_or_later)
    assert (
        funnel["Implemented"].amount == amounts[InitiativeStage.IMPLEMENTED] + amounts[InitiativeStage.CLOSED]
    )
    assert funnel["Confirmed"].count == 1
    assert funnel["Confirmed"].amount > 0

    whole = board.portfolio_board(db_session, priority_id=cast.priority.id)
    assert {stage: len(cards) for stage, cards in whole.columns.items()} == {
        stage.value: 1 for stage in InitiativeStage
    }


def test_overdue_gates_and_milestones(db_session: Session, cast: Cast) -> None:
    late_gate = full_initiative(
        db_session, cast, title="Late gate", next_gate_due_date=TODAY - dt.timedelta(days=9)
    )
    on_time = full_initiative(
        db_session, cast, title="On time", next_gate_due_date=TODAY + dt.timedelta(days=9)
    )
    late_milestone = full_initiative(db_session, cast, title="Late milestone")

    overdue = board.overdue_gates(db_session, as_of=TODAY, priority_id=cast.priority.id)

    by_id = {(item.id, item.what) for item in overdue}
    assert (late_gate.id, "detailed gate") in by_id
    assert all(item.id != on_time.id or item.what.startswith("milestone") for item in overdue)
    # full_initiative plans one milestone 30 days after a window start 120 days ago: passed, not done.
    assert any(item.id == late_milestone.id and item.what.startswith("milestone") for item in overdue)
    late = next(item for item in overdue if item.id == late_gate.id and item.what == "detailed gate")
    assert late.days_overdue == (TODAY - late.due_date).days


def test_motion_without_progress(db_session: Session, cast: Cast) -> None:
    busy = full_initiative(db_session, cast, title="Busy")
    productive = full_initiative(db_session, cast, title="Productive")
    quiet = full_initiative(db_session, cast, title="Quiet")
    for initiative in (busy, productive):
        for n in range(3):
            initiatives.update_initiative(
                db_session,
                actor=cast.owner,
                initiative_id=initiative.id,
                changes=InitiativeUpdate(description=f"Reworded the plan, take {n}"),
            )
    milestone = initiatives.milestones_of(db_session, initiative_id=productive.id)[0]
    initiatives.complete_milestone(
        db_session, actor=cast.owner, initiative_id=productive.id, milestone_id=milestone.id
    )

    motion = board.motion_without_progress(db_session, as_of=TODAY, days=30, priority_id=cast.priority.id)

    ids = {item.id for item in motion}
    assert busy.id in ids
    assert productive.id not in ids
    assert quiet.id not in ids, "a create and one milestone are too little to call motion"
    item = next(item for item in motion if item.id == busy.id)
    assert item.events >= board.MOTION_MIN_EVENTS


def test_a_gate_passed_counts_as_progress(db_session: Session, cast: Cast) -> None:
    initiative = full_initiative(db_session, cast)
    initiatives.add_milestone(
        db_session,
        actor=cast.owner,
        initiative_id=initiative.id,
        data=MilestoneCreate(title="Second", due_date=TODAY),
    )
    gates.advance(db_session, actor=cast.owner, initiative_id=initiative.id)
    motion = board.motion_without_progress(db_session, as_of=TODAY, days=30)
    assert initiative.id not in {item.id for item in motion}
