"""Trace: records up to the priorities they serve, priorities down to what executes them, within visibility.

Segment membership and pipeline definitions are written here as plain rows, so these tests do not
depend on how segment rules are evaluated.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bridgehead.errors import NotFound, ValidationFailed
from bridgehead.strategy import trace
from bridgehead.strategy.models import (
    PipelineDefinition,
    Priority,
    Segment,
    SegmentMember,
    SegmentPriority,
    SegmentStance,
)
from tests.factories import make_account, make_activity, make_opportunity
from tests.strategy.priority_support import Org, company_priority, make_org, restatement


@pytest.fixture
def org(db_session: Session) -> Org:
    return make_org(db_session)


def _segment(
    session: Session, name: str, stance: SegmentStance, priority: Priority, *accounts: int
) -> Segment:
    segment = Segment(name=name, stance=stance, rule={"all": []}, member_count=len(accounts))
    session.add(segment)
    session.flush()
    session.add(SegmentPriority(segment_id=segment.id, priority_id=priority.id))
    session.add_all([SegmentMember(segment_id=segment.id, account_id=account_id) for account_id in accounts])
    session.flush()
    return segment


def _definition(session: Session, priority: Priority, **fields: object) -> PipelineDefinition:
    definition = PipelineDefinition(
        priority_id=priority.id, name=str(fields.pop("name", "Definition")), **fields
    )
    session.add(definition)
    session.flush()
    return definition


def test_account_in_an_invest_segment_traces_up_to_the_company_priority(
    db_session: Session, org: Org
) -> None:
    top = company_priority(db_session, org)
    region = restatement(db_session, org, top, org.region_a)
    bank = make_account(db_session, name="Big Bank", owner_id=org.rep_a1.id)
    _segment(db_session, "Enterprise FS", SegmentStance.INVEST, region, bank.id)
    traced = trace.trace_account(db_session, viewer=org.executive, account_id=bank.id)
    assert not traced.serves_no_priority
    assert not traced.in_deprioritised_segment
    [chain] = traced.serves
    assert chain.priority.id == region.id
    assert [ancestor.id for ancestor in chain.ancestors] == [top.id]
    assert [link.name for link in chain.via_segments] == ["Enterprise FS"]
    assert "Move upmarket in Region A" in traced.summary


def test_account_in_no_segment_serves_no_priority(db_session: Session, org: Org) -> None:
    company_priority(db_session, org)
    lonely = make_account(db_session, owner_id=org.rep_a1.id)
    traced = trace.trace_account(db_session, viewer=org.rep_a1, account_id=lonely.id)
    assert traced.serves_no_priority
    assert traced.serves == []
    assert traced.segments == []
    assert traced.summary.startswith("Serves no priority")


def test_deprioritised_segment_is_flagged_and_does_not_count_as_serving(
    db_session: Session, org: Org
) -> None:
    top = company_priority(db_session, org)
    small = make_account(db_session, name="Corner Shop", employees=12, owner_id=org.rep_a1.id)
    _segment(db_session, "Small business", SegmentStance.DEPRIORITISE, top, small.id)
    traced = trace.trace_account(db_session, viewer=org.executive, account_id=small.id)
    assert traced.in_deprioritised_segment
    assert traced.serves_no_priority
    assert [chain.priority.id for chain in traced.deprioritised_by] == [top.id]
    assert "deprioritised" in traced.summary


def test_opportunity_traces_through_the_pipeline_definition_it_counts_toward(
    db_session: Session, org: Org
) -> None:
    top = company_priority(db_session, org)
    other = company_priority(db_session, org, title="Analytics push")
    account = make_account(db_session, owner_id=org.rep_a1.id)
    _definition(db_session, top, name="Platform deals", products=["Data Platform"])
    _definition(db_session, other, name="Analytics deals", products=["Analytics Cloud"])
    platform = make_opportunity(
        db_session, account_id=account.id, owner_id=org.rep_a1.id, product="Data Platform"
    )
    support = make_opportunity(db_session, account_id=account.id, owner_id=org.rep_a1.id, product="Support")
    traced = trace.trace_opportunity(db_session, viewer=org.rep_a1, opportunity_id=platform.id)
    assert [chain.priority.id for chain in traced.serves] == [top.id]
    assert [ref.name for ref in traced.serves[0].via_definitions] == ["Platform deals"]
    assert trace.trace_opportunity(
        db_session, viewer=org.rep_a1, opportunity_id=support.id
    ).serves_no_priority
    # The account counts toward what any of its deals counts toward.
    assert [
        ref.name
        for ref in trace.trace_account(db_session, viewer=org.rep_a1, account_id=account.id).definitions
    ] == ["Platform deals"]


def test_records_outside_visibility_are_not_found(db_session: Session, org: Org) -> None:
    company_priority(db_session, org)
    account = make_account(db_session, owner_id=org.manager_b1.id)
    deal = make_opportunity(db_session, account_id=account.id, owner_id=org.manager_b1.id)
    with pytest.raises(NotFound):
        trace.trace_account(db_session, viewer=org.rep_a1, account_id=account.id)
    with pytest.raises(NotFound):
        trace.trace_opportunity(db_session, viewer=org.vp_a, opportunity_id=deal.id)
    assert trace.trace_opportunity(db_session, viewer=org.vp_b, opportunity_id=deal.id).id == deal.id


def _book(
    session: Session, org: Org, owner_id: int, period_day: dt.date, account_id: int, amount: str
) -> None:
    make_opportunity(
        session,
        account_id=account_id,
        owner_id=owner_id,
        amount=Decimal(amount),
        close_date=period_day + dt.timedelta(days=400),
    )
    make_opportunity(
        session, account_id=account_id, owner_id=owner_id, amount=Decimal(amount) * 2, is_closed=True, is_won=True,
        stage="Closed Won", close_date=period_day, created_at=dt.datetime(period_day.year, 1, 2, tzinfo=dt.UTC),
    )  # fmt: skip
    make_opportunity(
        session, account_id=account_id, owner_id=owner_id, amount=Decimal(amount), is_closed=True, is_won=False,
        stage="Closed Lost", close_date=period_day,
    )  # fmt: skip


def test_priority_trace_figures_respect_visibility_and_unit_scope(db_session: Session, org: Org) -> None:
    year = dt.date.today().year
    mid_year = dt.date(year, 6, 15)
    top = company_priority(db_session, org, target_period=str(year))
    region_b = restatement(db_session, org, top, org.region_b)
    rep_account = make_account(db_session, owner_id=org.rep_a1.id)
    b_account = make_account(db_session, owner_id=org.manager_b1.id)
    small = make_account(db_session, employees=10, owner_id=org.rep_a1.id)
    _segment(db_session, "Enterprise FS", SegmentStance.INVEST, top, rep_account.id, b_account.id)
    _segment(db_session, "Small business", SegmentStance.DEPRIORITISE, top, small.id)
    _book(db_session, org, org.rep_a1.id, mid_year, rep_account.id, "1000")
    _book(db_session, org, org.manager_b1.id, mid_year, b_account.id, "5000")
    make_opportunity(db_session, account_id=small.id, owner_id=org.rep_a1.id, amount=Decimal("300"))
    deal_a = make_opportunity(
        db_session,
        account_id=rep_account.id,
        owner_id=org.rep_a1.id,
        amount=Decimal("1"),
        close_date=dt.date(year + 1, 3, 1),
    )
    make_activity(
        db_session,
        owner_id=org.rep_a1.id,
        account_id=rep_account.id,
        opportunity_id=deal_a.id,
        occurred_at=dt.datetime(year, 3, 1, tzinfo=dt.UTC),
    )
    make_activity(
        db_session,
        owner_id=org.rep_a1.id,
        account_id=rep_account.id,
        occurred_at=dt.datetime(year - 1, 3, 1, tzinfo=dt.UTC),
    )

    everything = trace.trace_priority(db_session, viewer=org.executive, priority_id=top.id).execution
    rep_view = trace.trace_priority(db_session, viewer=org.rep_a1, priority_id=top.id).execution
    # The company view is the sum of the two books; the rep sees only theirs.
    assert everything.won_amount == rep_view.won_amount + Decimal("10000")
    assert rep_view.won_amount == Decimal("2000")
    assert rep_view.won_count == 1
    assert rep_view.lost_count == 1
    assert rep_view.win_rate == Decimal("50.0")
    assert rep_view.open_amount == Decimal("1001")
    assert rep_view.open_count == 2
    assert rep_view.accounts == 1
    assert everything.accounts == 2
    assert rep_view.activities == 1
    assert rep_view.actual == rep_view.won_amount  # the metric is bookings
    assert rep_view.deprioritised_open_count == 1
    assert rep_view.deprioritised_open_amount == Decimal("300")

    # Region B's restatement names no segments: it inherits the parent's, scoped to its unit's people.
    region_view = trace.trace_priority(db_session, viewer=org.executive, priority_id=region_b.id)
    assert region_view.execution.inherited_from_priority_id == top.id
    assert region_view.execution.scoped_to_unit
    assert region_view.execution.won_amount == Decimal("10000")
    assert region_view.execution.accounts == 1
    assert [item.id for item in region_view.ancestors] == [top.id]


def test_priority_trace_lists_restatements_and_back_brief_slots(db_session: Session, org: Org) -> None:
    top = company_priority(db_session, org)
    region = restatement(db_session, org, top, org.region_a)
    traced = trace.trace_priority(db_session, viewer=org.rep_a1, priority_id=top.id)
    assert [item.id for item in traced.restatements] == [region.id]
    assert traced.counts.missing == 4
    assert {slot.org_unit.name for slot in traced.back_briefs} == {
        "Region A",
        "Region B",
        "Team A1",
        "Team B1",
    }
    assert traced.execution.actual == Decimal(0)
    assert traced.segments == []


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="unknown trace kind"):
        trace.check_kind("territory")


def test_chain_starts_at_the_owners_own_restatement(db_session: Session, org: Org) -> None:
    top = company_priority(db_session, org)
    region_a = restatement(db_session, org, top, org.region_a)
    team_a1 = restatement(db_session, org, region_a, org.team_a1, title="Team A1 banks")
    restatement(db_session, org, top, org.region_b)
    bank = make_account(db_session, owner_id=org.rep_a1.id)
    other_bank = make_account(db_session, owner_id=org.manager_b1.id)
    unowned = make_account(db_session, owner_id=None)
    _segment(db_session, "Enterprise FS", SegmentStance.INVEST, top, bank.id, other_bank.id, unowned.id)

    [chain] = trace.trace_account(db_session, viewer=org.executive, account_id=bank.id).serves
    assert chain.priority.id == team_a1.id
    assert [ancestor.id for ancestor in chain.ancestors] == [region_a.id, top.id]
    assert [link.name for link in chain.via_segments] == ["Enterprise FS"]
    traced_b = trace.trace_account(db_session, viewer=org.executive, account_id=other_bank.id)
    assert traced_b.serves[0].priority.org_unit.id == org.region_b.id
    assert "restating “Move upmarket”" in traced_b.summary
    [unowned_chain] = trace.trace_account(db_session, viewer=org.executive, account_id=unowned.id).serves
    assert unowned_chain.priority.id == top.id
    assert unowned_chain.ancestors == []
