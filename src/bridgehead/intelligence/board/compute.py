"""The three gaps as pure arithmetic over plain numbers and numpy arrays: no session, no ORM objects.

Every gap is one number from 0 (no gap) to 100 (the whole of it is a gap); higher is worse.
Each is built from shares or relative shortfalls between 0 and 1, so the parts are comparable:

- alignment = 100 x min(1, max(0, planned share - effort share) + off-strategy share), where the
  effort share is the mean of the priority's share of new pipeline (money) and of activities, and
  the off-strategy share is the mean of the same two shares at deprioritised segments;
- effects = 100 x mean of the shortfalls against the plan's expectations that can be measured:
  win rate (1 - actual / expected), sales cycle (actual / expected - 1, at most 1), won value
  (1 - actual / expected) and initiatives implemented without confirmed value (share);
- knowledge = 100 x mean of the shares of open priority deals without qualification evidence,
  without activity in the freshness window and without a stakeholder map, and of the forecast
  spread (P90 - P10) relative to the stage-weighted forecast (at most 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bridgehead.intelligence.metrics import compute as metrics_compute

# Monte Carlo draws of the forecast distribution; fixed seed so the same data gives the same number.
FORECAST_DRAWS = 1_000
FORECAST_SEED = 20_261_203
# Cells of the draws x deals matrix simulated at once (keeps memory flat on large books).
_CHUNK_CELLS = 4_000_000
# Severity bands of a gap number (points out of 100).
WATCH_FROM = 10.0
HIGH_FROM = 25.0


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return None if not present else float(np.mean(present))


def severity(gap: float | None) -> str:
    """``ok`` below 10 points, ``watch`` from 10, ``high`` from 25, ``unknown`` without a number."""
    if gap is None:
        return "unknown"
    if gap >= HIGH_FROM:
        return "high"
    return "watch" if gap >= WATCH_FROM else "ok"


# --- alignment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effort:
    """Effort of one group in one period: new pipeline (cents) and activities, in total, toward the
    priority, and at deprioritised segments."""

    created_cents: int = 0
    priority_cents: int = 0
    off_strategy_cents: int = 0
    activities: int = 0
    priority_activities: int = 0
    off_strategy_activities: int = 0

    def __add__(self, other: Effort) -> Effort:
        return Effort(
            self.created_cents + other.created_cents,
            self.priority_cents + other.priority_cents,
            self.off_strategy_cents + other.off_strategy_cents,
            self.activities + other.activities,
            self.priority_activities + other.priority_activities,
            self.off_strategy_activities + other.off_strategy_activities,
        )


@dataclass(frozen=True)
class Alignment:
    """The alignment gap and the shares it is made of (0-1; None when nothing was measured)."""

    gap: float | None
    planned_share: float
    effort_share: float | None
    pipeline_share: float | None
    activity_share: float | None
    off_strategy_share: float | None


def alignment(effort: Effort, planned_share: float) -> Alignment:
    """Planned share of effort vs the effort that went to the priority, plus effort spent against it."""
    pipeline_share = _share(effort.priority_cents, effort.created_cents)
    activity_share = _share(effort.priority_activities, effort.activities)
    effort_share = _mean([pipeline_share, activity_share])
    off_share = _mean(
        [
            _share(effort.off_strategy_cents, effort.created_cents),
            _share(effort.off_strategy_activities, effort.activities),
        ]
    )
    gap = None
    if effort_share is not None:
        shortfall = max(0.0, planned_share - effort_share)
        gap = 100.0 * min(1.0, shortfall + (off_share or 0.0))
    return Alignment(gap, planned_share, effort_share, pipeline_share, activity_share, off_share)


# --- effects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """Closed priority deals of one group in one window: counts, won cents and won cycle days."""

    won: int = 0
    lost: int = 0
    won_cents: int = 0
    # Won cycle days as a histogram: days -> deals.
    cycle_days: dict[int, int] = field(default_factory=dict)

    def __add__(self, other: Outcomes) -> Outcomes:
        days = dict(self.cycle_days)
        for day, count in other.cycle_days.items():
            days[day] = days.get(day, 0) + count
        return Outcomes(self.won + other.won, self.lost + other.lost, self.won_cents + other.won_cents, days)

    @staticmethod
    def total(parts: Iterable[Outcomes]) -> Outcomes:
        """The sum of ``parts``: one histogram filled in place (adding one part at a time copies
        the growing histogram each time; a company sums a thousand owners)."""
        won = lost = won_cents = 0
        days: dict[int, int] = {}
        for part in parts:
            won, lost, won_cents = won + part.won, lost + part.lost, won_cents + part.won_cents
            for day, count in part.cycle_days.items():
                days[day] = days.get(day, 0) + count
        return Outcomes(won, lost, won_cents, days)

    def win_rate(self) -> float | None:
        """Won ÷ (won + lost), the metrics engine's definition."""
        return metrics_compute.win_rate(self.won, self.lost)

    def median_cycle(self) -> float | None:
        """Median days from creation to close of the won deals (the metrics engine's median)."""
        if not self.cycle_days:
            return None
        return metrics_compute.median_from_histogram(list(self.cycle_days), list(self.cycle_days.values()))


@dataclass(frozen=True)
class Expectations:
    """What the plan expects; None where the plan says nothing (the baseline then stands in)."""

    win_rate: float | None = None
    cycle_days: float | None = None
    won_cents: float | None = None


@dataclass(frozen=True)
class Effects:
    """The effects gap and its parts (each a shortfall from 0 to 1, None when not measurable)."""

    gap: float | None
    win_rate: float | None
    expected_win_rate: float | None
    win_rate_shortfall: float | None
    median_cycle_days: float | None
    expected_cycle_days: float | None
    cycle_overrun: float | None
    won_cents: int
    expected_won_cents: float | None
    value_shortfall: float | None
    initiatives_implemented: int
    initiatives_unconfirmed: int
    unconfirmed_share: float | None


def effects(
    actual: Outcomes,
    baseline: Outcomes,
    plan: Expectations,
    *,
    elapsed_fraction: float = 1.0,
    initiatives_implemented: int = 0,
    initiatives_unconfirmed: int = 0,
) -> Effects:
    """Actual outcomes vs the plan's expectations, the prior equal window standing in where the plan
    is silent; ``elapsed_fraction`` scales the expected value of a period still under way."""
    rate = actual.win_rate()
    expected_rate = plan.win_rate if plan.win_rate is not None else baseline.win_rate()
    rate_shortfall = max(0.0, 1.0 - rate / expected_rate) if rate is not None and expected_rate else None
    cycle = actual.median_cycle()
    expected_cycle = plan.cycle_days if plan.cycle_days is not None else baseline.median_cycle()
    overrun = (
        min(1.0, max(0.0, cycle / expected_cycle - 1.0)) if cycle is not None and expected_cycle else None
    )
    expected_value = plan.won_cents if plan.won_cents is not None else float(baseline.won_cents)
    expected_value *= elapsed_fraction
    value_shortfall = max(0.0, 1.0 - actual.won_cents / expected_value) if expected_value > 0 else None
    unconfirmed = _share(initiatives_unconfirmed, initiatives_implemented)
    parts = [rate_shortfall, overrun, value_shortfall, unconfirmed]
    mean = _mean(parts)
    return Effects(
        gap=None if mean is None else 100.0 * mean,
        win_rate=rate,
        expected_win_rate=expected_rate,
        win_rate_shortfall=rate_shortfall,
        median_cycle_days=cycle,
        expected_cycle_days=expected_cycle,
        cycle_overrun=overrun,
        won_cents=actual.won_cents,
        expected_won_cents=expected_value if expected_value > 0 else None,
        value_shortfall=value_shortfall,
        initiatives_implemented=initiatives_implemented,
        initiatives_unconfirmed=initiatives_unconfirmed,
        unconfirmed_share=unconfirmed,
    )


# --- knowledge ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Open priority deals of one group at one moment, and how many lack each kind of evidence."""

    open_deals: int = 0
    unqualified: int = 0
    stale: int = 0
    unmapped: int = 0

    def __add__(self, other: Evidence) -> Evidence:
        return Evidence(
            self.open_deals + other.open_deals,
            self.unqualified + other.unqualified,
            self.stale + other.stale,
            self.unmapped + other.unmapped,
        )


@dataclass(frozen=True)
class Spread:
    """The stage-weighted forecast as a distribution: expected value, P10 and P90 (cents)."""

    expected_cents: float
    p10_cents: float
    p90_cents: float

    @property
    def width_cents(self) -> float:
        """P90 - P10."""
        return self.p90_cents - self.p10_cents


@dataclass(frozen=True)
class Knowledge:
    """The knowledge gap and its parts (shares 0-1, None when there is nothing to measure)."""

    gap: float | None
    open_deals: int
    unqualified_share: float | None
    stale_share: float | None
    unmapped_share: float | None
    spread: Spread | None
    relative_spread: float | None


def forecast_spreads(
    amounts_cents: npt.ArrayLike,
    probabilities_percent: npt.ArrayLike,
    groups: npt.ArrayLike,
    group_count: int,
    *,
    draws: int = FORECAST_DRAWS,
    seed: int = FORECAST_SEED,
) -> list[Spread | None]:
    """The forecast distribution of each group: every deal wins its amount with its stage
    probability, independently; P10/P90 of the group's total over ``draws`` simulated outcomes.

    ``groups`` gives each deal's group index (0 to ``group_count`` - 1); a group without deals gets None.
    """
    amounts = np.asarray(amounts_cents, dtype=np.float64)
    probabilities = np.clip(np.asarray(probabilities_percent, dtype=np.float64) / 100.0, 0.0, 1.0)
    group_index = np.asarray(groups, dtype=np.int64)
    if amounts.size == 0:
        return [None] * group_count
    # Deal amounts spread onto their group's column: outcomes @ weights sums each group per draw.
    weights = np.zeros((amounts.size, group_count))
    weights[np.arange(amounts.size), group_index] = amounts
    totals = np.zeros((draws, group_count))
    rng = np.random.default_rng(seed)
    thresholds = probabilities.astype(np.float32)
    rows_per_chunk = max(1, _CHUNK_CELLS // amounts.size)
    for start in range(0, draws, rows_per_chunk):
        rows = min(rows_per_chunk, draws - start)
        # Single precision is plenty to decide win or loss, and halves the work.
        outcomes = (rng.random((rows, amounts.size), dtype=np.float32) < thresholds).astype(np.float64)
        totals[start : start + rows] = outcomes @ weights
    p10, p90 = np.percentile(totals, [10, 90], axis=0)
    expected = probabilities @ weights
    present = np.bincount(group_index, minlength=group_count) > 0
    return [
        Spread(float(expected[g]), float(p10[g]), float(p90[g])) if present[g] else None
        for g in range(group_count)
    ]


def knowledge(evidence: Evidence, spread: Spread | None) -> Knowledge:
    """Shares of open deals lacking evidence, and the forecast spread relative to its expected value."""
    relative = (
        min(1.0, spread.width_cents / spread.expected_cents)
        if spread is not None and spread.expected_cents > 0
        else None
    )
    shares = [
        _share(evidence.unqualified, evidence.open_deals),
        _share(evidence.stale, evidence.open_deals),
        _share(evidence.unmapped, evidence.open_deals),
    ]
    mean = _mean([*shares, relative])
    return Knowledge(
        gap=None if mean is None else 100.0 * mean,
        open_deals=evidence.open_deals,
        unqualified_share=shares[0],
        stale_share=shares[1],
        unmapped_share=shares[2],
        spread=spread,
        relative_spread=relative,
    )


def contribution(member_gap: float | None, member_weight: float, total_weight: float) -> float | None:
    """A member's part of its unit's gap: its own gap x its share of the unit's weight (points)."""
    if member_gap is None or total_weight <= 0:
        return None
    return member_gap * member_weight / total_weight
