"""The pure metric arithmetic, without a database: medians, win rate, funnel, bridge, velocity, periods."""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridgehead.errors import ValidationFailed
from bridgehead.intelligence.metrics import compute
from bridgehead.intelligence.metrics.periods import Grain, parse_period, periods_ending
from bridgehead.intelligence.stages import order_open_stages


@given(st.dictionaries(st.integers(-400, 4000), st.integers(0, 50), min_size=1, max_size=40))
def test_median_from_histogram_equals_the_median_of_the_expanded_values(histogram: dict[int, int]) -> None:
    expanded = [value for value, count in histogram.items() for _ in range(count)]
    result = compute.median_from_histogram(list(histogram), list(histogram.values()))
    if not expanded:
        assert result is None
    else:
        assert result == statistics.median(expanded)


@given(st.dictionaries(st.integers(0, 4000), st.integers(1, 50), max_size=40))
def test_mean_from_histogram_equals_the_mean_of_the_expanded_values(histogram: dict[int, int]) -> None:
    expanded = [value for value, count in histogram.items() for _ in range(count)]
    result = compute.mean_from_histogram(list(histogram.items()))
    assert result == (pytest.approx(statistics.mean(expanded)) if expanded else None)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_win_rate_is_won_over_closed(won: int, lost: int) -> None:
    rate = compute.win_rate(won, lost)
    if won + lost == 0:
        assert rate is None
    else:
        assert rate is not None
        assert 0 <= rate <= 1
        assert rate * (won + lost) == pytest.approx(won)


@given(
    st.integers(0, 10**12),
    st.dictionaries(
        st.sampled_from([key for key, _, _ in compute.WATERFALL_ORDER]),
        st.tuples(st.integers(0, 1000), st.integers(0, 10**11)),
    ),
)
def test_bridge_bars_chain_and_reconcile(start: int, movements: dict[str, tuple[int, int]]) -> None:
    bars = compute.bridge(start, movements)
    assert bars[0].label == "Start"
    assert bars[-1].label == "End"
    for before, after in itertools.pairwise(bars[1:-1]):
        assert before.end == after.start
    steps = bars[1:-1]
    assert bars[-1].amount == bars[0].amount + sum((bar.amount for bar in steps), Decimal(0))
    assert bars[-1].amount == steps[-1].end


def test_bridge_signs_follow_the_direction_of_each_movement() -> None:
    bars = {bar.label: bar for bar in compute.bridge(100_00, {"new": (1, 5_00), "won": (2, 7_00)})}
    assert bars["New"].amount == Decimal("5.00")
    assert bars["Won"].amount == Decimal("-7.00")
    assert bars["Won"].deals == 2
    assert bars["End"].amount == Decimal("98.00")


@given(
    st.lists(st.tuples(st.integers(-1, 4), st.booleans(), st.integers(1, 100)), max_size=20),
)
def test_funnel_counts_each_deal_at_every_stage_up_to_its_highest(reach: list[tuple[int, bool, int]]) -> None:
    stages = ["A", "B", "C", "D", "E"]
    merged: dict[tuple[int, bool], int] = {}
    for rank, won, deals in reach:
        merged[(rank, won)] = merged.get((rank, won), 0) + deals
    rows = [(rank, won, deals) for (rank, won), deals in merged.items()]
    steps = compute.funnel(stages, rows)
    for index, step in enumerate(steps[:-1]):
        expected = sum(deals for rank, won, deals in rows if won or rank >= index)
        assert step.reached == expected
    assert steps[-1].reached == sum(deals for _, won, deals in rows if won)
    reached = [step.reached for step in steps[:-1]]
    assert reached == sorted(reached, reverse=True)
    for step in steps[:-1]:
        if step.reached:
            assert step.conversion_to_next is not None
            assert 0 <= step.conversion_to_next <= 1


def test_velocity_needs_every_input() -> None:
    assert compute.pipeline_velocity(10, None, Decimal(100), 30) is None
    assert compute.pipeline_velocity(10, 0.5, None, 30) is None
    assert compute.pipeline_velocity(10, 0.5, Decimal(100), 0) is None
    assert compute.pipeline_velocity(10, 0.5, Decimal(300), 30) == Decimal("50.00")


def test_coverage_only_against_a_target() -> None:
    assert compute.coverage(300_00, None) is None
    assert compute.coverage(300_00, Decimal(100)) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026", dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
        ("2026-Q4", dt.date(2026, 10, 1), dt.date(2027, 1, 1)),
        ("2026q2", dt.date(2026, 4, 1), dt.date(2026, 7, 1)),
        ("2026-12", dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    ],
)
def test_periods_parse(text: str, start: dt.date, end: dt.date) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26", "last quarter", "0999", ""])
def test_bad_periods_name_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_period(text, field="period")
    assert caught.value.context["field"] == "period"


@given(st.sampled_from(list(Grain)), st.integers(1, 36), st.dates(dt.date(1950, 1, 1), dt.date(2900, 1, 1)))
def test_trend_periods_are_consecutive(grain: Grain, count: int, day: dt.date) -> None:
    last = parse_period(f"{day.year}-{day.month:02d}")
    periods = periods_ending(last, grain, count)
    assert len(periods) == count
    assert periods[-1].start <= last.start < periods[-1].end
    for earlier, later in itertools.pairwise(periods):
        assert earlier.end == later.start


def test_stage_order_follows_probability_and_says_when_it_is_a_guess() -> None:
    assert order_open_stages({"Proposal": 60.0, "Prospecting": 10.0, "Solution": 40.0}) == (
        ["Prospecting", "Solution", "Proposal"],
        True,
    )
    names, ordered = order_open_stages({"Prospecting": None, "Engaging": None})
    assert not ordered
    assert set(names) == {"Prospecting", "Engaging"}
