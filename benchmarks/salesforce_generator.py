"""A deterministic generator of a Salesforce Data Export folder, for tests and the import benchmark.

``generate_salesforce_export(directory, opportunities=…, history=…, activities=…)`` writes
``User.csv``, ``Account.csv``, ``Contact.csv``, ``Opportunity.csv``, ``OpportunityHistory.csv``,
``OpportunityContactRole.csv``, ``Task.csv`` and ``Event.csv`` the way Salesforce writes them:
18-character ids in the ``Id`` columns, references given as 15- or 18-character ids (mixed),
``2026-03-04T10:11:12.000Z`` and ``+0000`` times, ``true``/``false`` booleans, a few custom
``…__c`` columns, quoted names with commas. Users, accounts, contacts and contact roles scale with
the number of opportunities. Rows are computed with numpy in chunks and streamed to disk, so the
full-size benchmark export (1M opportunities, 3M history rows, 5M activities) needs little memory.

Run as a script: ``python benchmarks/salesforce_generator.py DIR --opportunities 1000 …``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)
RECORD_SPACE = 62**7
# An odd multiplier coprime with 62**7 scatters consecutive record numbers over the id space,
# so ids mix upper and lower case the way real ones do (and 15- vs 18-character forms matter).
SCATTER = 2_654_435_761
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
EPOCH_SECONDS = int(EPOCH.timestamp())
CHUNK = 50_000

PREFIX = {
    "user": "005",
    "account": "001",
    "contact": "003",
    "opportunity": "006",
    "history": "008",
    "contact_role": "00K",
    "task": "00T",
    "event": "00U",
    "lead": "00Q",
}
# (stage, probability, forecast category label, history API value, closed, won)
STAGES = [
    ("Prospecting", 10, "Pipeline", "Pipeline", False, False),
    ("Qualification", 20, "Pipeline", "Pipeline", False, False),
    ("Needs Analysis", 25, "Pipeline", "Pipeline", False, False),
    ("Value Proposition", 50, "Best Case", "BestCase", False, False),
    ("Id. Decision Makers", 60, "Best Case", "BestCase", False, False),
    ("Proposal/Price Quote", 75, "Commit", "Forecast", False, False),
    ("Negotiation/Review", 90, "Commit", "Forecast", False, False),
    ("Closed Won", 100, "Closed", "Closed", True, True),
    ("Closed Lost", 0, "Omitted", "Omitted", True, False),
]
OPEN_STAGES = 7
INDUSTRIES = [
    "Technology",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Energy",
    "Media",
    "Education",
]
COUNTRIES = [
    ("United States", "CA"),
    ("United States", "NY"),
    ("Germany", "BY"),
    ("France", ""),
    ("Japan", ""),
]
TIERS = ["Strategic", "Enterprise", "Mid-Market", "SMB"]
TITLES = ["VP Sales", "CFO", "CTO", "Head of IT", "Procurement Lead", "Director, Operations", "Engineer"]
DEPARTMENTS = ["Sales", "Finance", "IT", "Procurement", "Operations"]
ROLES = ["Economic Buyer", "Decision Maker", "Technical Buyer", "Influencer", "Evaluator", ""]
LOSS_REASONS = ["Price", "Competitor", "No Decision", "Timing", "Features"]
COMPETITORS = ["Northwind", "Contoso", "Initech", "Globex", ""]
LEAD_SOURCES = ["Web", "Partner Referral", "Trade Show", "Outbound", "Phone Inquiry"]
TYPES = ["New Business", "Existing Business - Upgrade", "Existing Business - Renewal"]
TASK_KINDS = [("Call", "Call"), ("Email", "Email"), ("Task", "Other"), ("Task", "Meeting")]
CALL_TYPES = ["Outbound", "Inbound", "Outbound", "Internal"]
SUBJECTS = ["Discovery call", "Follow up, pricing", 'Sent "proposal" v2', "Demo", "Check in", "Intro"]


@dataclass(frozen=True)
class ExportSizes:
    """How many rows each file gets; the small objects scale with the opportunities."""

    opportunities: int
    history: int
    activities: int
    users: int
    accounts: int
    contacts: int
    contact_roles: int

    @classmethod
    def scaled(cls, opportunities: int, history: int, activities: int) -> ExportSizes:
        """Users, accounts, contacts and contact roles in proportion to the opportunities."""
        accounts = max(3, opportunities // 10)
        return cls(
            opportunities=opportunities,
            history=history,
            activities=activities,
            users=max(6, opportunities // 500),
            accounts=accounts,
            contacts=accounts * 3,
            contact_roles=opportunities,
        )

    @property
    def tasks(self) -> int:
        """Activities written to Task.csv (the rest go to Event.csv)."""
        return self.activities - self.events

    @property
    def events(self) -> int:
        """Activities written to Event.csv."""
        return self.activities * 3 // 10


def _record_ids(prefix: str, numbers: NDArray[np.int64]) -> NDArray[np.uint8]:
    """The 15 characters of each record's id as a ``(n, 15)`` byte matrix."""
    n = len(numbers)
    matrix = np.empty((n, 15), dtype=np.uint8)
    matrix[:, 0:3] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    matrix[:, 3:5] = np.frombuffer(b"5g", dtype=np.uint8)
    matrix[:, 5:8] = ord("0")
    value = (numbers.astype(np.int64) * SCATTER + 977) % RECORD_SPACE
    for position in range(14, 7, -1):
        matrix[:, position] = BASE62[value % 62]
        value //= 62
    return matrix


def _with_suffix(matrix: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Append Salesforce's three case-checksum characters: ``(n, 15)`` → ``(n, 18)``."""
    upper = (matrix >= ord("A")) & (matrix <= ord("Z"))
    weights = 1 << np.arange(5)
    full = np.empty((len(matrix), 18), dtype=np.uint8)
    full[:, :15] = matrix
    for block in range(3):
        bits = (upper[:, block * 5 : block * 5 + 5] * weights).sum(axis=1)
        full[:, 15 + block] = SUFFIX[bits]
    return full


def _as_text(matrix: NDArray[np.uint8]) -> list[str]:
    width = matrix.shape[1]
    return np.ascontiguousarray(matrix).view(f"S{width}").ravel().astype(f"U{width}").tolist()


def sf_ids(kind: str, numbers: NDArray[np.int64], short: NDArray[np.bool_] | None = None) -> list[str]:
    """Ids of records ``numbers`` of ``kind``: 18 characters, or 15 where ``short`` is true."""
    matrix = _record_ids(PREFIX[kind], numbers)
    full = _as_text(_with_suffix(matrix))
    if short is None or not short.any():
        return full
    brief = _as_text(matrix)
    return [b if s else f for f, b, s in zip(full, brief, short.tolist(), strict=True)]


def sf_id(kind: str, number: int, *, short: bool = False) -> str:
    """One record's id (18 characters unless ``short``)."""
    return sf_ids(kind, np.array([number], dtype=np.int64), np.array([short]))[0]


def _times(seconds: NDArray[np.int64], offset_style: NDArray[np.bool_]) -> list[str]:
    """``2026-03-04T10:11:12.000Z``, or ``…000+0000`` where ``offset_style``."""
    stamps = (seconds + EPOCH_SECONDS).astype("datetime64[s]")
    text = np.datetime_as_string(stamps, unit="s").tolist()
    flags = offset_style.tolist()
    return [t + (".000+0000" if f else ".000Z") for t, f in zip(text, flags, strict=True)]


def _dates(days: NDArray[np.int64]) -> list[str]:
    return np.datetime_as_string((days + EPOCH_SECONDS // 86_400).astype("datetime64[D]")).tolist()


def _pick(options: list[str], index: NDArray[np.int64]) -> list[str]:
    table = np.array(options, dtype=object)
    return table[index % len(options)].tolist()  # type: ignore[no-any-return]


def _bools(values: NDArray[np.bool_]) -> list[str]:
    return np.where(values, "true", "false").tolist()  # type: ignore[no-any-return]


def _money(cents: NDArray[np.int64]) -> list[str]:
    return [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]


class _Writer:
    """Streams one CSV file, chunk by chunk, and counts its rows."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\r\n")
        self.writer.writerow(header)
        self.rows = 0

    def write(self, columns: list[list[str]]) -> None:
        self.writer.writerows(zip(*columns, strict=True))
        self.rows += len(columns[0])

    def close(self) -> int:
        self.handle.close()
        return self.rows


def _chunks(total: int, chunk: int) -> Iterator[NDArray[np.int64]]:
    for start in range(0, total, chunk):
        yield np.arange(start, min(total, start + chunk), dtype=np.int64)


class _Model:
    """Deterministic facts the files share: each opportunity's account, owner, stage and dates."""

    def __init__(self, sizes: ExportSizes, seed: int) -> None:
        self.sizes = sizes
        self.seed = seed

    def rng(self, name: str, chunk_start: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, sum(map(ord, name)), chunk_start])

    def opp_account(self, opp: NDArray[np.int64]) -> NDArray[np.int64]:
        return (opp * 7919) % self.sizes.accounts

    def opp_owner(self, opp: NDArray[np.int64]) -> NDArray[np.int64]:
        return self.rep_of(opp * 31)

    def rep_of(self, number: NDArray[np.int64]) -> NDArray[np.int64]:
        """A user who is not the CEO (user 0), spread over every other user."""
        return 1 + number % (self.sizes.users - 1)

    def opp_stage(self, opp: NDArray[np.int64]) -> NDArray[np.int64]:
        return (opp * 2_246_822_519 >> 7) % len(STAGES)

    def opp_created(self, opp: NDArray[np.int64]) -> NDArray[np.int64]:
        """Seconds after EPOCH the opportunity was created (within 600 days)."""
        return (opp * 104_729 * 37) % (600 * 86_400)


def generate_salesforce_export(
    directory: Path,
    *,
    opportunities: int,
    history: int,
    activities: int,
    seed: int = 7,
    sizes: ExportSizes | None = None,
    chunk: int = CHUNK,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write a Salesforce export into ``directory``; returns rows written per file."""
    directory.mkdir(parents=True, exist_ok=True)
    sizes = sizes or ExportSizes.scaled(opportunities, history, activities)
    model = _Model(sizes, seed)
    written: dict[str, int] = {}
    for name, write in (
        ("User.csv", _users),
        ("Account.csv", _accounts),
        ("Contact.csv", _contacts),
        ("Opportunity.csv", _opportunities),
        ("OpportunityHistory.csv", _history),
        ("OpportunityContactRole.csv", _contact_roles),
        ("Task.csv", _tasks),
        ("Event.csv", _events),
    ):
        written[name] = write(directory / name, model, chunk)
        if progress:
            progress(name, written[name])
    return written


def _users(path: Path, model: _Model, chunk: int) -> int:
    n = model.sizes.users
    managers = max(1, n // 8)
    out = _Writer(
        path,
        [
            "Id",
            "Username",
            "LastName",
            "FirstName",
            "Name",
            "Email",
            "IsActive",
            "UserRoleId",
            "ManagerId",
            "Title",
            "CreatedDate",
        ],
    )
    for ids in _chunks(n, chunk):
        rng = model.rng("user", int(ids[0]))
        # User 0 heads the company, users 1..managers are managers, everyone else reports to one.
        manager = np.where(ids <= managers, 0, 1 + ids % managers)
        manager_ids = sf_ids("user", manager, rng.random(len(ids)) < 0.3)
        first = _pick(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Frances"], ids)
        last = [f"Seller{i}" for i in ids.tolist()]
        no_email = rng.random(len(ids)) < 0.05
        emails = [
            "" if skip else f"seller{i}@example.com"
            for i, skip in zip(ids.tolist(), no_email.tolist(), strict=True)
        ]
        out.write(
            [
                sf_ids("user", ids),
                [f"seller{i}@example.com.prod" for i in ids.tolist()],
                last,
                first,
                [f"{f} {la}" for f, la in zip(first, last, strict=True)],
                emails,
                _bools(rng.random(len(ids)) < 0.95),
                [f"00E5g00000{i % 7:05d}" for i in ids.tolist()],
                ["" if i == 0 else m for i, m in zip(ids.tolist(), manager_ids, strict=True)],
                np.where(
                    ids == 0, "CEO", np.where(ids <= managers, "Sales Manager", "Account Executive")
                ).tolist(),
                _times(rng.integers(0, 86_400 * 30, len(ids)), np.zeros(len(ids), dtype=bool)),
            ]
        )
    return out.close()


def _accounts(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(
        path,
        [
            "Id", "Name", "Type", "ParentId", "BillingState", "BillingCountry", "Industry", "AnnualRevenue",
            "NumberOfEmployees", "OwnerId", "CurrencyIsoCode", "CreatedDate", "Tier__c", "Region__c",
        ],
    )  # fmt: skip
    for ids in _chunks(model.sizes.accounts, chunk):
        rng = model.rng("account", int(ids[0]))
        n = len(ids)
        has_parent = (ids % 20 == 5) & (ids > 0)
        parents = sf_ids("account", ids // 2, rng.random(n) < 0.5)
        country = rng.integers(0, len(COUNTRIES), n)
        names = [f"Acme {i}, Inc." if i % 3 == 0 else f"Globex {i}" for i in ids.tolist()]
        out.write(
            [
                sf_ids("account", ids),
                names,
                _pick(["Customer", "Prospect", "Partner"], ids),
                [p if h else "" for p, h in zip(parents, has_parent.tolist(), strict=True)],
                [COUNTRIES[c][1] for c in country.tolist()],
                [COUNTRIES[c][0] for c in country.tolist()],
                _pick(INDUSTRIES, rng.integers(0, 8, n)),
                [str(v) for v in (rng.integers(1, 5000, n) * 100_000).tolist()],
                [str(v) for v in rng.integers(5, 200_000, n).tolist()],
                sf_ids("user", model.rep_of(ids), rng.random(n) < 0.3),
                _pick(["USD", "USD", "EUR"], ids),
                _times(rng.integers(0, 86_400 * 60, n), rng.random(n) < 0.2),
                _pick(TIERS, ids),
                _pick(["AMER", "EMEA", "APAC"], country),
            ]
        )
    return out.close()


def _contacts(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(
        path,
        [
            "Id", "AccountId", "LastName", "FirstName", "Salutation", "Title", "Department", "Email",
            "ReportsToId", "OwnerId", "CreatedDate", "Persona__c",
        ],
    )  # fmt: skip
    accounts = model.sizes.accounts
    for ids in _chunks(model.sizes.contacts, chunk):
        rng = model.rng("contact", int(ids[0]))
        n = len(ids)
        account = (ids // 3) % accounts
        # The second and third contact of an account report to its first.
        first_of_account = ids - ids % 3
        reports = sf_ids("contact", first_of_account, rng.random(n) < 0.3)
        out.write(
            [
                sf_ids("contact", ids),
                sf_ids("account", account, rng.random(n) < 0.3),
                [f"Buyer{i}" for i in ids.tolist()],
                _pick(["Maria", "Wei", "Oluwaseun", "José", "Priya", "Søren"], ids),
                _pick(["Ms.", "Mr.", "Dr.", ""], ids),
                _pick(TITLES, rng.integers(0, len(TITLES), n)),
                _pick(DEPARTMENTS, rng.integers(0, len(DEPARTMENTS), n)),
                [
                    f"buyer{i}@customer{a}.example"
                    for i, a in zip(ids.tolist(), account.tolist(), strict=True)
                ],
                [r if i % 3 else "" for r, i in zip(reports, ids.tolist(), strict=True)],
                sf_ids("user", model.rep_of(account)),
                _times(rng.integers(0, 86_400 * 90, n), rng.random(n) < 0.2),
                _pick(["Champion", "Detractor", "Neutral", ""], rng.integers(0, 4, n)),
            ]
        )
    return out.close()


def _opportunities(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(
        path,
        [
            "Id", "AccountId", "Name", "StageName", "Amount", "Probability", "CloseDate", "Type", "LeadSource",
            "IsClosed", "IsWon", "ForecastCategoryName", "CurrencyIsoCode", "OwnerId", "CreatedDate",
            "Loss_Reason__c", "Primary_Competitor__c", "Deal_Score__c",
        ],
    )  # fmt: skip
    for ids in _chunks(model.sizes.opportunities, chunk):
        rng = model.rng("opportunity", int(ids[0]))
        stage = model.opp_stage(ids)
        out.write(_opportunity_columns(model, ids, rng, stage, model.opp_created(ids), stage == 8))
    return out.close()


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _opportunity_columns(
    model: _Model,
    ids: NDArray[np.int64],
    rng: np.random.Generator,
    stage: NDArray[np.int64],
    created: NDArray[np.int64],
    lost: NDArray[np.bool_],
) -> list[list[str]]:
    n = len(ids)
    stages = stage.tolist()
    return [
        sf_ids("opportunity", ids),
        sf_ids("account", model.opp_account(ids), rng.random(n) < 0.3),
        [f"Deal {i} - Platform" for i in ids.tolist()],
        [STAGES[s][0] for s in stages],
        _money(rng.integers(1_000, 50_000, n) * 100 + rng.integers(0, 100, n)),
        [str(STAGES[s][1]) for s in stages],
        _dates(created // 86_400 + rng.integers(30, 200, n)),
        _pick(TYPES, rng.integers(0, 3, n)),
        _pick(LEAD_SOURCES, rng.integers(0, 5, n)),
        [_bool(STAGES[s][4]) for s in stages],
        [_bool(STAGES[s][5]) for s in stages],
        [STAGES[s][2] for s in stages],
        ["USD"] * n,
        sf_ids("user", model.opp_owner(ids), rng.random(n) < 0.3),
        _times(created, rng.random(n) < 0.2),
        [
            LOSS_REASONS[r] if x else ""
            for r, x in zip(rng.integers(0, 5, n).tolist(), lost.tolist(), strict=True)
        ],
        _pick(COMPETITORS, rng.integers(0, 5, n)),
        [str(v) for v in rng.integers(1, 100, n).tolist()],
    ]


def _history(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(
        path,
        [
            "Id", "OpportunityId", "CreatedById", "CreatedDate", "StageName", "Amount", "ExpectedRevenue",
            "CloseDate", "Probability", "ForecastCategory", "IsDeleted",
        ],
    )  # fmt: skip
    total, deals = model.sizes.history, model.sizes.opportunities
    for rows in _chunks(total, chunk):
        rng = model.rng("history", int(rows[0]))
        n = len(rows)
        # Rows are grouped by opportunity, in time order, as the export writes them.
        opp = rows * deals // total
        first_row = -((-opp * total) // deals)
        step = rows - first_row
        last = (rows + 1) * deals // total != opp
        final = model.opp_stage(opp)
        stage = np.where(last, final, np.minimum(step, OPEN_STAGES - 1))
        stages = stage.tolist()
        cents = rng.integers(1_000, 50_000, n) * 100
        created = model.opp_created(opp)
        out.write(
            [
                sf_ids("history", rows),
                sf_ids("opportunity", opp, rng.random(n) < 0.3),
                sf_ids("user", model.opp_owner(opp), rng.random(n) < 0.3),
                _times(created + step * 7 * 86_400 + rng.integers(0, 86_400, n), rng.random(n) < 0.2),
                [STAGES[s][0] for s in stages],
                _money(cents),
                _money(cents * np.array([STAGES[s][1] for s in stages], dtype=np.int64) // 100),
                _dates(created // 86_400 + rng.integers(30, 200, n)),
                [str(STAGES[s][1]) for s in stages],
                [STAGES[s][3] for s in stages],
                ["false"] * n,
            ]
        )
    return out.close()


def _contact_roles(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(path, ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "CreatedDate"])
    deals = model.sizes.opportunities
    for rows in _chunks(model.sizes.contact_roles, chunk):
        rng = model.rng("contact_role", int(rows[0]))
        n = len(rows)
        opp = rows % deals
        nth = rows // deals  # a deal's second and third roles name other contacts of its account
        contact = model.opp_account(opp) * 3 + (opp + nth) % 3
        out.write(
            [
                sf_ids("contact_role", rows),
                sf_ids("opportunity", opp, rng.random(n) < 0.3),
                sf_ids("contact", contact, rng.random(n) < 0.3),
                _pick(ROLES, rng.integers(0, len(ROLES), n)),
                _bools((nth == 0) & (opp % 2 == 0)),
                _times(model.opp_created(opp) + 3_600, np.zeros(n, dtype=bool)),
            ]
        )
    return out.close()


def _activity_links(
    model: _Model, rows: NDArray[np.int64], rng: np.random.Generator
) -> tuple[list[str], list[str], list[str], NDArray[np.int64]]:
    """WhatId (opportunity, account or none), AccountId, WhoId (contact, lead or none), owner numbers."""
    n = len(rows)
    what_kind = rng.random(n)  # < .6 an opportunity, < .9 an account, else nothing
    opp = rng.integers(0, model.sizes.opportunities, n)
    account = np.where(what_kind < 0.6, model.opp_account(opp), rng.integers(0, model.sizes.accounts, n))
    short = rng.random(n) < 0.3
    opp_ids = sf_ids("opportunity", opp, short)
    account_ids = sf_ids("account", account, short)
    kinds = what_kind.tolist()
    what = [
        o if k < 0.6 else a if k < 0.9 else "" for o, a, k in zip(opp_ids, account_ids, kinds, strict=True)
    ]
    account_column = [a if k < 0.9 else "" for a, k in zip(account_ids, kinds, strict=True)]
    who_kind = rng.random(n).tolist()  # < .7 a contact of the account, < .8 a lead, else nobody
    contacts = sf_ids("contact", account * 3 + rows % 3, rng.random(n) < 0.3)
    leads = sf_ids("lead", rows)
    who = [
        c if w < 0.7 and k < 0.9 else lead if w < 0.8 else ""
        for c, lead, w, k in zip(contacts, leads, who_kind, kinds, strict=True)
    ]
    owner = np.where(what_kind < 0.6, model.opp_owner(opp), model.rep_of(account))
    return what, account_column, who, owner


def _tasks(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(
        path,
        [
            "Id", "WhoId", "WhatId", "AccountId", "Subject", "ActivityDate", "Status", "Priority", "OwnerId",
            "Type", "TaskSubtype", "CallType", "CallDurationInSeconds", "CreatedDate", "IsClosed", "Outcome__c",
        ],
    )  # fmt: skip
    for rows in _chunks(model.sizes.tasks, chunk):
        rng = model.rng("task", int(rows[0]))
        n = len(rows)
        what, account, who, owner = _activity_links(model, rows, rng)
        kind = rng.integers(0, len(TASK_KINDS), n).tolist()
        created = rng.integers(0, 700 * 86_400, n)
        dated = (rng.random(n) < 0.85).tolist()
        days = _dates(created // 86_400)
        is_call = [TASK_KINDS[k][0] == "Call" for k in kind]
        out.write(
            [
                sf_ids("task", rows),
                who,
                what,
                account,
                _pick(SUBJECTS, rng.integers(0, len(SUBJECTS), n)),
                [d if keep else "" for d, keep in zip(days, dated, strict=True)],
                ["Completed"] * n,
                _pick(["Normal", "High"], rows),
                sf_ids("user", owner, rng.random(n) < 0.3),
                [TASK_KINDS[k][1] for k in kind],
                [TASK_KINDS[k][0] for k in kind],
                [c if call else "" for c, call in zip(_pick(CALL_TYPES, rows), is_call, strict=True)],
                [
                    str(s) if call else ""
                    for s, call in zip(rng.integers(30, 3_600, n).tolist(), is_call, strict=True)
                ],
                _times(created, rng.random(n) < 0.2),
                ["true"] * n,
                _pick(["Connected", "Left voicemail", "No answer", ""], rng.integers(0, 4, n)),
            ]
        )
    return out.close()


def _events(path: Path, model: _Model, chunk: int) -> int:
    out = _Writer(
        path,
        [
            "Id", "WhoId", "WhatId", "AccountId", "Subject", "StartDateTime", "EndDateTime", "DurationInMinutes",
            "ActivityDate", "OwnerId", "Type", "IsAllDayEvent", "CreatedDate", "Meeting_Type__c",
        ],
    )  # fmt: skip
    for rows in _chunks(model.sizes.events, chunk):
        rng = model.rng("event", int(rows[0]))
        n = len(rows)
        what, account, who, owner = _activity_links(model, rows, rng)
        start = rng.integers(0, 700 * 86_400, n) // 900 * 900
        minutes = rng.choice(np.array([15, 30, 45, 60, 90]), n)
        offsets = rng.random(n) < 0.2
        out.write(
            [
                sf_ids("event", rows),
                who,
                what,
                account,
                _pick(["Demo", "Discovery meeting", "QBR", "On-site, workshop"], rng.integers(0, 4, n)),
                _times(start, offsets),
                _times(start + minutes * 60, offsets),
                [str(m) for m in minutes.tolist()],
                _dates(start // 86_400),
                sf_ids("user", owner, rng.random(n) < 0.3),
                _pick(["Meeting", "Demo", "Other"], rows),
                ["false"] * n,
                _times(start - 86_400, np.zeros(n, dtype=bool)),
                _pick(["Virtual", "In person", ""], rng.integers(0, 3, n)),
            ]
        )
    return out.close()


def main() -> None:
    """Generate an export from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=3_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    written = generate_salesforce_export(
        args.directory,
        opportunities=args.opportunities,
        history=args.history,
        activities=args.activities,
        seed=args.seed,
        progress=lambda name, rows: print(f"{name:<28} {rows:>12,} rows"),
    )
    print(f"{'total':<28} {sum(written.values()):>12,} rows")


if __name__ == "__main__":
    main()
