"""Calls, e-mails, meetings and tasks over each deal's life, plus account-level touches."""

from __future__ import annotations

import numpy as np

from bridgehead.demo.accounts import Accounts
from bridgehead.demo.catalogue import (
    ACTIVITY_KINDS,
    PRODUCTS,
    SUBJECTS_ACCOUNT,
    SUBJECTS_EARLY,
    SUBJECTS_LATE,
)
from bridgehead.demo.organisation import Organisation
from bridgehead.demo.pipeline import Deals
from bridgehead.demo.sampling import DAY, Timeline, choose_by_group, off_weekend, working_hour
from bridgehead.demo.writer import BulkWriter, Codes, Computed, Constant, Ints, Timestamps

ACTIVITIES_AT_SCALE_ONE = 200_000
ACCOUNT_LEVEL_SHARE = 0.12
# Mix of call, email, meeting, task by segment: enterprise deals get more meetings.
_KIND_WEIGHTS = ((0.30, 0.45, 0.08, 0.17), (0.28, 0.40, 0.15, 0.17), (0.25, 0.35, 0.23, 0.17))
_INBOUND_SHARE = np.asarray([0.25, 0.35, 0.30, 0.0])
_MEETING_MINUTES = np.asarray([30, 45, 60, 90], dtype=np.int64)
_VARIANTS = 4
_TEMPLATES: list[str] = [
    subjects[kind][variant]
    for subjects in (SUBJECTS_EARLY, SUBJECTS_LATE, SUBJECTS_ACCOUNT)
    for kind in ACTIVITY_KINDS
    for variant in range(_VARIANTS)
]
_DIRECTIONS = ("outbound", "inbound")
EARLY, LATE, ACCOUNT_LEVEL = 0, 1, 2


def build_activities(
    rng: np.random.Generator,
    writer: BulkWriter,
    timeline: Timeline,
    scale: float,
    org: Organisation,
    accounts: Accounts,
    deals: Deals,
) -> int:
    """Insert the activities; return how many."""
    target = max(1_000, round(ACTIVITIES_AT_SCALE_ONE * scale))
    deal_target = round(target * (1 - ACCOUNT_LEVEL_SHARE))
    end = np.where(deals.is_closed, deals.end_s, timeline.end_seconds - 1)
    life_days = np.maximum((end - deals.created_s) / DAY, 0.5)
    n_roles = np.diff(deals.role_start)
    # Longer, bigger, more multi-threaded deals see more touches; the drifting teams churn through
    # small deals with extra volume, which is where their effort visibly goes.
    weight = (
        life_days**0.55
        * (deals.amount_cents / 2_000_000) ** 0.15
        * (1 + 0.25 * (n_roles - 1))
        * np.where(deals.drifting & (deals.segment == 0), 2.5, 1.0)
    )
    per_deal = rng.poisson(weight * deal_target / weight.sum())
    deal = np.repeat(np.arange(deals.count), per_deal).astype(np.int64)
    fraction = rng.random(len(deal))
    # Touches land on business days and hours, between the deal's creation and its end.
    start_s, stop_s = deals.created_s[deal], end[deal]
    day = start_s // DAY + (fraction * (stop_s // DAY - start_s // DAY + 1)).astype(np.int64)
    deal_time = off_weekend(np.clip(day * DAY + working_hour(rng, len(deal)), start_s, stop_s), start_s)
    pick = (rng.random(len(deal)) * n_roles[deal]).astype(np.int64)
    deal_contact = deals.role_contact[deals.role_start[deal] + pick]

    # Account-level touches (QBRs, newsletters) without a deal, weighted towards bigger accounts.
    n_account = max(0, target - len(deal))
    drifting = org.rep_drifting[accounts.owner_rep]
    account_weight = np.log(accounts.employees + 1.0) * np.where(drifting & (accounts.segment == 0), 1.8, 1.0)
    account = rng.choice(accounts.count, size=n_account, p=account_weight / account_weight.sum())
    days = rng.integers(timeline.start_day, timeline.as_of_day, size=n_account)
    account_time = off_weekend(days * DAY + working_hour(rng, n_account), timeline.start_day * DAY)
    per_account = np.diff(accounts.contact_start)[account]
    account_contact = accounts.contact_start[account] + (rng.random(n_account) * per_account).astype(np.int64)

    opportunity = np.concatenate([deal + 1, np.zeros(n_account, dtype=np.int64)])
    account_index = np.concatenate([deals.account[deal], account])
    segment = accounts.segment[account_index]
    occurred = np.concatenate([deal_time, account_time])
    contact = np.concatenate([deal_contact, account_contact])
    owner = np.concatenate([deals.owner_id[deal], org.rep_ids[accounts.owner_rep[account]]])
    phase = np.concatenate([np.where(fraction < 0.5, EARLY, LATE), np.full(n_account, ACCOUNT_LEVEL)])
    product = np.concatenate([deals.product[deal], np.zeros(n_account, dtype=np.int64)])

    # Ids follow time, as in a CRM that logs activities as they happen.
    order = np.argsort(occurred, kind="stable")
    opportunity, account_index, segment, occurred = (
        opportunity[order],
        account_index[order],
        segment[order],
        occurred[order],
    )
    contact, owner, phase, product = contact[order], owner[order], phase[order], product[order]
    total = len(occurred)

    kind = choose_by_group(rng, segment, _KIND_WEIGHTS)
    inbound = (rng.random(total) < _INBOUND_SHARE[kind]).astype(np.int64)
    call_minutes = np.clip(np.round(rng.lognormal(np.log(15.0), 0.6, total)), 3, 90).astype(np.int64)
    meeting_minutes = _MEETING_MINUTES[rng.integers(0, len(_MEETING_MINUTES), size=total)]
    duration = np.where(kind == 0, call_minutes, np.where(kind == 2, meeting_minutes, 0))
    template = (phase * len(ACTIVITY_KINDS) + kind) * _VARIANTS + rng.integers(0, _VARIANTS, size=total)
    names = accounts.names

    def subjects(start: int, stop: int) -> list[str]:
        result = []
        for code, prod, acc in zip(
            template[start:stop].tolist(),
            product[start:stop].tolist(),
            account_index[start:stop].tolist(),
            strict=True,
        ):
            text = _TEMPLATES[code]
            result.append(text.format(p=PRODUCTS[prod], a=names[acc]) if "{" in text else text)
        return result  # fmt: skip

    columns = {
        "id": Ints(np.arange(1, total + 1, dtype=np.int64)),
        "kind": Codes(kind, ACTIVITY_KINDS),
        "direction": Codes(inbound, _DIRECTIONS),
        "subject": Computed(subjects),
        "occurred_at": Timestamps(occurred),
        "duration_minutes": Ints(duration, zero_is_null=True),
        "owner_id": Ints(owner),
        "account_id": Ints(account_index + 1),
        "contact_id": Ints(contact + 1),
        "opportunity_id": Ints(opportunity, zero_is_null=True),
        "custom_fields": Constant("{}"),
    }
    writer.insert_raw("activity", columns, total, "activities")
    return total
