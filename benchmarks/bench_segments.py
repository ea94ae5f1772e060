"""Segment benchmark: 20 segment rules and ICP scoring over 1,000,000 generated accounts on SQLite.

Generates (reproducibly, from a seed) a SQLite database of accounts with industries, head counts,
revenue, countries, states, parents and custom fields (``tier``, ``year_established``), plus
opportunities so the installed-base rule (``won_deals``) has something to count. Then, in a fresh
process (its wall time and peak RSS are its own), it stores 20 segments of realistic variety and
times:

* the cold evaluation of all 20 (no members stored yet) — goal (issue 4): under 5 s;
* ICP scoring of every account with 6 weighted criteria;
* the after-import step (segments and ICP) after an import that changed 1 % of the accounts and
  won some deals: incremental, it looks only at the changed accounts;
* a warm full re-evaluation, which must find nothing to change (it checks the incremental result).

Usage::

    .venv/bin/python benchmarks/bench_segments.py                   # 1,000,000 accounts
    .venv/bin/python benchmarks/bench_segments.py --accounts 100000
    .venv/bin/python benchmarks/bench_segments.py --data /tmp/seg.db   # keep (or reuse) the database
    .venv/bin/python benchmarks/bench_segments.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(width=130)
GOAL_SECONDS = 5.0
CHUNK = 100_000

INDUSTRIES = (
    "Financial Services",
    "Banking",
    "Insurance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Technology",
    "Telecommunications",
    "Energy",
    "Public Sector",
    "Education",
    "Media",
)
COUNTRIES = (
    "United States",
    "Canada",
    "United Kingdom",
    "Germany",
    "France",
    "Netherlands",
    "Sweden",
    "Japan",
    "Australia",
    "Singapore",
    "India",
    "Brazil",
)
STATES = ("California", "New York", "Texas", "Ontario", "Bavaria", "Île-de-France", "", "")
TIERS = ("SMB", "Growth", "Key", "Strategic")
_FINANCIAL = ["Financial Services", "Banking", "Insurance"]

SEGMENT_RULES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Enterprise FS",
        "invest",
        {
            "all": [
                {"field": "industry", "op": "in", "value": _FINANCIAL},
                {"field": "employees", "op": "gte", "value": 1000},
            ]
        },
    ),
    ("Small business", "deprioritise", {"all": [{"field": "employees", "op": "lt", "value": 200}]}),
    ("Mid-market", "maintain", {"all": [{"field": "employees", "op": "between", "value": [200, 1999]}]}),
    ("Large enterprise", "invest", {"all": [{"field": "employees", "op": "gte", "value": 10000}]}),
    (
        "Revenue 100M-1B",
        "maintain",
        {"all": [{"field": "annual_revenue", "op": "between", "value": [100_000_000, 1_000_000_000]}]},
    ),
    (
        "North America",
        "maintain",
        {"all": [{"field": "country", "op": "in", "value": ["United States", "Canada"]}]},
    ),
    (
        "DACH and Benelux",
        "invest",
        {
            "all": [
                {"field": "country", "op": "in", "value": ["germany", "netherlands"]},
                {"field": "employees", "op": "gte", "value": 500},
            ]
        },
    ),
    (
        "California tech",
        "invest",
        {
            "all": [
                {"field": "state", "op": "eq", "value": "California"},
                {"field": "industry", "op": "eq", "value": "Technology"},
            ]
        },
    ),
    ("Strategic tier", "invest", {"all": [{"field": "custom.tier", "op": "eq", "value": "Strategic"}]}),
    (
        "Key or strategic",
        "maintain",
        {"all": [{"field": "custom.tier", "op": "in", "value": ["Key", "Strategic"]}]},
    ),
    ("Old firms", "maintain", {"all": [{"field": "custom.year_established", "op": "lt", "value": 1950}]}),
    (
        "Young large",
        "invest",
        {
            "all": [
                {"field": "custom.year_established", "op": "gte", "value": 2010},
                {"field": "employees", "op": "gte", "value": 2000},
            ]
        },
    ),
    ("Subsidiaries", "maintain", {"all": [{"field": "parent_account", "op": "is_not_empty"}]}),
    ("No industry", "deprioritise", {"all": [{"field": "industry", "op": "is_empty"}]}),
    ("Name starts with A", "maintain", {"all": [{"field": "name", "op": "starts_with", "value": "a"}]}),
    (
        "Healthcare or public",
        "maintain",
        {
            "any": [
                {"field": "industry", "op": "eq", "value": "Healthcare"},
                {"field": "industry", "op": "eq", "value": "Public Sector"},
            ]
        },
    ),
    (
        "Not retail, not small",
        "maintain",
        {
            "all": [
                {"not": {"field": "industry", "op": "eq", "value": "Retail"}},
                {"not": {"field": "employees", "op": "lt", "value": 200}},
            ]
        },
    ),
    (
        "APAC growth",
        "invest",
        {
            "all": [
                {"field": "country", "op": "in", "value": ["Japan", "Australia", "Singapore", "India"]},
                {"field": "custom.tier", "op": "ne", "value": "SMB"},
            ]
        },
    ),
    (
        "Telco or energy big revenue",
        "invest",
        {
            "all": [
                {"field": "industry", "op": "in", "value": ["Telecommunications", "Energy"]},
                {"field": "annual_revenue", "op": "gte", "value": 500_000_000},
            ]
        },
    ),
    ("Installed base", "maintain", {"all": [{"field": "won_deals", "op": "gte", "value": 1}]}),
]

ICP_CRITERIA: list[tuple[str, dict[str, Any], int]] = [
    ("Financial services", {"field": "industry", "op": "in", "value": _FINANCIAL}, 35),
    ("1,000+ employees", {"field": "employees", "op": "gte", "value": 1000}, 20),
    ("$100M+ revenue", {"field": "annual_revenue", "op": "gte", "value": 100_000_000}, 15),
    (
        "Core markets",
        {"field": "country", "op": "in", "value": ["United States", "United Kingdom", "Germany"]},
        15,
    ),
    ("Key or strategic tier", {"field": "custom.tier", "op": "in", "value": ["Key", "Strategic"]}, 10),
    ("Established before 2000", {"field": "custom.year_established", "op": "lt", "value": 2000}, 5),
]


def generate(path: Path, accounts: int, opportunities: int, seed: int) -> float:
    """A migrated SQLite database at ``path`` holding ``accounts`` accounts and ``opportunities`` deals."""
    from bridgehead.config import Settings
    from bridgehead.db import make_engine
    from bridgehead.migrate import upgrade_database

    started = time.perf_counter()
    engine = make_engine(Settings(), url=f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    rng = np.random.default_rng(seed)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    now = "2026-11-01 00:00:00.000000"
    for start in range(0, accounts, CHUNK):
        size = min(CHUNK, accounts - start)
        ids = np.arange(start + 1, start + size + 1)
        industry = rng.integers(0, len(INDUSTRIES) + 1, size)  # the extra index is "no industry"
        employees = np.round(rng.lognormal(5.5, 1.8, size)).astype(np.int64) + 1
        revenue_cents = (employees * rng.integers(50_000, 400_000, size)).astype(np.int64) * 100
        country = rng.integers(0, len(COUNTRIES), size)
        state = rng.integers(0, len(STATES), size)
        tier = np.minimum(3, employees // 2500 + rng.integers(0, 2, size))
        year = rng.integers(1900, 2024, size)
        has_parent = (rng.random(size) < 0.08) & (ids > 1000)
        parent = np.where(has_parent, rng.integers(1, 1000, size), 0)
        letters = rng.integers(0, 26, size)
        rows = [
            (
                int(ids[i]),
                f"{chr(65 + int(letters[i]))}ccount {int(ids[i])}",
                INDUSTRIES[industry[i]] if industry[i] < len(INDUSTRIES) else None,
                int(employees[i]),
                int(revenue_cents[i]),
                "USD",
                COUNTRIES[country[i]],
                STATES[state[i]] or None,
                int(parent[i]) or None,
                json.dumps({"tier": TIERS[tier[i]], "year_established": str(int(year[i]))}),
                now,
                now,
            )
            for i in range(size)
        ]
        connection.executemany(
            "INSERT INTO account (id, name, industry, employees, annual_revenue_amount, currency_code, country, "
            "state, parent_account_id, custom_fields, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    for start in range(0, opportunities, CHUNK):
        size = min(CHUNK, opportunities - start)
        account_ids = rng.integers(1, accounts + 1, size)
        closed = rng.random(size) < 0.6
        won = closed & (rng.random(size) < 0.35)
        rows_opportunity = [
            (
                start + i + 1,
                int(account_ids[i]),
                f"Deal {start + i + 1}",
                int(rng.integers(1_000, 500_000)) * 100,
                "USD",
                "Closed Won" if won[i] else ("Closed Lost" if closed[i] else "Discovery"),
                now,
                bool(closed[i]),
                bool(won[i]),
                "{}",
                now,
            )
            for i in range(size)
        ]
        connection.executemany(
            "INSERT INTO opportunity (id, account_id, name, amount, currency_code, stage, created_at, is_closed, "
            "is_won, custom_fields, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows_opportunity,
        )
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


TOUCHED_EVERY = 100  # the simulated import changes every 100th account: 10,000 of 1,000,000
WON_EVERY = 1_000  # ... and wins every 1,000th open deal


def _membership_fingerprint(session: Any) -> tuple[int, int]:
    """How many memberships are stored and a checksum of them (equal sets give equal fingerprints)."""
    from sqlalchemy import func, select

    from bridgehead.strategy.models import SegmentMember

    count, checksum = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(SegmentMember.account_id * (SegmentMember.segment_id * 7919 + 1)), 0),
        )
    ).one()
    return int(count), int(checksum)


def _fit_fingerprint(session: Any) -> tuple[int, int]:
    """How many accounts have a fit and a checksum of their scores and met criteria."""
    from sqlalchemy import String, cast, func, select

    from bridgehead.strategy.models import AccountFit

    count, checksum, met = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(AccountFit.account_id * (AccountFit.score + 1)), 0),
            func.coalesce(
                func.sum(func.length(cast(AccountFit.met_criteria, String)) * AccountFit.account_id), 0
            ),
        )
    ).one()
    return int(count), int(checksum) * 1_000_003 + int(met)


def _simulate_import(session: Any) -> tuple[int, int, int]:
    """Change accounts and win deals as an import would (stamping updated_at).

    Returns the run's id, how many accounts changed and how many deals were won.
    """
    from sqlalchemy import and_, literal, update

    from bridgehead.common.types import UTCDateTime, utcnow
    from bridgehead.connectors.models import ImportRun
    from bridgehead.crm.models import Account, Opportunity

    run = ImportRun(source="benchmark", location="", policy="all_or_nothing", status="committed")
    session.add(run)
    session.flush()
    now = literal(utcnow(), UTCDateTime())
    touched = Account.id % TOUCHED_EVERY == 0
    # A new head count between 1 and 20,000 (bounded, so the step can be repeated on the same data):
    # accounts move between the size segments both ways.
    changed = session.execute(
        update(Account)
        .where(touched)
        .values(
            employees=(Account.employees * 7 + 1_234) % 20_000 + 1,
            updated_at=now,
        )
        .execution_options(preserve_rowcount=True)
    )
    won = session.execute(
        update(Opportunity)
        # A different slice of deals each run, so that the step can be repeated on the same data.
        .where(and_(Opportunity.id % WON_EVERY == run.id % WON_EVERY, Opportunity.is_closed.is_(False)))
        .values(is_closed=True, is_won=True, stage="Closed Won", updated_at=now)
        .execution_options(preserve_rowcount=True)
    )
    return int(run.id), int(changed.rowcount), int(won.rowcount)


def worker(url: str) -> None:
    """In a fresh process: store segments and criteria, then time cold evaluation, ICP, an incremental
    after-import step and a warm full re-evaluation (which also checks the incremental result)."""
    from sqlalchemy import delete

    import bridgehead.models  # noqa: F401
    from bridgehead.config import Settings
    from bridgehead.connectors.report import ImportReport
    from bridgehead.db import make_engine, make_session_factory, unit_of_work
    from bridgehead.strategy.icp import score_accounts
    from bridgehead.strategy.models import AccountFit, IcpCriterion, Segment, SegmentMember, SegmentStance
    from bridgehead.strategy.rules import check_rule
    from bridgehead.strategy.segments import after_import, evaluate_segments

    engine = make_engine(Settings(), url=url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        session.execute(delete(SegmentMember))
        session.execute(delete(AccountFit))
        session.execute(delete(Segment))
        session.execute(delete(IcpCriterion))
        for name, stance, rule in SEGMENT_RULES:
            session.add(
                Segment(name=name, stance=SegmentStance(stance), rule=check_rule(rule), is_active=True)
            )
        for position, (label, rule, weight) in enumerate(ICP_CRITERIA):
            session.add(IcpCriterion(label=label, rule=check_rule(rule), weight=weight, position=position))
    timings: dict[str, Any] = {}

    def timed(key: str, step: Any) -> Any:
        with unit_of_work(factory) as session:
            started, cpu = time.perf_counter(), time.process_time()
            result = step(session)
            timings[f"{key}_seconds"] = time.perf_counter() - started
            timings[f"{key}_cpu"] = time.process_time() - cpu
        return result

    counts = timed("cold", evaluate_segments)
    timings["members"] = sum(counts.values())
    timings["segments"] = len(counts)
    timings["scored"] = timed("icp", score_accounts)
    with unit_of_work(factory) as session:
        run_id, timings["touched"], timings["won"] = _simulate_import(session)
    report = ImportReport(
        source="benchmark", location="", policy="all_or_nothing", dry_run=False, run_id=run_id
    )
    timed("incremental", lambda session: after_import(session, report))
    with unit_of_work(factory) as session:
        after_incremental = _membership_fingerprint(session)
        fits_after_incremental = _fit_fingerprint(session)
    timed("warm", evaluate_segments)
    with unit_of_work(factory) as session:
        timings["identical"] = _membership_fingerprint(session) == after_incremental
        timings["members_after"] = after_incremental[0]
    timed("icp_again", score_accounts)
    with unit_of_work(factory) as session:
        timings["fits_identical"] = _fit_fingerprint(session) == fits_after_incremental
    engine.dispose()
    print(json.dumps(timings))


def copy_to_postgres(path: Path, url: str) -> float:
    """Migrate the PostgreSQL database at ``url`` and copy the generated accounts and deals into it."""
    import psycopg

    from bridgehead.config import Settings
    from bridgehead.db import make_engine
    from bridgehead.migrate import upgrade_database

    started = time.perf_counter()
    engine = make_engine(Settings(), url=url)
    upgrade_database(engine)
    engine.dispose()
    source = sqlite3.connect(path)
    tables = {
        "account": "id, name, industry, employees, annual_revenue_amount, currency_code, country, state, "
        "parent_account_id, custom_fields, created_at, updated_at",
        "opportunity": "id, account_id, name, amount, currency_code, stage, created_at, is_closed, is_won, "
        "custom_fields, updated_at",
    }
    booleans = {"is_closed", "is_won"}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as target:
        target.execute("TRUNCATE segment_member, account_fit, opportunity, account CASCADE")
        for table, columns in tables.items():
            names = [name.strip() for name in columns.split(",")]
            with target.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {columns} FROM {table} ORDER BY id"):  # noqa: S608 (constants)
                    copy.write_row(
                        [
                            bool(value) if name in booleans else value
                            for name, value in zip(names, row, strict=True)
                        ]
                    )
        for table in tables:
            target.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        target.execute("ANALYZE")
    source.close()
    return time.perf_counter() - started


def measured_worker(url: str) -> tuple[dict[str, Any], float, float]:
    """Run the worker in its own process; return its timings, wall seconds and peak RSS (MiB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"worker failed: {error.strip()[-800:]}")
    return json.loads(output.decode().strip().splitlines()[-1]), seconds, usage.ru_maxrss / 1024


def report(title: str, timings: dict[str, Any], wall: float, peak: float, prepared: float | None) -> None:
    """Print one database's figures."""
    table = Table(title=title)
    for column in ("step", "wall time", "CPU time", "detail", "goal"):
        table.add_column(column, justify="right" if column.endswith("time") else "left")
    if prepared is not None:
        table.add_row("prepare data (not measured for the goal)", f"{prepared:.1f} s", "", "", "")
    verdict = "met" if timings["cold_seconds"] < GOAL_SECONDS else "MISSED"
    table.add_row(
        f"evaluate {timings['segments']} segments, cold",
        f"{timings['cold_seconds']:.2f} s",
        f"{timings['cold_cpu']:.2f} s",
        f"{timings['members']:,} memberships written",
        f"< {GOAL_SECONDS:.0f} s: {verdict}",
    )
    table.add_row(
        f"ICP scoring, {len(ICP_CRITERIA)} criteria",
        f"{timings['icp_seconds']:.2f} s",
        f"{timings['icp_cpu']:.2f} s",
        f"{timings['scored']:,} accounts",
        "",
    )
    table.add_row(
        "after-import step (segments + ICP), incremental",
        f"{timings['incremental_seconds']:.2f} s",
        f"{timings['incremental_cpu']:.2f} s",
        f"{timings['touched']:,} accounts changed, {timings['won']:,} deals won",
        "",
    )
    table.add_row(
        "re-evaluate all, warm (checks the incremental result)",
        f"{timings['warm_seconds']:.2f} s",
        f"{timings['warm_cpu']:.2f} s",
        "identical" if timings["identical"] else "DIFFERS from the incremental result",
        "",
    )
    table.add_row(
        "ICP scoring again, full (checks the incremental result)",
        f"{timings['icp_again_seconds']:.2f} s",
        f"{timings['icp_again_cpu']:.2f} s",
        "identical" if timings["fits_identical"] else "DIFFERS from the incremental result",
        "",
    )
    table.add_row("worker process (incl. start-up)", f"{wall:.2f} s", "", f"peak RSS {peak:,.0f} MiB", "")
    console.print(table)


def main() -> None:
    """Generate (or reuse) the database, run the measured worker, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--opportunities", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--data", type=Path, help="SQLite file to keep or reuse")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure on this (empty or earlier benchmark) PostgreSQL database",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    with tempfile.TemporaryDirectory(prefix="bench-segments-") as scratch:
        path = args.data or Path(scratch) / "segments.db"
        if path.exists():
            console.print(f"Reusing {path}")
            generated = None
        else:
            console.print(f"Generating {args.accounts:,} accounts and {args.opportunities:,} opportunities …")
            generated = generate(path, args.accounts, args.opportunities, args.seed)
        copied = None
        if args.postgres:
            # Copied before the SQLite run changes the data, so that both start from the same accounts.
            console.print("Copying the data to PostgreSQL …")
            copied = copy_to_postgres(path, args.postgres)
        timings, wall, peak = measured_worker(f"sqlite:///{path}")
        report(f"Segment evaluation on SQLite, {args.accounts:,} accounts", timings, wall, peak, generated)
        if args.postgres:
            timings, wall, peak = measured_worker(args.postgres)
            report(
                f"Segment evaluation on PostgreSQL, {args.accounts:,} accounts", timings, wall, peak, copied
            )
    console.print(
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. CPU time is this"
        " process's own (PostgreSQL's server time is not in it); wall time includes waiting for cores."
    )


if __name__ == "__main__":
    main()
