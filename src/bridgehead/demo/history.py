"""Complete stage history: every deal's changes of stage, close date and amount, as full snapshots.

Each deal's rows are built set-wise from four kinds of event: the stage ladder it climbed (with the
odd skipped rung), an occasional regression, close-date slips and amount changes, closed by the
won or lost row. Events are ordered by a sort key, then each row's snapshot is reconstructed
backwards from the deal's final values, so the last row always equals the opportunity.
"""

from __future__ import annotations

import numpy as np

from bridgehead.demo.pipeline import FORECAST_LABELS, STAGE_NAMES, STAGE_PROBABILITIES, Deals
from bridgehead.demo.sampling import DAY, BoolArray, IntArray, group_starts, rank_in_group, working_hour
from bridgehead.demo.writer import BulkWriter, Codes, Dates, Ints, Timestamps

# Spaces deals apart in one running maximum; larger than any epoch second we generate.
_DEAL_STRIDE = 2**33
# Share of deals with 1, 2, 3 close-date slips (25% slip at least once, 8% twice or more).
_SLIP_SHARES = (0.17, 0.06, 0.02)
_AMOUNT_CHANGE_SHARES = (0.12, 0.03)
_REGRESSION_SHARE = 0.08


def _counts(rng: np.random.Generator, eligible: BoolArray, shares: tuple[float, ...]) -> IntArray:
    """0, 1, 2 … events per deal with the given shares overall, given only to eligible deals."""
    boost = len(eligible) / max(int(eligible.sum()), 1)
    probabilities = np.asarray(shares) * boost
    probabilities *= min(1.0, 0.95 / probabilities.sum())
    bucket = np.searchsorted(np.cumsum(probabilities), rng.random(len(eligible)), side="right")
    counts: IntArray = np.where(eligible & (bucket < len(shares)), bucket + 1, 0).astype(np.int64)
    return counts


def build_history(rng: np.random.Generator, writer: BulkWriter, deals: Deals) -> int:
    """Insert the stage history of every deal; return the number of rows."""
    n = deals.count
    deal_index = np.arange(n, dtype=np.int64)

    # The ladder: one row per stage from entry to the highest reached, some middle rungs skipped.
    ladder_length = deals.reached_stage - deals.entry_stage + 1
    ladder_deal = np.repeat(deal_index, ladder_length)
    ladder_rank = rank_in_group(ladder_deal, group_starts(ladder_deal, n))
    middle = (ladder_rank > 0) & (ladder_rank < ladder_length[ladder_deal] - 1)
    keep = ~(middle & (rng.random(len(ladder_deal)) < 0.12))
    ladder_deal, ladder_stage = ladder_deal[keep], (deals.entry_stage[ladder_deal] + ladder_rank)[keep]
    ladder_starts = group_starts(ladder_deal, n)
    ladder_key = rank_in_group(ladder_deal, ladder_starts).astype(np.float64)
    kept = np.diff(ladder_starts)

    # Closing rows come after everything else.
    closed = np.flatnonzero(deals.is_closed)
    close_key = kept[closed].astype(np.float64)

    # A regression: after rung j (not the first) the deal steps back one stage, then moves on.
    last_with_successor = np.where(deals.is_closed, kept - 1, kept - 2)
    regress_eligible = last_with_successor >= 1
    regress_share = min(1.0, _REGRESSION_SHARE * n / max(int(regress_eligible.sum()), 1))
    regress = np.flatnonzero(regress_eligible & (rng.random(n) < regress_share))
    rung = 1 + (rng.random(len(regress)) * last_with_successor[regress]).astype(np.int64)
    regress_stage = ladder_stage[ladder_starts[regress] + rung] - 1
    regress_key = rung + 0.5

    # Slips push the close date out; only deals with a cycle long enough to slip get them.
    created_day = deals.created_s // DAY
    room = deals.close_day - created_day - 7
    slips = _counts(rng, room >= 21, _SLIP_SHARES)
    slip_deal = np.repeat(deal_index, slips)
    raw_days = rng.integers(14, 46, size=len(slip_deal))
    raw_total = np.bincount(slip_deal, weights=raw_days, minlength=n)
    fit = np.minimum(1.0, room / np.maximum(raw_total, 1.0))
    slip_days = np.maximum(1, np.floor(raw_days * fit[slip_deal])).astype(np.int64)

    changes = _counts(rng, np.ones(n, dtype=bool), _AMOUNT_CHANGE_SHARES)
    change_deal = np.repeat(deal_index, changes)
    grow = rng.random(len(change_deal)) < 0.5
    factor = np.where(grow, rng.uniform(1.1, 1.5, len(change_deal)), rng.uniform(0.7, 0.92, len(change_deal)))

    # Slips and amount changes fall anywhere after the first row and, for closed deals, before the close.
    modifier_deal = np.concatenate([slip_deal, change_deal])
    span = kept[modifier_deal].astype(np.float64)
    modifier_key = rng.uniform(0.01, 0.99, len(modifier_deal)) * span

    deal = np.concatenate([ladder_deal, closed, regress, modifier_deal])
    key = np.concatenate([ladder_key, close_key, regress_key, modifier_key])
    stage = np.concatenate([
        ladder_stage, deals.final_stage[closed], regress_stage, np.full(len(modifier_deal), -1, dtype=np.int64)
    ])  # fmt: skip
    delta = np.concatenate([np.zeros(len(deal) - len(modifier_deal), dtype=np.int64), slip_days,
                            np.zeros(len(change_deal), dtype=np.int64)])  # fmt: skip
    log_factor = np.concatenate([np.zeros(len(deal) - len(change_deal)), np.log(factor)])
    is_change = np.concatenate([np.zeros(len(deal) - len(change_deal), dtype=np.int64),
                                np.ones(len(change_deal), dtype=np.int64)])  # fmt: skip

    order = np.lexsort((key, deal))
    deal, stage, delta, log_factor, is_change = (
        deal[order],
        stage[order],
        delta[order],
        log_factor[order],
        is_change[order],
    )
    total = len(deal)
    starts = group_starts(deal, n)
    last_row = starts[1:][deal] - 1

    # Modifier rows carry the stage of the row before; every deal opens with a stage row.
    stage_source = np.maximum.accumulate(np.where(stage >= 0, np.arange(total), 0))
    stage = stage[stage_source]
    # Snapshots before a change hold the values the later changes had not yet made.
    slip_cumulative = np.cumsum(delta)
    close_day = deals.close_day[deal] - (slip_cumulative[last_row] - slip_cumulative)
    factor_cumulative = np.cumsum(log_factor)
    change_cumulative = np.cumsum(is_change)
    later_changes = change_cumulative[last_row] - change_cumulative
    final_amount = deals.amount_cents[deal]
    earlier_amount = np.maximum(
        np.round(final_amount * np.exp(-(factor_cumulative[last_row] - factor_cumulative)), -4), 100_000
    ).astype(np.int64)
    amount = np.where(later_changes == 0, final_amount, earlier_amount)

    changed_at = _change_times(rng, deals, deal, starts)
    columns = {
        "id": Ints(np.arange(1, total + 1, dtype=np.int64)),
        "opportunity_id": Ints(deal + 1),
        "changed_at": Timestamps(changed_at),
        "changed_by_id": Ints(deals.owner_id[deal]),
        "stage": Codes(stage, STAGE_NAMES),
        "amount": Ints(amount),
        "close_date": Dates(close_day),
        "probability": Ints(STAGE_PROBABILITIES[stage]),
        "forecast_category": Codes(stage, FORECAST_LABELS),
    }
    writer.insert_raw("opportunity_history", columns, total, "stage history")
    return total


def _change_times(rng: np.random.Generator, deals: Deals, deal: IntArray, starts: IntArray) -> IntArray:
    """Strictly increasing times per deal: the first row at creation, the last at the deal's end.

    Middle rows fall on a random day of the deal's life at a working hour; sorting them inside each
    deal keeps the rows' semantic order, and a running maximum makes the times strictly increasing.
    """
    rank = rank_in_group(deal, starts)
    rows = np.diff(starts)[deal]
    created, end = deals.created_s[deal], deals.end_s[deal]
    first_day = created // DAY
    day = first_day + (rng.random(len(deal)) * (end // DAY - first_day + 1)).astype(np.int64)
    times = day * DAY + working_hour(rng, len(deal))
    times = times[np.lexsort((times, deal))]
    times[rank == rows - 1] = end[rank == rows - 1]
    times[rank == 0] = created[rank == 0]
    # t_i - i non-decreasing within [created, end - rows + 1] gives strictly increasing t_i in range.
    slack = np.clip(times - rank, created, end - rows + 1)
    offset = deal * _DEAL_STRIDE
    slack = np.maximum.accumulate(slack + offset) - offset
    result: IntArray = slack + rank
    return result
