"""Each detector: deals built to trip it and deals built just not to (below / above its thresholds)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.crm.models import ActivityDirection
from bridgehead.deals.models import (
    ActionPlan,
    ActionStep,
    Handoff,
    HandoffStatus,
    QualificationEntry,
    QualificationStatus,
)
from bridgehead.deals.process import processes
from bridgehead.deals.qualification import framework_dimensions
from bridgehead.intelligence.gaps.models import GapKind, GapRule, GapSignal, Severity
from bridgehead.intelligence.gaps.rules import ensure_rules
from bridgehead.intelligence.gaps.service import full_scan_times, last_seen
from bridgehead.strategy.models import Segment, SegmentMember, SegmentStance
from tests.factories import make_account, make_activity, make_history
from tests.gaps.conftest import NOW, Org, deal, engage, open_signals, run

TODAY = NOW.date()


def _segment(session: Session, name: str, stance: SegmentStance, account_id: int) -> Segment:
    segment = Segment(name=name, stance=stance, rule={"all": []})
    session.add(segment)
    session.flush()
    session.add(SegmentMember(segment_id=segment.id, account_id=account_id))
    session.flush()
    return segment


def _set_thresholds(session: Session, kind: GapKind, **values: object) -> None:
    ensure_rules(session)
    rule = session.scalars(select(GapRule).where(GapRule.kind == kind)).one()
    rule.thresholds = {**rule.thresholds, **values}
    session.flush()


def test_single_threaded_against_stage_and_segment(db_session: Session, org: Org) -> None:
    two = deal(db_session, org, stage="Proposal")  # Proposal requires 3 engaged stakeholders
    three = deal(db_session, org, stage="Proposal")
    early = deal(db_session, org, stage="Prospecting")  # no requirement
    lapsed = deal(db_session, org, stage="Proposal")
    for contact in org.contacts[:2]:
        engage(db_session, two, contact)
    for contact in org.contacts[:3]:
        engage(db_session, three, contact)
    # Engagement is per person: the last contact's only activity is older than the 90-day window.
    for contact in org.contacts[2:]:
        engage(db_session, lapsed, contact, days_ago=91 if contact is org.contacts[4] else 1)
    run(db_session, GapKind.SINGLE_THREADED)
    signals = open_signals(db_session, GapKind.SINGLE_THREADED)
    assert set(signals) == {two.id, lapsed.id}
    assert signals[two.id].explanation == "2 engaged stakeholders; stage Proposal requires 3"
    assert signals[two.id].evidence["engaged"] == 2
    assert signals[two.id].severity == Severity.HIGH
    assert signals[two.id].owner_id == org.rep.id
    assert signals[two.id].amount_at_risk == Decimal("50000.00")
    assert early.id not in signals

    _segment(db_session, "Enterprise FS", SegmentStance.INVEST, org.account.id)
    _set_thresholds(db_session, GapKind.SINGLE_THREADED, segment_minimums={"Enterprise FS": 4})
    run(db_session, GapKind.SINGLE_THREADED)
    signals = open_signals(db_session, GapKind.SINGLE_THREADED)
    assert three.id in signals
    assert signals[three.id].explanation == (
        "3 engaged stakeholders; stage Proposal requires 3 and segment Enterprise FS requires 4"
    )
    assert signals[three.id].evidence["required"] == 4


def test_no_economic_buyer(db_session: Session, org: Org) -> None:
    engaged_buyer = deal(db_session, org, stage="Proposal")
    engage(db_session, engaged_buyer, org.contacts[0], role="economic_buyer")
    missing = deal(db_session, org, stage="Proposal")
    lapsed = deal(db_session, org, stage="Negotiation")
    engage(db_session, lapsed, org.contacts[1], role="economic_buyer", days_ago=120)
    not_yet = deal(db_session, org, stage="Solution")  # Solution does not need one
    run(db_session, GapKind.NO_ECONOMIC_BUYER)
    signals = open_signals(db_session, GapKind.NO_ECONOMIC_BUYER)
    assert set(signals) == {missing.id, lapsed.id}
    assert (
        signals[missing.id].explanation
        == "No economic buyer on the stakeholder map; stage Proposal requires one"
    )
    assert "not engaged in 90 days" in signals[lapsed.id].explanation
    assert engaged_buyer.id not in signals
    assert not_yet.id not in signals


def test_slow_follow_up_after_24_hours(db_session: Session, org: Org) -> None:
    late = deal(db_session, org)
    recent = deal(db_session, org)
    answered = deal(db_session, org)
    for opportunity, hours in ((late, 25), (recent, 23), (answered, 30)):
        make_activity(
            db_session,
            opportunity_id=opportunity.id,
            account_id=org.account.id,
            direction=ActivityDirection.INBOUND,
            occurred_at=NOW - dt.timedelta(hours=hours),
        )
    make_activity(
        db_session,
        opportunity_id=answered.id,
        account_id=org.account.id,
        direction=ActivityDirection.OUTBOUND,
        occurred_at=NOW - dt.timedelta(hours=2),
    )
    run(db_session, GapKind.SLOW_FOLLOW_UP)
    signals = open_signals(db_session, GapKind.SLOW_FOLLOW_UP)
    assert set(signals) == {late.id}
    assert signals[late.id].explanation.startswith(
        "1 inbound buyer activity without an answer; the first came 25 hours"
    )
    _set_thresholds(db_session, GapKind.SLOW_FOLLOW_UP, follow_up_hours=48)
    result = run(db_session, GapKind.SLOW_FOLLOW_UP)
    assert result.resolved == 1
    assert not open_signals(db_session, GapKind.SLOW_FOLLOW_UP)


def test_stale_deal_after_21_days(db_session: Session, org: Org) -> None:
    created = NOW - dt.timedelta(days=60)
    stale = deal(db_session, org, created_at=created)
    fresh = deal(db_session, org, created_at=created)
    silent = deal(db_session, org, created_at=created)
    young = deal(db_session, org, created_at=NOW - dt.timedelta(days=5))
    make_activity(db_session, opportunity_id=stale.id, occurred_at=NOW - dt.timedelta(days=22))
    make_activity(db_session, opportunity_id=fresh.id, occurred_at=NOW - dt.timedelta(days=20))
    run(db_session, GapKind.STALE_DEAL)
    signals = open_signals(db_session, GapKind.STALE_DEAL)
    assert set(signals) == {stale.id, silent.id}
    assert signals[stale.id].explanation.startswith("No activity in 22 days (last on ")
    assert signals[silent.id].explanation.startswith("No activity in 60 days;")
    assert fresh.id not in signals
    assert young.id not in signals


def test_qualification_incomplete(db_session: Session, org: Org) -> None:
    context = next(item for item in processes(db_session) if item.process.is_default)
    pain = next(d for d in framework_dimensions(db_session, context.framework.id) if d.key == "identify_pain")
    unknown = deal(db_session, org, stage="Qualification")
    identified = deal(db_session, org, stage="Qualification")
    weak = deal(db_session, org, stage="Qualification")
    db_session.add_all(
        [
            QualificationEntry(
                opportunity_id=identified.id, dimension_id=pain.id, status=QualificationStatus.IDENTIFIED
            ),
            QualificationEntry(
                opportunity_id=weak.id, dimension_id=pain.id, status=QualificationStatus.UNKNOWN
            ),
        ]
    )
    db_session.flush()
    run(db_session, GapKind.QUALIFICATION_INCOMPLETE)
    signals = open_signals(db_session, GapKind.QUALIFICATION_INCOMPLETE)
    assert set(signals) == {unknown.id, weak.id}
    assert signals[unknown.id].explanation == (
        "1 of 1 qualification dimensions below identified for stage Qualification: Identify pain"
    )


def test_close_date_pushed_twice(db_session: Session, org: Org) -> None:
    twice = deal(db_session, org, close_date=TODAY + dt.timedelta(days=90))
    once = deal(db_session, org, close_date=TODAY + dt.timedelta(days=60))
    pulled_in = deal(db_session, org, close_date=TODAY + dt.timedelta(days=10))
    for opportunity, offsets in ((twice, (30, 60, 90)), (once, (30, 60, 60)), (pulled_in, (30, 60, 10))):
        for step, days in enumerate(offsets):
            make_history(
                db_session,
                opportunity,
                changed_at=NOW - dt.timedelta(days=30 - step),
                close_date=TODAY + dt.timedelta(days=days),
            )
    run(db_session, GapKind.CLOSE_DATE_PUSHED)
    signals = open_signals(db_session, GapKind.CLOSE_DATE_PUSHED)
    assert set(signals) == {twice.id}
    first, last = TODAY + dt.timedelta(days=30), TODAY + dt.timedelta(days=90)
    assert signals[twice.id].explanation == f"Close date pushed 2 times, from {first} to {last}"


def test_close_date_in_the_past(db_session: Session, org: Org) -> None:
    past = deal(db_session, org, close_date=TODAY - dt.timedelta(days=3))
    today = deal(db_session, org, close_date=TODAY)
    closed = deal(
        db_session, org, close_date=TODAY - dt.timedelta(days=3), is_closed=True, stage="Closed Lost"
    )
    run(db_session, GapKind.CLOSE_DATE_PAST)
    signals = open_signals(db_session, GapKind.CLOSE_DATE_PAST)
    assert set(signals) == {past.id}
    assert signals[past.id].explanation.endswith(", 3 days ago")
    assert today.id not in signals
    assert closed.id not in signals


def test_missing_required_fields(db_session: Session, org: Org) -> None:
    no_product = deal(db_session, org, stage="Proposal", product=None)
    complete = deal(db_session, org, stage="Proposal")
    early = deal(db_session, org, stage="Prospecting", product=None, amount=None)
    run(db_session, GapKind.MISSING_FIELDS)
    signals = open_signals(db_session, GapKind.MISSING_FIELDS)
    assert set(signals) == {no_product.id}
    assert signals[no_product.id].explanation == "Stage Proposal requires Product; not filled in"
    assert complete.id not in signals
    assert early.id not in signals


def test_off_strategy_deals_and_activity(db_session: Session, org: Org) -> None:
    small = make_account(db_session, name="Tiny Shop", owner_id=org.rep.id)
    busy = make_account(db_session, name="Busy Shop", owner_id=org.rep.id)
    quiet = make_account(db_session, name="Quiet Shop", owner_id=org.rep.id)
    segment = _segment(db_session, "SMB Retail", SegmentStance.DEPRIORITISE, small.id)
    db_session.add_all([SegmentMember(segment_id=segment.id, account_id=a.id) for a in (busy, quiet)])
    _segment(db_session, "Enterprise FS", SegmentStance.INVEST, org.account.id)
    off = deal(db_session, org, account_id=small.id)
    on = deal(db_session, org)
    for _ in range(3):
        make_activity(db_session, account_id=busy.id, occurred_at=NOW - dt.timedelta(days=2))
    for _ in range(2):
        make_activity(db_session, account_id=quiet.id, occurred_at=NOW - dt.timedelta(days=2))
    run(db_session, GapKind.OFF_STRATEGY)
    signals = open_signals(db_session, GapKind.OFF_STRATEGY)
    assert set(signals) == {off.id, -busy.id}
    assert signals[off.id].explanation == "Open deal on an account in the deprioritised segment SMB Retail"
    assert signals[-busy.id].subject_key == f"account:{busy.id}"
    assert signals[-busy.id].explanation.startswith("3 activities in the last 30 days")
    assert on.id not in signals


def test_late_stage_without_plan_or_with_overdue_steps(db_session: Session, org: Org) -> None:
    no_plan = deal(db_session, org, stage="Proposal")
    early = deal(db_session, org, stage="Solution")
    overdue = deal(db_session, org, stage="Negotiation")
    on_track = deal(db_session, org, stage="Negotiation")
    for opportunity, done in ((overdue, None), (on_track, NOW)):
        plan = ActionPlan(opportunity_id=opportunity.id, title="Path to signature")
        db_session.add(plan)
        db_session.flush()
        db_session.add(
            ActionStep(
                plan_id=plan.id,
                title="Security review",
                due_date=TODAY - dt.timedelta(days=1),
                completed_at=done,
            )
        )
        db_session.add(ActionStep(plan_id=plan.id, title="Sign", due_date=TODAY + dt.timedelta(days=10)))
    db_session.flush()
    run(db_session, GapKind.NO_ACTION_PLAN)
    run(db_session, GapKind.ACTION_PLAN_OVERDUE)
    assert set(open_signals(db_session, GapKind.NO_ACTION_PLAN)) == {no_plan.id}
    overdue_signals = open_signals(db_session, GapKind.ACTION_PLAN_OVERDUE)
    assert set(overdue_signals) == {overdue.id}
    yesterday = TODAY - dt.timedelta(days=1)
    assert overdue_signals[overdue.id].explanation == (
        f"1 mutual action plan step overdue, the oldest due {yesterday}; stage Negotiation"
    )
    assert early.id not in open_signals(db_session, GapKind.NO_ACTION_PLAN)


def test_won_deal_without_accepted_handoff(db_session: Session, org: Org) -> None:
    won = {"is_closed": True, "is_won": True, "stage": "Closed Won"}
    missing = deal(db_session, org, close_date=TODAY - dt.timedelta(days=10), **won)
    pending = deal(db_session, org, close_date=TODAY - dt.timedelta(days=10), **won)
    accepted = deal(db_session, org, close_date=TODAY - dt.timedelta(days=10), **won)
    just_won = deal(db_session, org, close_date=TODAY - dt.timedelta(days=1), **won)
    long_ago = deal(db_session, org, close_date=TODAY - dt.timedelta(days=200), **won)
    db_session.add_all(
        [
            Handoff(opportunity_id=pending.id, status=HandoffStatus.PENDING),
            Handoff(opportunity_id=accepted.id, status=HandoffStatus.ACCEPTED, accepted_at=NOW),
        ]
    )
    db_session.flush()
    run(db_session, GapKind.HANDOFF_NOT_ACCEPTED)
    signals = open_signals(db_session, GapKind.HANDOFF_NOT_ACCEPTED)
    assert set(signals) == {missing.id, pending.id}
    assert "no handoff" in signals[missing.id].explanation
    assert "not accepted" in signals[pending.id].explanation
    assert just_won.id not in signals
    assert long_ago.id not in signals


def test_signals_resolve_when_the_condition_clears_and_rescans_do_not_duplicate(
    db_session: Session, org: Org
) -> None:
    stale = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    first = run(db_session, GapKind.STALE_DEAL)
    again = run(db_session, GapKind.STALE_DEAL, now=NOW + dt.timedelta(minutes=5))
    assert (first.raised, again.raised, again.still_open, again.resolved) == (1, 0, 1, 0)
    rows = db_session.scalars(select(GapSignal).where(GapSignal.opportunity_id == stale.id)).all()
    assert len(rows) == 1
    # A full scan stamps the kind, not the signal: the signal was last seen by the second scan.
    assert rows[0].last_seen_at == rows[0].raised_at
    assert last_seen(rows[0], full_scan_times(db_session)) == NOW + dt.timedelta(minutes=5)
    make_activity(db_session, opportunity_id=stale.id, occurred_at=NOW)
    cleared = run(db_session, GapKind.STALE_DEAL, now=NOW + dt.timedelta(hours=1))
    assert cleared.resolved == 1
    db_session.expire_all()
    resolved = db_session.get(GapSignal, rows[0].id)
    assert resolved is not None
    assert resolved.resolved_at == NOW + dt.timedelta(hours=1)
    # Resolving stores the last sighting for good; later full scans no longer move it.
    assert resolved.last_seen_at == NOW + dt.timedelta(minutes=5)
    assert last_seen(resolved, full_scan_times(db_session)) == NOW + dt.timedelta(minutes=5)
    # The condition coming back opens a new signal; the resolved one stays as history.
    later = run(db_session, GapKind.STALE_DEAL, now=NOW + dt.timedelta(days=30))
    assert later.raised == 1
    assert len(db_session.scalars(select(GapSignal).where(GapSignal.opportunity_id == stale.id)).all()) == 2


def test_a_disabled_rule_resolves_its_open_signals(db_session: Session, org: Org) -> None:
    deal(db_session, org, close_date=TODAY - dt.timedelta(days=3))
    assert run(db_session, GapKind.CLOSE_DATE_PAST).raised == 1
    ensure_rules(db_session)
    rule = db_session.scalars(select(GapRule).where(GapRule.kind == GapKind.CLOSE_DATE_PAST)).one()
    rule.enabled = False
    db_session.flush()
    result = run(db_session, GapKind.CLOSE_DATE_PAST)
    assert result.resolved == 1
    assert not result.kinds[0].enabled
