"""The metrics engine on a real database: slices rolled up the org tree, visibility, every metric."""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bridgehead.crm.models import ActivityKind
from bridgehead.errors import ValidationFailed
from bridgehead.intelligence import analysis
from bridgehead.intelligence.metrics import service
from bridgehead.intelligence.metrics.periods import Grain, parse_period
from bridgehead.intelligence.metrics.scope import MetricFilters
from bridgehead.intelligence.schemas import TrendMetric
from bridgehead.intelligence.slices import Dimension
from bridgehead.strategy.models import (
    PipelineDefinition,
    Priority,
    Segment,
    SegmentMember,
    SegmentStance,
    TargetMetric,
)
from tests.factories import make_account, make_activity, make_history, make_opportunity
from tests.intelligence.support import CLOSED_DEALS, IN_PERIOD, PERIOD, Org, add_closed_deals, build_org

FILTERS = MetricFilters(period=parse_period(PERIOD))


@pytest.fixture
def org(db_session: Session) -> Org:
    org = build_org(db_session)
    add_closed_deals(db_session, org)
    return org


def _expected(owners: set[str]) -> tuple[int, int]:
    won = sum(1 for owner, is_won, _, _ in CLOSED_DEALS if owner in owners and is_won)
    lost = sum(1 for owner, is_won, _, _ in CLOSED_DEALS if owner in owners and not is_won)
    return won, lost


def test_headline_win_rate_amounts_and_cycles(db_session: Session, org: Org) -> None:
    headline = service.headline(db_session, viewer=None, filters=FILTERS)
    metrics = {metric.key: metric for metric in headline.metrics}
    won, lost = _expected({"rep_a", "rep_b", "rep_c", "rep_d"})
    assert metrics["win_rate"].value == pytest.approx(won / (won + lost))
    won_amounts = [amount for _, is_won, amount, _ in CLOSED_DEALS if is_won]
    assert metrics["won_amount"].value == Decimal(sum(won_amounts))
    assert metrics["average_deal_size"].value == Decimal(sum(won_amounts)) / len(won_amounts)
    assert metrics["median_cycle_won_days"].value == statistics.median(d for _, w, _, d in CLOSED_DEALS if w)
    assert metrics["median_cycle_lost_days"].value == statistics.median(
        d for _, w, _, d in CLOSED_DEALS if not w
    )


def test_metrics_without_their_inputs_say_so(db_session: Session, org: Org) -> None:
    metrics = {
        metric.key: metric for metric in service.headline(db_session, viewer=None, filters=FILTERS).metrics
    }
    for key in ("quota_attainment", "strategy_adoption", "agility", "coverage"):
        assert metrics[key].available is False
        assert metrics[key].value is None
        assert metrics[key].note
    assert "quota" in metrics["quota_attainment"].note
    assert "gap scan" in metrics["strategy_adoption"].note
    assert "gap scan" in metrics["agility"].note
    with_target = MetricFilters(period=FILTERS.period, target_amount=Decimal(1000))
    open_deal = make_opportunity(
        db_session, owner_id=org.rep_a.id, amount=Decimal(2500), close_date=IN_PERIOD
    )
    assert open_deal.close_date in FILTERS.period
    metrics = {m.key: m for m in service.headline(db_session, viewer=None, filters=with_target).metrics}
    assert metrics["coverage"].available is True
    assert metrics["coverage"].value == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("dimension", "groups"),
    [
        (Dimension.OFFICE, {"North": {"rep_a", "rep_b", "rep_c"}, "South": {"rep_d"}}),
        (Dimension.TEAM, {"Team A": {"rep_a", "rep_b"}, "Team B": {"rep_c"}, "Team C": {"rep_d"}}),
        (Dimension.MANAGER, {"Mia Manager": {"rep_a", "rep_b"}, "(no manager)": {"rep_c", "rep_d"}}),
        (
            Dimension.REP,
            {"Ann Rep": {"rep_a"}, "Ben Rep": {"rep_b"}, "Cat Rep": {"rep_c"}, "Dan Rep": {"rep_d"}},
        ),
    ],
)
def test_win_rate_by_slice_rolls_up_the_org_tree(
    db_session: Session, org: Org, dimension: Dimension, groups: dict[str, set[str]]
) -> None:
    rows = {
        row.label: row
        for row in service.sliced_metrics(db_session, viewer=None, filters=FILTERS, by=dimension).rows
    }
    assert set(rows) == set(groups)
    for label, owners in groups.items():
        won, lost = _expected(owners)
        assert (rows[label].won, rows[label].lost) == (won, lost)
        assert rows[label].win_rate == pytest.approx(won / (won + lost))


def test_org_unit_filter_includes_every_team_below(db_session: Session, org: Org) -> None:
    north = MetricFilters(period=FILTERS.period, org_unit_id=org.north.id)
    rows = service.sliced_metrics(db_session, viewer=None, filters=north, by=Dimension.ALL).rows
    assert (rows[0].won, rows[0].lost) == _expected({"rep_a", "rep_b", "rep_c"})


def test_a_rep_sees_their_book_and_a_manager_their_team(db_session: Session, org: Org) -> None:
    for viewer, owners in ((org.rep_a, {"rep_a"}), (org.manager, {"rep_a", "rep_b"})):
        rows = service.sliced_metrics(db_session, viewer=viewer, filters=FILTERS, by=Dimension.ALL).rows
        assert (rows[0].won, rows[0].lost) == _expected(owners)


def test_segment_and_priority_slices_and_filters(db_session: Session, org: Org) -> None:
    enterprise_account = make_account(db_session)
    segment = Segment(name="Enterprise", stance=SegmentStance.INVEST, rule={"all": []})
    db_session.add(segment)
    db_session.flush()
    db_session.add(SegmentMember(segment_id=segment.id, account_id=enterprise_account.id))
    deal = org.deals[0]
    deal.account_id = enterprise_account.id
    deal.product = "Platform"
    priority = Priority(
        org_unit_id=org.company.id,
        title="Grow platform",
        intent_what="w",
        intent_why="y",
        target_metric=TargetMetric.BOOKINGS_AMOUNT,
        target_value=Decimal(1),
        target_period="2025",
        effective_from=dt.date(2025, 1, 1),
    )
    db_session.add(priority)
    db_session.flush()
    db_session.add(PipelineDefinition(priority_id=priority.id, name="Platform deals", products=["Platform"]))
    db_session.flush()

    by_segment = {
        r.label: r
        for r in service.sliced_metrics(db_session, viewer=None, filters=FILTERS, by=Dimension.SEGMENT).rows
    }
    assert by_segment["Enterprise"].won == 1
    assert by_segment["Enterprise"].won_amount == deal.amount
    by_priority = {
        r.label: r
        for r in service.sliced_metrics(db_session, viewer=None, filters=FILTERS, by=Dimension.PRIORITY).rows
    }
    assert by_priority["Grow platform"].won_amount == deal.amount
    assert by_priority["(no priority)"].closed == len(CLOSED_DEALS) - 1
    only_priority = MetricFilters(period=FILTERS.period, priority_id=priority.id)
    rows = service.sliced_metrics(db_session, viewer=None, filters=only_priority, by=Dimension.ALL).rows
    assert rows[0].closed == 1
    only_product = MetricFilters(period=FILTERS.period, product="Platform")
    assert (
        service.sliced_metrics(db_session, viewer=None, filters=only_product, by=Dimension.PRODUCT)
        .rows[0]
        .label
        == "Platform"
    )


def test_unknown_filters_are_refused_by_name(db_session: Session, org: Org) -> None:
    for name in ("org_unit_id", "rep_id", "segment_id", "priority_id"):
        with pytest.raises(ValidationFailed) as caught:
            service.headline(
                db_session, viewer=None, filters=MetricFilters(period=FILTERS.period, **{name: 987654})
            )
        assert caught.value.context["field"] == name


def test_activity_volumes_by_kind(db_session: Session, org: Org) -> None:
    moment = dt.datetime.combine(IN_PERIOD, dt.time(10), tzinfo=dt.UTC)
    kinds = [ActivityKind.CALL, ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING]
    for kind in kinds:
        make_activity(db_session, owner_id=org.rep_a.id, kind=kind, occurred_at=moment)
    make_activity(db_session, owner_id=org.rep_a.id, occurred_at=moment - dt.timedelta(days=365))
    headline = service.headline(db_session, viewer=None, filters=FILTERS)
    assert headline.activities_by_kind == {kind.value: kinds.count(kind) for kind in set(kinds)}
    by_rep = {
        r.label: r.activities
        for r in service.sliced_metrics(db_session, viewer=None, filters=FILTERS, by=Dimension.REP).rows
    }
    assert by_rep["Ann Rep"] == len(kinds)


def test_trend_over_quarters(db_session: Session, org: Org) -> None:
    result = service.trend(
        db_session,
        viewer=None,
        filters=MetricFilters(period=parse_period("2025-Q3")),
        metric=TrendMetric.WON_AMOUNT,
        grain=Grain.QUARTER,
        count=2,
    )
    assert result.periods == ["2025-Q2", "2025-Q3"]
    values = {point.period: point.value for point in result.points}
    assert values["2025-Q2"] == Decimal(sum(a for _, w, a, _ in CLOSED_DEALS if w))
    assert values["2025-Q3"] == Decimal(999_000)


def test_win_loss_keeps_no_decision_apart_from_competitive_losses(db_session: Session, org: Org) -> None:
    lost = [deal for deal in org.deals if not deal.is_won]
    lost[0].loss_reason, lost[0].primary_competitor = "Lost to competitor", "Rival"
    lost[1].loss_reason, lost[1].primary_competitor = "No Decision", "Rival"
    lost[2].loss_reason = "Price"
    db_session.flush()
    result = analysis.win_loss(db_session, viewer=None, filters=FILTERS)
    assert result.lost_competitive == 1
    assert result.lost_no_decision == 1
    assert result.lost_other == len(lost) - 2
    reasons = {row.label: row.lost for row in result.by_reason}
    assert reasons["No Decision"] == 1
    assert reasons["Price"] == 1
    competitors = {row.label: row for row in result.by_competitor}
    assert competitors["Rival"].lost == 2


def test_funnel_from_stage_history(db_session: Session, org: Org) -> None:
    created = dt.datetime.combine(IN_PERIOD, dt.time(9), tzinfo=dt.UTC)
    ladder = [("Qualification", 20), ("Proposal", 60)]

    def deal_with_path(path: list[str], final: str, *, won: bool = False, closed: bool = False) -> None:
        probabilities = dict(ladder) | {"Closed Won": 100, "Closed Lost": 0}
        deal = make_opportunity(
            db_session,
            owner_id=org.rep_a.id,
            created_at=created,
            stage=final,
            probability=probabilities[final],
            is_closed=closed,
            is_won=won,
        )
        for step, stage in enumerate(path):
            make_history(
                db_session,
                deal,
                stage=stage,
                probability=probabilities[stage],
                changed_at=created + dt.timedelta(days=step),
            )

    deal_with_path(["Qualification", "Closed Lost"], "Closed Lost", closed=True)
    deal_with_path(["Qualification", "Proposal"], "Proposal")
    deal_with_path(["Qualification", "Closed Won"], "Closed Won", won=True, closed=True)
    result = analysis.funnel(db_session, viewer=None, filters=FILTERS)
    steps = {step.stage: step for step in result.steps}
    assert result.deals_with_history == 3
    assert steps["Qualification"].reached == 3
    assert steps["Proposal"].reached == 2
    assert steps["Won"].reached == 1
    assert steps["Qualification"].conversion_to_next == pytest.approx(2 / 3)
    assert [step.stage for step in result.steps] == ["Qualification", "Proposal", "Won"]


def test_pipeline_velocity_counts_open_deals_past_the_first_stage(db_session: Session, org: Org) -> None:
    make_opportunity(db_session, owner_id=org.rep_a.id, stage="Prospecting", probability=10)
    for _ in range(2):
        make_opportunity(db_session, owner_id=org.rep_b.id, stage="Qualification", probability=20)
    metrics = {m.key: m for m in service.headline(db_session, viewer=None, filters=FILTERS).metrics}
    won = [(amount, days) for _, is_won, amount, days in CLOSED_DEALS if is_won]
    rate = len(won) / len(CLOSED_DEALS)
    average_won = sum(amount for amount, _ in won) / len(won)
    mean_cycle = sum(days for _, days in won) / len(won)
    assert float(metrics["pipeline_velocity"].value) == pytest.approx(
        2 * rate * average_won / mean_cycle, abs=0.01
    )
    assert "2 open qualified deals" in metrics["pipeline_velocity"].note


def test_filter_choices_are_what_the_viewer_may_see(db_session: Session, org: Org) -> None:
    """Everyone's products (read by a loose index scan) for the executive; the manager's line only."""
    from bridgehead.auth.models import Role
    from tests.factories import make_user

    for rep, product in [
        (org.rep_a, "Analytics"),
        (org.rep_b, "Billing"),
        (org.rep_c, "Core"),
        (org.rep_d, "Core"),
    ]:
        make_opportunity(
            db_session, owner_id=rep.id, product=product, amount=Decimal(10), close_date=IN_PERIOD
        )
    make_opportunity(
        db_session, owner_id=org.rep_d.id, product=None, amount=Decimal(10), close_date=IN_PERIOD
    )
    executive = make_user(db_session, role=Role.EXECUTIVE)

    everything = analysis.filter_options(db_session, viewer=executive)
    assert [option.id for option in everything.products] == ["Analytics", "Billing", "Core"]
    rep_names = [option.label for option in everything.reps]
    assert {"Ann Rep", "Ben Rep", "Cat Rep", "Dan Rep", "Mia Manager"} <= set(rep_names)
    assert rep_names == sorted(rep_names)

    line = analysis.filter_options(db_session, viewer=org.manager)
    assert [option.id for option in line.products] == ["Analytics", "Billing"]
    assert {option.label for option in line.reps} == {"Mia Manager", "Ann Rep", "Ben Rep"}


def test_stage_catalogue_flags_each_stage_by_its_deals(db_session: Session) -> None:
    """Closed and won flags per stage come from its deals; the probability averages open deals only."""
    from bridgehead.intelligence.metrics.queries import stage_catalogue_rows

    make_opportunity(db_session, stage="Discovery", probability=10)
    make_opportunity(db_session, stage="Discovery", probability=30)
    # A stage with open deals and one lost deal: closed, not won; the lost deal's 0 % is not averaged.
    make_opportunity(db_session, stage="Negotiation", probability=80)
    make_opportunity(db_session, stage="Negotiation", probability=0, is_closed=True, is_won=False)
    make_opportunity(db_session, stage="Signed", probability=100, is_closed=True, is_won=True)
    make_opportunity(db_session, stage="Signed", probability=0, is_closed=True, is_won=False)
    make_opportunity(db_session, stage="Dropped", probability=0, is_closed=True, is_won=False)

    rows = {
        stage: (closed, won, probability)
        for stage, closed, won, probability in stage_catalogue_rows(db_session)
    }

    assert rows["Discovery"] == (False, False, pytest.approx(20.0))
    assert rows["Negotiation"] == (True, False, pytest.approx(80.0))
    assert rows["Signed"] == (True, True, None)
    assert rows["Dropped"] == (True, False, None)
