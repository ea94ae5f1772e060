"""Pure metric arithmetic over plain numbers and numpy arrays: no session, no ORM objects.

Ratios are floats (they are not money); money is integer cents in and ``Decimal`` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt

CENT = Decimal("0.01")


def cents_to_money(cents: int) -> Decimal:
    """Integer cents as a ``Decimal`` amount with two places."""
    return (Decimal(int(cents)) / 100).quantize(CENT)


def win_rate(won: int, lost: int) -> float | None:
    """Won ÷ (won + lost); None when nothing closed."""
    closed = won + lost
    return None if closed == 0 else won / closed


def average_cents(total_cents: int, count: int) -> Decimal | None:
    """Average amount (as money) of ``count`` deals worth ``total_cents``; None for no deals."""
    if count == 0:
        return None
    return (Decimal(int(total_cents)) / count / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def median_from_histogram(values: npt.ArrayLike, counts: npt.ArrayLike) -> float | None:
    """The median of a multiset given as distinct values and their counts (the mean of the two
    middle values when the total is even, as ``statistics.median``); None when empty."""
    value_array = np.asarray(values, dtype=np.float64)
    count_array = np.asarray(counts, dtype=np.int64)
    keep = count_array > 0
    value_array, count_array = value_array[keep], count_array[keep]
    total = int(count_array.sum())
    if total == 0:
        return None
    order = np.argsort(value_array, kind="stable")
    value_array, cumulative = value_array[order], np.cumsum(count_array[order])
    # 0-based positions of the two middle elements (the same one when the total is odd).
    lower = value_array[np.searchsorted(cumulative, (total - 1) // 2, side="right")]
    upper = value_array[np.searchsorted(cumulative, total // 2, side="right")]
    return float((lower + upper) / 2)


def mean_from_histogram(pairs: Sequence[tuple[int, int]]) -> float | None:
    """The mean of a multiset given as (value, count) pairs; None when empty."""
    total = sum(count for _, count in pairs)
    return None if total == 0 else sum(value * count for value, count in pairs) / total


def pipeline_velocity(
    qualified_open: int, rate: float | None, average_won: Decimal | None, average_cycle_days: float | None
) -> Decimal | None:
    """Money per day the pipeline is expected to turn into wins:
    open qualified deals x win rate x average won amount ÷ average cycle days (None if an input is missing)."""
    if rate is None or average_won is None or not average_cycle_days:
        return None
    per_day = Decimal(qualified_open) * Decimal(str(rate)) * average_won / Decimal(str(average_cycle_days))
    return per_day.quantize(CENT, rounding=ROUND_HALF_UP)


def coverage(open_cents: int, target: Decimal | None) -> float | None:
    """Open pipeline ÷ target (None without a target)."""
    if target is None or target <= 0:
        return None
    return float(cents_to_money(open_cents) / target)


def weighted_forecast(weighted_cents_percent: int) -> Decimal:
    """Σ amount x probability over open deals, from cents x percent."""
    return (Decimal(int(weighted_cents_percent)) / 10_000).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FunnelStep:
    """How many deals reached a stage, and the share of them that reached the next one."""

    stage: str
    reached: int
    conversion_to_next: float | None


def funnel(stages: Sequence[str], reach: Sequence[tuple[int, bool, int]]) -> list[FunnelStep]:
    """Stage conversion from (highest open-stage rank reached, won?, deals).

    A deal reached stage k when its highest rank is k or more (skipped rungs count as passed), and a
    won deal passed every open stage; the last step converts into "Won".
    """
    count = len(stages)
    reached_at_least = np.zeros(count + 2, dtype=np.int64)
    won_total = 0
    for rank, won, deals in reach:  # one row per distinct (rank, won): a handful, not per deal
        top = count - 1 if won else rank
        if top >= 0:
            reached_at_least[0] += deals
            reached_at_least[min(top, count - 1) + 1] -= deals
        won_total += deals if won else 0
    per_stage = np.cumsum(reached_at_least)[:count]
    steps: list[FunnelStep] = []
    for index, stage in enumerate(stages):
        reached = int(per_stage[index])
        following = int(per_stage[index + 1]) if index + 1 < count else won_total
        steps.append(FunnelStep(stage, reached, None if reached == 0 else following / reached))
    steps.append(FunnelStep("Won", won_total, None))
    return steps


@dataclass(frozen=True)
class BridgeBar:
    """One bar of a pipeline waterfall: its change and the running total before and after it."""

    label: str
    amount: Decimal
    start: Decimal
    end: Decimal
    deals: int


WATERFALL_ORDER = (
    ("new", "New", 1),
    ("pulled_in", "Pulled in", 1),
    ("changed_amount", "Changed amount", 1),
    ("pushed", "Pushed out", -1),
    ("won", "Won", -1),
    ("lost", "Lost", -1),
)


def bridge(start_cents: int, movements: dict[str, tuple[int, int]]) -> list[BridgeBar]:
    """The waterfall from the starting pipeline through each movement to the end.

    ``movements`` maps a category of ``WATERFALL_ORDER`` to (deals, cents); cents are the size of
    the movement (positive), except changed amount, which carries its own sign.
    """
    bars = [BridgeBar("Start", cents_to_money(start_cents), Decimal(0), cents_to_money(start_cents), 0)]
    running = start_cents
    for key, label, sign in WATERFALL_ORDER:
        deals, cents = movements.get(key, (0, 0))
        change = cents * sign
        bars.append(
            BridgeBar(
                label,
                cents_to_money(change),
                cents_to_money(running),
                cents_to_money(running + change),
                deals,
            )
        )
        running += change
    bars.append(BridgeBar("End", cents_to_money(running), Decimal(0), cents_to_money(running), 0))
    return bars
