"""Opportunities and their contact roles, with win odds driven by real, discoverable causes.

Whether a deal is won depends on how many buyer contacts are engaged (multi-threading), the
owner's latent skill, segment fit (enterprise financial services wins most) and competition.
Which accounts get new pipeline follows the story: enterprise teams lean into enterprise
financial services over the eight quarters, while commercial and mid-market teams drift ever
further into small accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridgehead.demo.accounts import Accounts
from bridgehead.demo.catalogue import (
    CONTACT_ROLES,
    DEAL_TYPE_WEIGHTS,
    DEAL_TYPES,
    LEAD_SOURCE_WEIGHTS,
    LEAD_SOURCES,
    LOSS_REASONS,
    LOST_STAGE,
    PRODUCT_WEIGHTS,
    PRODUCTS,
    ROLES_BY_SENIORITY,
    STAGES,
    WON_STAGE,
)
from bridgehead.demo.names import COMPETITORS
from bridgehead.demo.organisation import Organisation
from bridgehead.demo.sampling import (
    DAY,
    BoolArray,
    FloatArray,
    IntArray,
    Timeline,
    apportion,
    choose_by_group,
    group_starts,
    off_weekend,
    rank_in_group,
    sigmoid,
    working_hour,
)
from bridgehead.demo.writer import Bools, BulkWriter, Codes, Computed, Constant, Dates, Ints, Timestamps

OPPORTUNITIES_AT_SCALE_ONE = 25_000
RENEWAL = DEAL_TYPES.index("Renewal")
_NAME_SUFFIX = ("", " expansion", " renewal")
_DASH = "\u2013"  # an en dash, as CRM deal names use between account and product
_MEDIAN_AMOUNT = (9_000.0, 38_000.0, 150_000.0)  # USD, by segment
_TYPE_AMOUNT = (1.0, 0.65, 0.85)
_PRODUCT_AMOUNT = (1.3, 1.0, 1.0, 0.9, 0.8, 0.4)
STAGE_PROBABILITIES = np.asarray([stage.probability for stage in STAGES], dtype=np.int64)
STAGE_NAMES = [stage.name for stage in STAGES]
FORECAST_LABELS = [stage.forecast_category.value for stage in STAGES]


@dataclass(frozen=True)
class Deals:
    """Every opportunity's final state, plus what the history and activity generators need."""

    account: IntArray  # account index
    owner_rep: IntArray  # index into Organisation.rep_ids
    owner_id: IntArray
    created_s: IntArray
    end_s: IntArray  # time of the last change: the close for closed deals
    close_day: IntArray
    entry_stage: IntArray
    reached_stage: IntArray  # highest open stage reached (the current one for open deals)
    final_stage: IntArray
    is_closed: BoolArray
    is_won: BoolArray
    amount_cents: IntArray
    product: IntArray
    segment: IntArray
    deal_type: IntArray
    lead_source: IntArray
    competitor: IntArray  # index into COMPETITORS, -1 when none is in the deal
    loss_reason: IntArray  # index into LOSS_REASONS, -1 unless closed lost
    drifting: BoolArray  # owned by a commercial or mid-market team
    role_start: IntArray  # first contact-role row of each deal (+ end)
    role_contact: IntArray  # contact index per contact-role row

    @property
    def count(self) -> int:
        """Number of opportunities."""
        return len(self.account)


def _quarterly_accounts(
    rng: np.random.Generator, timeline: Timeline, count: int, accounts: Accounts, drifting: BoolArray
) -> tuple[IntArray, IntArray]:
    """Which account each new deal is for and when it was created, quarter by quarter."""
    bounds = timeline.quarter_bounds()
    # A growing business: each quarter brings ~5% more new pipeline than the one before.
    weights = [max(0, stop - start) * 1.05**quarter for quarter, (start, stop) in enumerate(bounds)]
    per_quarter = apportion(count, weights)
    small = accounts.segment == 0
    enterprise_fs = (accounts.segment == 2) & accounts.financial
    base = np.asarray([1.0, 1.5, 3.2])[accounts.segment]
    chosen: list[IntArray] = []
    created: list[IntArray] = []
    for quarter, ((start, stop), size) in enumerate(zip(bounds, per_quarter, strict=True)):
        if size == 0:
            continue
        t = quarter / (len(bounds) - 1)
        drift = np.ones(accounts.count)
        drift[drifting & small] = 2.4 + 1.6 * t
        drift[drifting & enterprise_fs] = 1.0 - 0.5 * t
        drift[~drifting & enterprise_fs] = 1.0 + 0.8 * t
        drift[~drifting & small] = 1.0 - 0.3 * t
        weight = base * drift
        chosen.append(rng.choice(accounts.count, size=size, p=weight / weight.sum()))
        days = rng.integers(start // DAY, stop // DAY, size=size)
        created.append(off_weekend(days * DAY + working_hour(rng, size), start))
    created_s = np.concatenate(created)
    # Ids follow creation order, as they would in a real CRM.
    order = np.argsort(created_s, kind="stable")
    return np.concatenate(chosen)[order].astype(np.int64), created_s[order].astype(np.int64)


def generate_deals(
    rng: np.random.Generator, timeline: Timeline, scale: float, org: Organisation, accounts: Accounts
) -> Deals:
    """Draw every opportunity (no database access)."""
    count = max(200, round(OPPORTUNITIES_AT_SCALE_ONE * scale))
    account_drifting = org.rep_drifting[accounts.owner_rep]
    account, created_s = _quarterly_accounts(rng, timeline, count, accounts, account_drifting)

    segment = accounts.segment[account]
    financial = accounts.financial[account]
    enterprise_fs = (segment == 2) & financial
    owner_rep = accounts.owner_rep[account]
    skill = org.rep_skill[owner_rep]
    deal_type = choose_by_group(rng, segment, DEAL_TYPE_WEIGHTS)
    lead_source = choose_by_group(rng, segment, LEAD_SOURCE_WEIGHTS)
    product = choose_by_group(rng, segment, PRODUCT_WEIGHTS)
    amount_dollars = (
        np.asarray(_MEDIAN_AMOUNT)[segment]
        * np.where(enterprise_fs, 1.35, 1.0)
        * np.asarray(_TYPE_AMOUNT)[deal_type]
        * np.asarray(_PRODUCT_AMOUNT)[product]
        * rng.lognormal(0.0, 0.55, count)
    )
    amount_dollars = np.maximum(np.round(amount_dollars, -2), 1_500.0)

    # Multi-threading: bigger accounts and better reps engage more of the buying committee.
    contacts_available = np.diff(accounts.contact_start)[account]
    thread_odds = sigmoid(-1.3 + 0.9 * (segment == 1) + 1.7 * (segment == 2) + 0.9 * skill)
    n_roles = np.minimum(1 + rng.binomial(4, thread_odds), contacts_available).astype(np.int64)
    competition_odds = np.asarray([0.30, 0.42, 0.55])[segment] * np.where(deal_type == RENEWAL, 0.5, 1.0)
    has_competitor = rng.random(count) < competition_odds
    competitor = np.where(
        has_competitor, choose_by_group(rng, np.zeros(count, dtype=np.int64), [[5, 4, 3, 3, 2, 1]]), -1
    )

    segment_fit = np.asarray([-0.45, 0.0, 0.2])[segment] + np.where(
        enterprise_fs, 0.55, np.where(financial & (segment == 1), 0.15, 0.0)
    )
    # Some deals stall: the buyer goes quiet for months. Stalled deals win less and stay open long
    # past plan, which is what keeps a real CRM's open pipeline full of slipped deals.
    stalled = rng.random(count) < 0.28
    win_logit = (
        -1.3
        - 0.7 * stalled
        + 0.6 * (n_roles - 1)
        + skill
        + segment_fit
        - 0.8 * has_competitor
        + np.asarray([0.0, 0.5, 1.3])[deal_type]
        + np.asarray([0.1, 0.0, 0.2, 0.0, 0.35])[lead_source]
    )
    will_win = rng.random(count) < sigmoid(win_logit)

    # Bigger deals take longer (about a month at $10k, three at $150k); renewals are quicker.
    renewal_pace = np.where(deal_type == RENEWAL, 0.7, 1.0)
    median_cycle = 30.0 * (amount_dollars / 10_000.0) ** 0.42 * renewal_pace
    cycle_days = np.clip(rng.lognormal(np.log(median_cycle), 0.5), 10.0, 400.0)
    warm_lead = np.isin(lead_source, [LEAD_SOURCES.index("Inbound"), LEAD_SOURCES.index("Referral")])
    entry_stage = np.where(warm_lead & (rng.random(count) < 0.5), 1, 0).astype(np.int64)
    # Lost deals drop out early more often than late.
    advances = np.minimum(rng.geometric(0.45, count) - 1, 4 - entry_stage)
    lost_fraction = (0.25 + 0.75 * (advances + 1) / (5 - entry_stage)) * rng.uniform(0.8, 1.1, count)
    stall_factor = np.where(stalled, rng.uniform(5.0, 12.0, count), 1.0)
    duration_days = np.maximum(np.where(will_win, cycle_days, cycle_days * lost_fraction) * stall_factor, 2.0)
    close_day_if_closed = (created_s + (duration_days * DAY).astype(np.int64)) // DAY
    close_s = off_weekend(close_day_if_closed * DAY + working_hour(rng, count), created_s + DAY)
    is_closed = close_s < timeline.end_seconds
    is_won = is_closed & will_win

    path_top = np.where(will_win, 4, entry_stage + advances)
    open_stage, open_close_day, open_end_s = _open_state(
        rng, timeline, created_s, duration_days, entry_stage, path_top
    )
    reached_stage = np.where(is_closed, path_top, open_stage)
    final_stage = np.where(is_closed, np.where(will_win, WON_STAGE, LOST_STAGE), open_stage).astype(np.int64)
    close_day = np.where(is_closed, close_s // DAY, open_close_day).astype(np.int64)
    end_s = np.where(is_closed, close_s, open_end_s).astype(np.int64)

    lost = is_closed & ~will_win
    # Competitive losses name the competitor; the rest lose on price, indecision, timing or fit.
    competitive_loss = has_competitor & (rng.random(count) < 0.7)
    # Stalled deals mostly die of indecision or timing.
    other_reason = choose_by_group(
        rng, stalled.astype(np.int64), [[0.25, 0.0, 0.35, 0.25, 0.15], [0.1, 0.0, 0.55, 0.3, 0.05]]
    )
    loss_reason = np.where(lost, np.where(competitive_loss, 1, other_reason), -1).astype(np.int64)

    role_start, role_contact = _contact_roles(rng, accounts, account, n_roles)
    return Deals(
        account=account,
        owner_rep=owner_rep,
        owner_id=org.rep_ids[owner_rep],
        created_s=created_s,
        end_s=end_s,
        close_day=close_day,
        entry_stage=entry_stage,
        reached_stage=reached_stage.astype(np.int64),
        final_stage=final_stage,
        is_closed=is_closed,
        is_won=is_won,
        amount_cents=(amount_dollars * 100).astype(np.int64),
        product=product,
        segment=segment,
        deal_type=deal_type,
        lead_source=lead_source,
        competitor=competitor.astype(np.int64),
        loss_reason=loss_reason,
        drifting=account_drifting[account],
        role_start=role_start,
        role_contact=role_contact,
    )


def _open_state(
    rng: np.random.Generator,
    timeline: Timeline,
    created_s: IntArray,
    duration_days: FloatArray,
    entry: IntArray,
    path_top: IntArray,
) -> tuple[IntArray, IntArray, IntArray]:
    """Stage, expected close day and last-change time that each deal would have if still open."""
    count = len(created_s)
    end = timeline.end_seconds
    # An open deal is as far up its eventual path as the time elapsed so far suggests.
    progress = np.clip((end - created_s) / (duration_days * DAY), 0.0, 0.999)
    stage = entry + np.floor(progress * (path_top - entry + 1)).astype(np.int64)
    created_day = created_s // DAY
    expected = created_day + np.ceil(duration_days).astype(np.int64)
    today, horizon = timeline.as_of_day, timeline.next_quarter_end_day
    # Open deals are forecast into this quarter or the next, never further out.
    redraw = rng.integers(today, horizon + 1, size=count)
    expected = np.where(expected > horizon, redraw, np.maximum(expected, today))
    # A few percent are stale: the close date has passed and nobody updated the deal.
    age = timeline.as_of_day - created_day
    stale = (age >= 21) & (rng.random(count) < 0.05)
    expected = np.where(
        stale, today - 1 - (rng.random(count) * np.minimum(40, age - 14)).astype(np.int64), expected
    )
    last_change = created_s + (rng.uniform(0.5, 1.0, count) * (end - 1 - created_s)).astype(np.int64)
    last_change = off_weekend((last_change // DAY) * DAY + working_hour(rng, count), created_s + 60)
    return stage, expected, np.clip(last_change, created_s + 60, end - 1)


def _contact_roles(
    rng: np.random.Generator, accounts: Accounts, account: IntArray, n_roles: IntArray
) -> tuple[IntArray, IntArray]:
    """Pick ``n_roles`` distinct contacts of each deal's account; contact-role rows grouped by deal."""
    available = np.diff(accounts.contact_start)[account]
    candidate_deal = np.repeat(np.arange(len(account)), available).astype(np.int64)
    candidate_starts = group_starts(candidate_deal, len(account))
    contact = accounts.contact_start[account][candidate_deal] + rank_in_group(
        candidate_deal, candidate_starts
    )
    # A random order per deal, then its first n_roles: a uniform sample without replacement.
    order = np.lexsort((rng.random(len(contact)), candidate_deal))
    contact = contact[order]
    keep = rank_in_group(candidate_deal, candidate_starts) < n_roles[candidate_deal]
    role_deal = candidate_deal[keep]
    return group_starts(role_deal, len(account)), contact[keep]


def write_opportunities(writer: BulkWriter, deals: Deals, accounts: Accounts) -> None:
    """Insert the opportunities."""
    count = deals.count
    names = accounts.names

    def deal_names(start: int, stop: int) -> list[str]:
        return [
            f"{names[acc]} {_DASH} {PRODUCTS[prod]}{_NAME_SUFFIX[kind]}"
            for acc, prod, kind in zip(
                deals.account[start:stop].tolist(), deals.product[start:stop].tolist(),
                deals.deal_type[start:stop].tolist(), strict=True,
            )
        ]  # fmt: skip

    columns = {
        "id": Ints(np.arange(1, count + 1, dtype=np.int64)),
        "external_id": Computed(lambda start, stop: [f"DEMO-OPP-{i + 1:07d}" for i in range(start, stop)]),
        "account_id": Ints(deals.account + 1),
        "owner_id": Ints(deals.owner_id),
        "name": Computed(deal_names),
        "amount": Ints(deals.amount_cents),
        "currency_code": Constant("USD"),
        "stage": Codes(deals.final_stage, STAGE_NAMES),
        "probability": Ints(STAGE_PROBABILITIES[deals.final_stage]),
        "close_date": Dates(deals.close_day),
        "created_at": Timestamps(deals.created_s),
        "is_closed": Bools(deals.is_closed),
        "is_won": Bools(deals.is_won),
        "forecast_category": Codes(deals.final_stage, FORECAST_LABELS),
        "type": Codes(deals.deal_type, DEAL_TYPES),
        "lead_source": Codes(deals.lead_source, LEAD_SOURCES),
        "loss_reason": Codes(deals.loss_reason, LOSS_REASONS),
        "primary_competitor": Codes(deals.competitor, COMPETITORS),
        "product": Codes(deals.product, PRODUCTS),
        "custom_fields": Constant("{}"),
        "updated_at": Timestamps(deals.end_s),
    }
    writer.insert_raw("opportunity", columns, count, "opportunities")


def write_contact_roles(
    rng: np.random.Generator, writer: BulkWriter, deals: Deals, accounts: Accounts
) -> int:
    """Insert the contact roles; the first contact of each deal is the primary one."""
    total = len(deals.role_contact)
    role_deal = np.repeat(np.arange(deals.count), np.diff(deals.role_start)).astype(np.int64)
    is_primary = rank_in_group(role_deal, deals.role_start) == 0
    level = accounts.contact_level[deals.role_contact]
    choice = rng.integers(0, len(ROLES_BY_SENIORITY[0]), size=total)
    role = np.asarray(ROLES_BY_SENIORITY, dtype=np.int64)[level, choice]
    columns = {
        "id": Ints(np.arange(1, total + 1, dtype=np.int64)),
        "opportunity_id": Ints(role_deal + 1),
        "contact_id": Ints(deals.role_contact + 1),
        "role": Codes(role, CONTACT_ROLES),
        "is_primary": Bools(is_primary),
    }
    writer.insert_raw("opportunity_contact_role", columns, total, "contact roles")
    return total
