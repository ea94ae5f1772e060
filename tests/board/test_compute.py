"""The gap formulas on plain numbers: no database."""

from __future__ import annotations

import pytest

from bridgehead.intelligence.board import compute


def test_alignment_adds_shortfall_and_off_strategy_share() -> None:
    effort = compute.Effort(
        created_cents=1000, priority_cents=300, off_strategy_cents=200,
        activities=10, priority_activities=5, off_strategy_activities=0,
    )  # fmt: skip
    result = compute.alignment(effort, planned_share=0.6)
    assert result.effort_share == pytest.approx((0.3 + 0.5) / 2)
    assert result.off_strategy_share == pytest.approx((0.2 + 0.0) / 2)
    assert result.gap == pytest.approx(100 * ((0.6 - 0.4) + 0.1))


def test_alignment_above_plan_and_without_effort() -> None:
    assert compute.alignment(compute.Effort(100, 100, 0, 4, 4, 0), 0.5).gap == 0
    assert compute.alignment(compute.Effort(), 0.5).gap is None
    everything_off = compute.Effort(100, 0, 100, 4, 0, 4)
    assert compute.alignment(everything_off, 0.9).gap == 100  # capped


def test_effects_mean_of_shortfalls_against_the_baseline() -> None:
    actual = compute.Outcomes(won=1, lost=3, won_cents=500, cycle_days={60: 1})
    baseline = compute.Outcomes(won=2, lost=2, won_cents=1000, cycle_days={30: 1, 50: 1})
    result = compute.effects(actual, baseline, compute.Expectations())
    assert result.win_rate_shortfall == pytest.approx(0.5)  # 25% vs 50%
    assert result.cycle_overrun == pytest.approx(0.5)  # 60 vs 40 days
    assert result.value_shortfall == pytest.approx(0.5)  # 500 vs 1000
    assert result.gap == pytest.approx(50)


def test_effects_uses_the_plan_and_prorates_a_period_under_way() -> None:
    actual = compute.Outcomes(won=1, lost=1, won_cents=500, cycle_days={20: 1})
    plan = compute.Expectations(win_rate=0.5, cycle_days=40, won_cents=2000)
    result = compute.effects(
        actual,
        compute.Outcomes(),
        plan,
        elapsed_fraction=0.25,
        initiatives_implemented=4,
        initiatives_unconfirmed=1,
    )
    assert result.win_rate_shortfall == 0
    assert result.cycle_overrun == 0
    assert result.value_shortfall == 0  # 500 of 2000 x 25% elapsed
    assert result.unconfirmed_share == pytest.approx(0.25)
    assert result.gap == pytest.approx(100 * 0.25 / 4)


def test_forecast_spread_of_certain_and_coin_flip_deals() -> None:
    certain, coin = compute.forecast_spreads([1000, 500], [100, 50], [0, 1], 2)
    assert certain is not None
    assert coin is not None
    assert certain.width_cents == 0
    assert certain.expected_cents == 1000
    assert coin.p10_cents == 0
    assert coin.p90_cents == 500
    assert coin.expected_cents == 250
    assert compute.forecast_spreads([], [], [], 1) == [None]


def test_forecast_spread_grows_with_uncertainty() -> None:
    amounts = [100] * 50
    sure = compute.forecast_spreads(amounts, [90] * 50, [0] * 50, 1)[0]
    unsure = compute.forecast_spreads(amounts, [50] * 50, [0] * 50, 1)[0]
    assert sure is not None
    assert unsure is not None
    assert unsure.width_cents / unsure.expected_cents > sure.width_cents / sure.expected_cents


def test_knowledge_mean_of_missing_shares_and_relative_spread() -> None:
    spread = compute.Spread(expected_cents=1000, p10_cents=600, p90_cents=1400)
    result = compute.knowledge(compute.Evidence(open_deals=4, unqualified=2, stale=1, unmapped=0), spread)
    assert result.relative_spread == pytest.approx(0.8)
    assert result.gap == pytest.approx(100 * (0.5 + 0.25 + 0 + 0.8) / 4)
    assert compute.knowledge(compute.Evidence(), None).gap is None


@pytest.mark.parametrize(
    ("gap", "severity"), [(None, "unknown"), (0, "ok"), (9.9, "ok"), (10, "watch"), (25, "high")]
)
def test_severity_bands(gap: float | None, severity: str) -> None:
    assert compute.severity(gap) == severity


def test_outcomes_total_equals_adding_them_one_by_one() -> None:
    parts = [
        compute.Outcomes(won=2, lost=1, won_cents=700, cycle_days={30: 1, 45: 1}),
        compute.Outcomes(won=0, lost=4, won_cents=0),
        compute.Outcomes(won=3, lost=0, won_cents=900, cycle_days={45: 2, 90: 1}),
    ]
    total = compute.Outcomes.total(parts)
    assert total == parts[0] + parts[1] + parts[2]
    assert total == compute.Outcomes(won=5, lost=5, won_cents=1600, cycle_days={30: 1, 45: 3, 90: 1})
    assert total.median_cycle() == 45
    assert compute.Outcomes.total([]) == compute.Outcomes()
    assert parts[0].cycle_days == {30: 1, 45: 1}  # the parts are left as they were
