"""Accounts (the customer base) and their contacts, with owners, hierarchies and reporting lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import bindparam, update

from bridgehead.crm.models import Account
from bridgehead.db import Base
from bridgehead.demo.catalogue import (
    COUNTRIES,
    DEPARTMENT_WEIGHTS,
    DEPARTMENTS,
    ENTERPRISE_MIN_EMPLOYEES,
    FINANCIAL_INDUSTRIES,
    INDUSTRIES,
    REGION_SHARES,
    SENIORITY_NAMES,
    SMALL_MAX_EMPLOYEES,
    STATES,
    TEAM_ARCHETYPES,
    TITLES,
)
from bridgehead.demo.names import (
    BRAND_PREFIXES,
    BRAND_ROOTS,
    FIRST_NAMES,
    INDUSTRY_DESCRIPTORS,
    LAST_NAMES,
    brand_count,
    brand_name,
    name_slug,
)
from bridgehead.demo.organisation import Organisation
from bridgehead.demo.sampling import (
    DAY,
    BoolArray,
    IntArray,
    Timeline,
    choose_by_group,
    group_starts,
    rank_in_group,
    working_hour,
)
from bridgehead.demo.writer import BulkWriter, Codes, Computed, Ints, Timestamps, to_datetime

ACCOUNTS_AT_SCALE_ONE = 4_000

# Who owns an account, by region and account class (segment * 2 + financial), as weights over the
# eight team archetypes. Enterprise financial accounts go to enterprise and FS teams; small ones
# mostly to commercial teams, and in North America a good share to the mid-market team.
_OWNER_WEIGHTS: tuple[tuple[tuple[float, ...], ...], ...] = (
    (  # NA: NA-ENT, NA-MM, NA-COM
        (0.02, 0.65, 0.33), (0.02, 0.65, 0.33), (0.10, 0.55, 0.35),
        (0.20, 0.55, 0.25), (0.80, 0.15, 0.05), (0.85, 0.10, 0.05),
    ),
    (  # EMEA: EMEA-ENT, EMEA-FS, EMEA-COM
        (0.03, 0.00, 0.97), (0.00, 0.08, 0.92), (0.35, 0.02, 0.63),
        (0.10, 0.45, 0.45), (0.85, 0.05, 0.10), (0.20, 0.75, 0.05),
    ),
    (  # APAC: APAC-ENT, APAC-COM
        (0.05, 0.95), (0.05, 0.95), (0.40, 0.60), (0.40, 0.60), (0.88, 0.12), (0.88, 0.12),
    ),
)  # fmt: skip
_REGION_ARCHETYPES = tuple(
    tuple(index for index, archetype in enumerate(TEAM_ARCHETYPES) if archetype.region == region)
    for region in range(3)
)
CEO_TITLE_CODE = len(TITLES) * len(DEPARTMENTS)
EXECUTIVE_DEPARTMENT = len(DEPARTMENTS)
_TITLE_LABELS = [title for level in TITLES for title in level] + ["Chief Executive Officer"]
_DEPARTMENT_LABELS = [*DEPARTMENTS, "Executive"]
_SENIORITY_JSON = [json.dumps({"seniority": name}) for name in SENIORITY_NAMES]


@dataclass(frozen=True)
class Accounts:
    """The generated accounts and the layout of their contacts (grouped by account, in id order)."""

    region: IntArray
    industry: IntArray
    employees: IntArray
    segment: IntArray  # 0 small, 1 mid-market, 2 enterprise
    financial: BoolArray
    owner_rep: IntArray  # index into Organisation.rep_ids
    names: list[str]
    contact_start: IntArray  # first contact index of each account (+ end); contact id = index + 1
    contact_level: IntArray  # seniority 0 (C-level) … 4 per contact

    @property
    def count(self) -> int:
        """Number of accounts."""
        return len(self.region)

    @property
    def contact_count(self) -> int:
        """Number of contacts."""
        return int(self.contact_start[-1])


def _account_names(
    rng: np.random.Generator, industry: IntArray, legal_suffix: list[str]
) -> tuple[list[str], list[str]]:
    """Unique company names per account, with and without the legal suffix (the latter makes the domain)."""
    names = [""] * len(industry)
    compound_brands = len(BRAND_PREFIXES) * len(BRAND_ROOTS)
    for code, (industry_name, _, _) in enumerate(INDUSTRIES):
        members = rng.permutation(np.flatnonzero(industry == code))
        descriptors = INDUSTRY_DESCRIPTORS[industry_name]
        compound_space = compound_brands * len(descriptors)
        space = brand_count() * len(descriptors)
        if len(members) > space:
            raise ValueError(f"too many {industry_name} accounts for unique names: {len(members)}")
        # About half read "Northwind Bank", the rest "Hughes & Patel Bank"; codes below
        # compound_space are the former, so drawing from each range keeps every name distinct.
        compound = min(len(members) // 2, compound_space // 2)
        picks = np.concatenate([
            rng.choice(compound_space, size=compound, replace=False),
            compound_space + rng.choice(space - compound_space, size=len(members) - compound, replace=False),
        ])  # fmt: skip
        for member, pick in zip(members.tolist(), picks.tolist(), strict=True):
            brand, descriptor = divmod(pick, len(descriptors))
            names[member] = f"{brand_name(brand)} {descriptors[descriptor]}"
    with_suffix = rng.random(len(industry)) < 0.45
    full_names = [
        f"{name} {suffix}" if add else name
        for name, suffix, add in zip(names, legal_suffix, with_suffix.tolist(), strict=True)
    ]
    return full_names, names


def _owners(
    rng: np.random.Generator, org: Organisation, region: IntArray, account_class: IntArray
) -> IntArray:
    archetype = np.zeros(len(region), dtype=np.int64)
    for region_index, archetypes in enumerate(_REGION_ARCHETYPES):
        members = region == region_index
        local = choose_by_group(rng, account_class[members], _OWNER_WEIGHTS[region_index])
        archetype[members] = np.asarray(archetypes, dtype=np.int64)[local]
    first_team = org.archetype_team_start[archetype]
    team_count = org.archetype_team_start[archetype + 1] - first_team
    team = first_team + (rng.random(len(region)) * team_count).astype(np.int64)
    first_rep = org.team_rep_start[team]
    rep_count = org.team_rep_start[team + 1] - first_rep
    owner_rep: IntArray = first_rep + (rng.random(len(region)) * rep_count).astype(np.int64)
    return owner_rep


def _parents(rng: np.random.Generator, region: IntArray, employees: IntArray, segment: IntArray) -> IntArray:
    """Parent account index + 1 per account (0 for none): ~10% are subsidiaries of a larger enterprise."""
    parent = np.zeros(len(region), dtype=np.int64)
    candidates_child = rng.random(len(region)) < 0.11
    for region_index in range(3):
        big = np.flatnonzero((region == region_index) & (segment == 2))
        if len(big) == 0:
            continue
        big = big[np.argsort(employees[big], kind="stable")]
        children = np.flatnonzero(candidates_child & (region == region_index))
        # Only strictly larger companies may be parents, which also rules out cycles.
        first_larger = np.searchsorted(employees[big], employees[children], side="right")
        choices = len(big) - first_larger
        has_parent = choices > 0
        offset = (rng.random(len(children)) * np.maximum(choices, 1)).astype(np.int64)
        parent[children[has_parent]] = big[(first_larger + offset)[has_parent]] + 1
    return parent


def build_accounts(
    rng: np.random.Generator, writer: BulkWriter, timeline: Timeline, scale: float, org: Organisation
) -> Accounts:
    """Insert the accounts; return their attributes for the contact and deal generators."""
    count = max(40, round(ACCOUNTS_AT_SCALE_ONE * scale))
    region = choose_by_group(rng, np.zeros(count, dtype=np.int64), [REGION_SHARES])
    # EMEA leans towards financial services (London, Frankfurt, Zurich), so the FS team has a market.
    industry_weights = [
        [share * (1.3 if region_index == 1 and name in FINANCIAL_INDUSTRIES else 1.0)
         for name, share, _ in INDUSTRIES]
        for region_index in range(3)
    ]  # fmt: skip
    industry = choose_by_group(rng, region, industry_weights)
    # Company sizes are heavy-tailed: many small firms, a few giants.
    employees = np.clip(np.round(rng.lognormal(np.log(300.0), 1.6, count)), 3, 350_000).astype(np.int64)
    segment = np.where(
        employees < SMALL_MAX_EMPLOYEES, 0, np.where(employees >= ENTERPRISE_MIN_EMPLOYEES, 2, 1)
    )
    financial_codes = [code for code, (name, _, _) in enumerate(INDUSTRIES) if name in FINANCIAL_INDUSTRIES]
    financial = np.isin(industry, financial_codes)
    revenue_per_employee = np.asarray([per_head for _, _, per_head in INDUSTRIES], dtype=np.float64)[industry]
    revenue_dollars = np.round(employees * revenue_per_employee * rng.lognormal(0.0, 0.35, count), -3)

    country_names: list[str] = [""] * count
    legal_suffix: list[str] = [""] * count
    state: list[str | None] = [None] * count
    for region_index, countries in enumerate(COUNTRIES):
        members = np.flatnonzero(region == region_index)
        local = choose_by_group(rng, np.zeros(len(members), dtype=np.int64), [[s for _, s, _ in countries]])
        for member, code in zip(members.tolist(), local.tolist(), strict=True):
            country_names[member], _, legal_suffix[member] = countries[code]
    for country_name, states in STATES.items():
        in_country = [index for index, name in enumerate(country_names) if name == country_name]
        picks = choose_by_group(rng, np.zeros(len(in_country), dtype=np.int64), [[s for _, s in states]])
        for member, pick in zip(in_country, picks.tolist(), strict=True):
            state[member] = states[pick][0]

    names, base_names = _account_names(rng, industry, legal_suffix)
    owner_rep = _owners(rng, org, region, segment * 2 + financial)
    parent = _parents(rng, region, employees, segment)
    created = timeline.start_day * DAY - rng.integers(60, 1500, size=count) * DAY + working_hour(rng, count)

    rows: list[dict[str, Any]] = []
    owner_ids = org.rep_ids[owner_rep].tolist()
    for index in range(count):
        seg = int(segment[index])
        tier = ("SMB", "Growth", "Strategic" if financial[index] or employees[index] >= 10_000 else "Key")[
            seg
        ]
        created_at = to_datetime(int(created[index]))
        rows.append(
            {"id": index + 1, "external_id": f"DEMO-ACC-{index + 1:06d}", "name": names[index],
             "industry": INDUSTRIES[int(industry[index])][0], "employees": int(employees[index]),
             "annual_revenue_amount": Decimal(int(revenue_dollars[index])), "currency_code": "USD",
             "country": country_names[index], "state": state[index], "owner_id": owner_ids[index],
             "parent_account_id": None,
             "custom_fields": {"tier": tier, "website": f"https://www.{_domain(base_names[index])}"},
             "created_at": created_at, "updated_at": created_at}
        )  # fmt: skip
    writer.insert_typed(Account.__tablename__, rows, "accounts")
    # Parents are set afterwards so a child never references a row not yet inserted. The explicit
    # updated_at keeps the column's on-update clock out of the data, which must be deterministic.
    children = np.flatnonzero(parent)
    if len(children):
        account_table = Base.metadata.tables[Account.__tablename__]
        statement = (
            update(account_table)
            .where(account_table.c.id == bindparam("child_id"))
            .values(parent_account_id=bindparam("parent_id"), updated_at=bindparam("unchanged"))
        )
        writer.session.connection().execute(
            statement,
            [
                {
                    "child_id": int(child) + 1,
                    "parent_id": int(parent[child]),
                    "unchanged": rows[child]["updated_at"],
                }
                for child in children
            ],
        )

    contact_start, contact_level = _build_contacts(
        rng, writer, timeline, employees, created, base_names, owner_ids
    )
    return Accounts(
        region=region,
        industry=industry,
        employees=employees,
        segment=segment.astype(np.int64),
        financial=financial,
        owner_rep=owner_rep,
        names=names,
        contact_start=contact_start,
        contact_level=contact_level,
    )


def _domain(account_name: str) -> str:
    # Reserved .example names: realistic-looking, and never a real company's domain.
    return f"{name_slug(account_name)}.example"


def _build_contacts(
    rng: np.random.Generator,
    writer: BulkWriter,
    timeline: Timeline,
    employees: IntArray,
    account_created: IntArray,
    account_names: list[str],
    owner_ids: list[int],
) -> tuple[IntArray, IntArray]:
    """Insert the contacts, grouped by account; return each account's first contact and contact levels."""
    n_accounts = len(employees)
    # Bigger companies put more people in front of a vendor: ~1.5 at 50 staff, ~5 at 20,000.
    expected = np.clip(0.65 * (np.log(employees) - 2.9), 0.4, 12.0)
    per_account = np.minimum(1 + rng.poisson(expected), 25).astype(np.int64)
    account = np.repeat(np.arange(n_accounts), per_account).astype(np.int64)
    starts = group_starts(account, n_accounts)
    rank = rank_in_group(account, starts)
    size = per_account[account]
    total = len(account)

    # Levels rise with rank: rank 0 is the top person, the rest spread from VP down to analyst.
    level = np.where(rank == 0, 0, 1 + (4 * rank) // np.maximum(size, 1))
    level = np.where((rank >= 1) & (rank <= 2) & (size >= 6), 0, np.minimum(level, 4))
    boundary = np.ones(total, dtype=bool)
    boundary[1:] = (account[1:] != account[:-1]) | (level[1:] != level[:-1])
    first_of_level = np.maximum.accumulate(np.where(boundary, np.arange(total), 0))
    account_first = starts[account]
    # Report to someone in the nearest level above; C-levels report to the top person.
    previous = np.maximum(first_of_level - 1, 0)
    above_start = first_of_level[previous]
    span = np.maximum(first_of_level - above_start, 1)
    manager = above_start + (rng.random(total) * span).astype(np.int64)
    manager = np.where(first_of_level == account_first, account_first, manager)
    reports_to = np.where(rank == 0, 0, manager + 1)

    department = choose_by_group(rng, np.zeros(total, dtype=np.int64), [DEPARTMENT_WEIGHTS])
    # The top person of a small or large company is its CEO; mid-sized buyers meet a functional chief.
    ceo = (rank == 0) & ((employees[account] < SMALL_MAX_EMPLOYEES) | (size >= 6))
    department = np.where(ceo, EXECUTIVE_DEPARTMENT, department)
    inherit = rng.random(total) < 0.5
    for current_level in range(1, 5):
        # People mostly work in their manager's department, which keeps reporting chains coherent.
        members = (level == current_level) & inherit & (department[manager] != EXECUTIVE_DEPARTMENT)
        department = np.where(members, department[manager], department)
    title = np.where(
        ceo, CEO_TITLE_CODE, level * len(DEPARTMENTS) + np.minimum(department, len(DEPARTMENTS) - 1)
    )

    name_count = len(FIRST_NAMES) * len(LAST_NAMES)
    # A stride coprime with the name space gives distinct names within every account.
    pair = (rng.integers(0, name_count, n_accounts)[account] + rank * 7919) % name_count
    first_code = pair // len(LAST_NAMES)
    last_code = pair % len(LAST_NAMES)
    first_slugs = [name_slug(name) for name in FIRST_NAMES]
    last_slugs = [name_slug(name) for name in LAST_NAMES]
    domains = [_domain(name) for name in account_names]
    # Contacts were all met before the eight quarters start, so no deal involves someone not yet known.
    known_for = timeline.start_day * DAY - account_created[account]
    created = account_created[account] + (rng.random(total) * known_for).astype(np.int64)
    owners = np.asarray(owner_ids, dtype=np.int64)[account]

    def emails(start: int, stop: int) -> list[Any]:
        return [
            f"{first_slugs[first]}.{last_slugs[last]}@{domains[acc]}"
            for first, last, acc in zip(
                first_code[start:stop].tolist(), last_code[start:stop].tolist(), account[start:stop].tolist(),
                strict=True,
            )
        ]  # fmt: skip

    columns = {
        "id": Ints(np.arange(1, total + 1, dtype=np.int64)),
        "external_id": Computed(lambda start, stop: [f"DEMO-CON-{i + 1:07d}" for i in range(start, stop)]),
        "account_id": Ints(account + 1),
        "first_name": Codes(first_code, FIRST_NAMES),
        "last_name": Codes(last_code, LAST_NAMES),
        "email": Computed(emails),
        "title": Codes(title, _TITLE_LABELS),
        "department": Codes(department, _DEPARTMENT_LABELS),
        "reports_to_id": Ints(reports_to, zero_is_null=True),
        "owner_id": Ints(owners),
        "custom_fields": Codes(level, _SENIORITY_JSON),
        "created_at": Timestamps(created),
    }
    writer.insert_raw("contact", columns, total, "contacts")
    return starts, level.astype(np.int64)
