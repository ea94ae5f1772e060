"""Metrics benchmark: the headline metrics, cold, on SQLite and PostgreSQL against hand-written DuckDB.

Generates set-wise (numpy, no Python loop per row) 1,000,000 opportunities, 3,000,000 stage-history
rows and 5,000,000 activities for 1,000 reps in 50 teams and 5 regions, writes them straight into a
migrated SQLite file (executemany) and PostgreSQL database (COPY), and the same rows to Parquet.
Then, each in its own process (wall time and peak RSS via ``os.wait4``):

* ``bridgehead`` metrics engine: the headline table for a year and the main metrics by office;
* the same metrics written by hand in DuckDB over the Parquet files.

Goal (issue 7): each under 15 s, peak under 4 GB, and within 3x of DuckDB. Optionally (``--page``)
the metrics page at ``bridgehead demo --scale 10``: goal under 300 ms.

Usage::

    .venv/bin/python benchmarks/bench_metrics.py                     # full size
    .venv/bin/python benchmarks/bench_metrics.py --opportunities 20000 --history 60000 --activities 100000
    .venv/bin/python benchmarks/bench_metrics.py --page               # also the page at scale 10
    .venv/bin/python benchmarks/bench_metrics.py --keep DIR           # keep (or reuse) the SQLite file and Parquet
    .venv/bin/python benchmarks/bench_metrics.py --keep DIR --postgres-url URL   # and a loaded PostgreSQL database
    .venv/bin/python benchmarks/bench_metrics.py --page-only [--demo-db FILE]   # only the page
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from run import BRIDGEHEAD, drop_postgres_database, env_for, fresh_postgres_database

console = Console(width=150)
PERIOD = "2025"
STAGES = ["Prospecting", "Qualification", "Solution", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
PROBABILITY = np.array([10, 20, 40, 60, 80, 100, 0])
KINDS = np.array(["call", "email", "meeting", "task"])
DIRECTIONS = np.array(["inbound", "outbound"])
PRODUCTS = np.array(["Analytics Cloud", "Data Platform", "Integration Hub", "AI Assistant", "Support"])
REASONS = np.array(["Price", "Lost to competitor", "No decision", "Timing", "Product fit"])
EPOCH = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_DAYS = 730
GOAL_SECONDS = 15
GOAL_PEAK_MIB = 4096


def _ts_text(seconds: np.ndarray) -> np.ndarray:
    """UTC timestamps as SQLAlchemy writes them on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff")."""
    text = np.datetime_as_string(EPOCH + seconds.astype("timedelta64[s]"), unit="us")
    return np.char.replace(text, "T", " ")


def _day_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.datetime64("2024-01-01") + days.astype("timedelta64[D]"), unit="D")


def generate(
    n_opps: int, n_history: int, n_activities: int, seed: int = 7
) -> dict[str, dict[str, np.ndarray]]:
    """Every table's columns as numpy arrays (ids from 1)."""
    rng = np.random.default_rng(seed)
    n_regions, n_teams, n_reps, n_accounts = 5, 50, 1000, max(1000, n_opps // 10)
    units = {
        "id": np.arange(1, 2 + n_regions + n_teams),
        "name": np.array(
            ["Company"] + [f"Region {i}" for i in range(n_regions)] + [f"Team {i}" for i in range(n_teams)]
        ),
        "kind": np.array(["company"] + ["region"] * n_regions + ["team"] * n_teams),
        "parent_id": np.concatenate([[0], np.ones(n_regions, int), 2 + np.arange(n_teams) % n_regions]),
    }
    team_ids = 2 + n_regions + np.arange(n_teams)
    n_users = n_teams + n_reps
    rep_team = team_ids[np.arange(n_reps) % n_teams]
    users = {
        "id": np.arange(1, n_users + 1),
        "email": np.array([f"user{i}@bench.example" for i in range(1, n_users + 1)]),
        "full_name": np.array([f"Manager {i}" for i in range(n_teams)] + [f"Rep {i}" for i in range(n_reps)]),
        "role": np.array(["manager"] * n_teams + ["rep"] * n_reps),
        "org_unit_id": np.concatenate([team_ids, rep_team]),
        "manager_id": np.concatenate([np.zeros(n_teams, int), rep_team - (2 + n_regions) + 1]),
    }
    accounts = {
        "id": np.arange(1, n_accounts + 1),
        "name": np.array([f"Account {i}" for i in range(n_accounts)]),
    }

    created_s = rng.integers(0, SPAN_DAYS * 86400, n_opps)
    cycle_days = rng.gamma(2.0, 30.0, n_opps).astype(np.int64) + 1
    close_day = np.minimum(created_s // 86400 + cycle_days, SPAN_DAYS + 180)
    is_closed = (rng.random(n_opps) < 0.7) & (close_day < SPAN_DAYS)
    is_won = is_closed & (rng.random(n_opps) < 0.3)
    open_stage = rng.integers(0, 5, n_opps)
    stage = np.where(is_won, 5, np.where(is_closed, 6, open_stage))
    opps = {
        "id": np.arange(1, n_opps + 1),
        "account_id": rng.integers(1, n_accounts + 1, n_opps),
        "owner_id": n_teams + 1 + rng.integers(0, n_reps, n_opps),
        "amount": (rng.lognormal(10, 1, n_opps).astype(np.int64) + 1000) * 100,
        "stage": stage,
        "probability": PROBABILITY[stage],
        "close_day": close_day,
        "created_s": created_s,
        "is_closed": is_closed,
        "is_won": is_won,
        "product": rng.integers(0, len(PRODUCTS), n_opps),
        "loss_reason": np.where(is_closed & ~is_won, rng.integers(0, len(REASONS), n_opps), -1),
    }
    # Stage history: per deal a ladder of rows, the last one its current stage.
    per_deal = (
        rng.multinomial(n_history - n_opps, np.full(n_opps, 1 / n_opps)) + 1
        if n_history > n_opps
        else np.ones(n_opps, int)
    )
    deal_index = np.repeat(np.arange(n_opps), per_deal)
    starts = np.concatenate([[0], np.cumsum(per_deal)[:-1]])
    position = np.arange(len(deal_index)) - np.repeat(starts, per_deal)
    last = position == per_deal[deal_index] - 1
    history_stage = np.where(last, stage[deal_index], np.minimum(position, 4))
    span = np.maximum(close_day[deal_index] * 86400 - created_s[deal_index], 3600)
    history = {
        "id": np.arange(1, len(deal_index) + 1),
        "opportunity_id": deal_index + 1,
        "changed_s": created_s[deal_index] + span * position // per_deal[deal_index],
        "stage": history_stage,
        "amount": opps["amount"][deal_index],
        "close_day": close_day[deal_index],
        "probability": PROBABILITY[history_stage],
    }
    act_deal = rng.integers(0, n_opps, n_activities)
    activities = {
        "id": np.arange(1, n_activities + 1),
        "kind": rng.integers(0, 4, n_activities),
        "direction": rng.integers(0, 2, n_activities),
        "occurred_s": rng.integers(0, SPAN_DAYS * 86400, n_activities),
        "owner_id": opps["owner_id"][act_deal],
        "account_id": opps["account_id"][act_deal],
        "opportunity_id": act_deal + 1,
    }
    # Close dates pushed: each history row after a deal's first moves the close date later with
    # probability 0.3, by 7 to 45 days; the last row holds the deal's close date. (Drawn last, so
    # every other column is what it was before pushes were generated: until then every deal kept
    # one close date all its life, and the pushed-close-date detector found nothing to raise.)
    pushed_by = np.where(
        (position > 0) & (rng.random(len(deal_index)) < 0.3), rng.integers(7, 46, len(deal_index)), 0
    )
    pushed_so_far = np.cumsum(pushed_by)
    pushed_in_all = pushed_so_far[starts + per_deal - 1]
    history["close_day"] = close_day[deal_index] - (pushed_in_all[deal_index] - pushed_so_far)
    return {
        "org_unit": units,
        "user": users,
        "account": accounts,
        "opportunity": opps,
        "history": history,
        "activity": activities,
    }


def _rows_for(table: str, data: dict[str, np.ndarray], lo: int, hi: int) -> dict[str, Any]:
    """One chunk of a table as columns named like the database's, in the database's text formats."""
    d = {key: value[lo:hi] for key, value in data.items()}
    now = "2026-01-01 00:00:00.000000"
    size = hi - lo
    if table == "org_unit":
        return {
            "id": d["id"],
            "name": d["name"],
            "kind": d["kind"],
            "parent_id": np.where(d["parent_id"] == 0, None, d["parent_id"]).astype(object),
        }
    if table == "user":
        return {
            "id": d["id"],
            "email": d["email"],
            "full_name": d["full_name"],
            "role": d["role"],
            "org_unit_id": d["org_unit_id"],
            "manager_id": np.where(d["manager_id"] == 0, None, d["manager_id"]).astype(object),
            "is_active": np.ones(size, bool),
            "created_at": np.full(size, now),
        }
    if table == "account":
        return {
            "id": d["id"],
            "name": d["name"],
            "currency_code": np.full(size, "USD"),
            "custom_fields": np.full(size, "{}"),
            "created_at": np.full(size, now),
            "updated_at": np.full(size, now),
        }
    if table == "opportunity":
        return {
            "id": d["id"],
            "account_id": d["account_id"],
            "owner_id": d["owner_id"],
            "name": np.char.add("Deal ", d["id"].astype(str)),
            "amount": d["amount"],
            "currency_code": np.full(size, "USD"),
            "stage": np.array(STAGES)[d["stage"]],
            "probability": d["probability"],
            "close_date": _day_text(d["close_day"]),
            "created_at": _ts_text(d["created_s"]),
            "is_closed": d["is_closed"],
            "is_won": d["is_won"],
            "product": PRODUCTS[d["product"]],
            "loss_reason": np.where(
                d["loss_reason"] >= 0, REASONS[np.maximum(d["loss_reason"], 0)], None
            ).astype(object),
            "custom_fields": np.full(size, "{}"),
            "updated_at": np.full(size, now),
        }
    if table == "history":
        return {
            "id": d["id"],
            "opportunity_id": d["opportunity_id"],
            "changed_at": _ts_text(d["changed_s"]),
            "stage": np.array(STAGES)[d["stage"]],
            "amount": d["amount"],
            "close_date": _day_text(d["close_day"]),
            "probability": d["probability"],
        }
    return {
        "id": d["id"],
        "kind": KINDS[d["kind"]],
        "direction": DIRECTIONS[d["direction"]],
        "occurred_at": _ts_text(d["occurred_s"]),
        "owner_id": d["owner_id"],
        "account_id": d["account_id"],
        "opportunity_id": d["opportunity_id"],
        "custom_fields": np.full(size, "{}"),
    }


TABLE_NAMES = {"history": "opportunity_history"}
ORDER = ["org_unit", "user", "account", "opportunity", "history", "activity"]
CHUNK = 250_000


def load_sqlite(path: Path, tables: dict[str, dict[str, np.ndarray]]) -> None:
    """executemany in chunks; tuples are built per chunk from numpy columns."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    for table in ORDER:
        data = tables[table]
        total = len(data["id"])
        for lo in range(0, total, CHUNK):
            columns = _rows_for(table, data, lo, min(total, lo + CHUNK))
            names = list(columns)
            values = zip(*[column.tolist() for column in columns.values()], strict=True)
            name = TABLE_NAMES.get(table, table)
            connection.executemany(
                f'INSERT INTO "{name}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})',  # noqa: S608
                values,
            )
        connection.commit()
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


def load_postgres(url: str, tables: dict[str, dict[str, np.ndarray]]) -> None:
    """COPY … FROM STDIN (CSV) in chunks written by pyarrow."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        for table in ORDER:
            data = tables[table]
            total = len(data["id"])
            for lo in range(0, total, CHUNK):
                columns = _rows_for(table, data, lo, min(total, lo + CHUNK))
                arrow = pa.table(
                    {
                        name: pa.array(column.tolist() if column.dtype == object else column)
                        for name, column in columns.items()
                    }
                )
                buffer = io.BytesIO()
                pa_csv.write_csv(arrow, buffer, pa_csv.WriteOptions(include_header=False))
                name = TABLE_NAMES.get(table, table)
                with connection.cursor().copy(
                    f'COPY "{name}" ({", ".join(columns)}) FROM STDIN WITH (FORMAT csv)'
                ) as copy:
                    copy.write(buffer.getvalue())
            connection.commit()
        with connection.cursor() as cursor:
            for name in ("org_unit", "user", "account", "opportunity", "opportunity_history", "activity"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), (SELECT max(id) FROM \"{name}\"))"  # noqa: S608
                )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")


def write_parquet(directory: Path, tables: dict[str, dict[str, np.ndarray]]) -> None:
    """The same rows as Parquet, typed (dates and timestamps, not text) for DuckDB."""
    directory.mkdir(parents=True, exist_ok=True)
    o, h, a, u, un = (tables[k] for k in ("opportunity", "history", "activity", "user", "org_unit"))
    day0 = np.datetime64("2024-01-01")
    pq.write_table(
        pa.table(
            {
                "id": o["id"],
                "owner_id": o["owner_id"],
                "amount": o["amount"],
                "stage": np.array(STAGES)[o["stage"]],
                "probability": o["probability"],
                "close_date": day0 + o["close_day"].astype("timedelta64[D]"),
                "created_at": EPOCH + o["created_s"].astype("timedelta64[s]"),
                "is_closed": o["is_closed"],
                "is_won": o["is_won"],
                "product": PRODUCTS[o["product"]],
            }
        ),
        directory / "opportunity.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "opportunity_id": h["opportunity_id"],
                "stage": np.array(STAGES)[h["stage"]],
                "changed_at": EPOCH + h["changed_s"].astype("timedelta64[s]"),
            }
        ),
        directory / "history.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "kind": KINDS[a["kind"]],
                "owner_id": a["owner_id"],
                "occurred_at": EPOCH + a["occurred_s"].astype("timedelta64[s]"),
            }
        ),
        directory / "activity.parquet",
    )
    pq.write_table(pa.table({"id": u["id"], "org_unit_id": u["org_unit_id"]}), directory / "user.parquet")
    pq.write_table(
        pa.table({"id": un["id"], "name": un["name"], "kind": un["kind"], "parent_id": un["parent_id"]}),
        directory / "org_unit.parquet",
    )


# --- measured steps (each in its own process) --------------------------------------------------


def measure_bridgehead(url: str) -> dict[str, Any]:
    """The product's metrics engine: headline for the year, then the main metrics by office."""
    from sqlalchemy.orm import Session

    import bridgehead.models  # noqa: F401
    from bridgehead.config import Settings
    from bridgehead.db import make_engine
    from bridgehead.intelligence.metrics import service
    from bridgehead.intelligence.metrics.periods import parse_period
    from bridgehead.intelligence.metrics.scope import MetricFilters
    from bridgehead.intelligence.slices import Dimension

    engine = make_engine(Settings(), url=url)
    filters = MetricFilters(period=parse_period(PERIOD))
    timings = {}
    with Session(engine) as session:
        start = time.perf_counter()
        headline = service.headline(session, viewer=None, filters=filters)
        timings["headline"] = time.perf_counter() - start
        start = time.perf_counter()
        offices = service.sliced_metrics(session, viewer=None, filters=filters, by=Dimension.OFFICE)
        timings["by_office"] = time.perf_counter() - start
    values = {metric.key: str(metric.value) for metric in headline.metrics}
    return {"timings": timings, "values": values, "offices": len(offices.rows)}


DUCKDB_HEADLINE = """
WITH o AS (SELECT *, date_diff('day', CAST(created_at AS DATE), close_date) AS cycle FROM '{d}/opportunity.parquet')
SELECT
  count(*) FILTER (WHERE is_closed AND is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS won,
  count(*) FILTER (WHERE is_closed AND NOT is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS lost,
  sum(amount) FILTER (WHERE is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS won_cents,
  median(cycle) FILTER (WHERE is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS median_won,
  median(cycle) FILTER (WHERE is_closed AND NOT is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS median_lost,
  avg(cycle) FILTER (WHERE is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS mean_won,
  sum(amount) FILTER (WHERE created_at >= TIMESTAMP '{s}' AND created_at < TIMESTAMP '{e}') AS created_cents,
  count(*) FILTER (WHERE created_at >= TIMESTAMP '{s}' AND created_at < TIMESTAMP '{e}') AS created,
  sum(amount) FILTER (WHERE NOT is_closed AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS open_cents,
  sum(amount * probability) FILTER (WHERE NOT is_closed AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS weighted,
  count(*) FILTER (WHERE NOT is_closed AND stage <> 'Prospecting') AS qualified
FROM o
"""
DUCKDB_ACTIVITIES = """
SELECT kind, count(*) FROM '{d}/activity.parquet'
WHERE occurred_at >= TIMESTAMP '{s}' AND occurred_at < TIMESTAMP '{e}' GROUP BY kind
"""
DUCKDB_BY_OFFICE = """
WITH owner_office AS (
  SELECT u.id AS owner_id, r.name AS office FROM '{d}/user.parquet' u
  JOIN '{d}/org_unit.parquet' t ON t.id = u.org_unit_id JOIN '{d}/org_unit.parquet' r ON r.id = t.parent_id
), o AS (
  SELECT o.*, office, date_diff('day', CAST(created_at AS DATE), close_date) AS cycle
  FROM '{d}/opportunity.parquet' o LEFT JOIN owner_office USING (owner_id)
), a AS (
  SELECT office, count(*) AS activities FROM '{d}/activity.parquet' LEFT JOIN owner_office USING (owner_id)
  WHERE occurred_at >= TIMESTAMP '{s}' AND occurred_at < TIMESTAMP '{e}' GROUP BY office
)
SELECT office,
  count(*) FILTER (WHERE is_closed AND is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS won,
  count(*) FILTER (WHERE is_closed AND NOT is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS lost,
  sum(amount) FILTER (WHERE is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS won_cents,
  median(cycle) FILTER (WHERE is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS median_won,
  median(cycle) FILTER (WHERE is_closed AND NOT is_won AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS median_lost,
  sum(amount) FILTER (WHERE created_at >= TIMESTAMP '{s}' AND created_at < TIMESTAMP '{e}') AS created_cents,
  sum(amount) FILTER (WHERE NOT is_closed AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS open_cents,
  sum(amount * probability) FILTER (WHERE NOT is_closed AND close_date >= DATE '{s}' AND close_date < DATE '{e}') AS weighted,
  max(a.activities) AS activities
FROM o LEFT JOIN a USING (office) GROUP BY office
"""


def measure_duckdb(directory: str) -> dict[str, Any]:
    """The same metrics by hand in DuckDB over the Parquet files."""
    import duckdb

    params = {"d": directory, "s": f"{PERIOD}-01-01", "e": f"{int(PERIOD) + 1}-01-01"}
    connection = duckdb.connect()
    timings = {}
    start = time.perf_counter()
    row = connection.execute(DUCKDB_HEADLINE.format(**params)).fetchone()
    connection.execute(DUCKDB_ACTIVITIES.format(**params)).fetchall()
    timings["headline"] = time.perf_counter() - start
    start = time.perf_counter()
    offices = connection.execute(DUCKDB_BY_OFFICE.format(**params)).fetchall()
    timings["by_office"] = time.perf_counter() - start
    assert row is not None
    won, lost = row[0], row[1]
    return {
        "timings": timings,
        "values": {
            "win_rate": str(won / (won + lost)),
            "median_cycle_won_days": str(row[3]),
            "median_cycle_lost_days": str(row[4]),
        },
        "offices": len(offices),
        "version": f"DuckDB {duckdb.__version__}",
    }


def run_step(args: list[str]) -> tuple[dict[str, Any], float, float]:
    """Run this script's measuring mode in a fresh process: its result, wall seconds and peak RSS (MiB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args} failed: {process.stderr.read().decode()[-800:] if process.stderr else ''}")
    result = json.loads(output)
    # The child's own high-water mark after exec; ru_maxrss would include the memory of the parent
    # it was forked from (the generated tables).
    peak = result.pop("peak_mib", None) if isinstance(result, dict) else None
    return result, seconds, peak if peak is not None else usage.ru_maxrss / 1024


def peak_mib() -> float | None:
    """This process's peak resident memory (VmHWM), MiB; None where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _drop_caches_sqlite(path: Path) -> None:
    # "Cold" here is a new process with a new connection; the OS page cache cannot be dropped without root.
    del path


def page_latency(
    requests: int, demo_db: Path | None = None, path: str = "/insights/metrics"
) -> tuple[float, float] | None:
    """p50/p95 (ms) of GET ``path`` at demo --scale 10 (SQLite), signed in as the executive.

    ``demo_db``: a SQLite file holding ``bridgehead demo --scale 10`` (kept, migrated to the
    current schema), or a path where none exists yet, which is loaded once and kept for later
    runs; without it a new one is loaded (about three minutes) and removed after.
    """
    import httpx

    from run import _free_port  # type: ignore[attr-defined]

    directory = Path(tempfile.mkdtemp(prefix="bh-bench-page-"))
    url = f"sqlite:///{demo_db.resolve() if demo_db else directory / 'demo.db'}"
    env = env_for(url)
    load_demo = demo_db is None or not demo_db.exists()
    subprocess.run([BRIDGEHEAD, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    if load_demo:
        console.print("loading demo --scale 10 …")
        subprocess.run([BRIDGEHEAD, "demo", "--scale", "10"], env=env, check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run(
        [sys.executable, __file__, "--session-token", url], check=True, capture_output=True, text=True
    ).stdout.strip()
    port = _free_port()
    server = subprocess.Popen(
        [BRIDGEHEAD, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", cookies={"bh_session": token}, timeout=60
        ) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start")
                time.sleep(0.2)
            for _ in range(3):
                assert client.get(path).status_code == 200
            timings = []
            for _ in range(requests):
                start = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def _report_page(demo_db: Path | None) -> None:
    latency = page_latency(50, demo_db)
    if latency:
        console.print(
            f"/insights/metrics at demo --scale 10 (SQLite): p50 {latency[0]:.0f} ms, p95 {latency[1]:.0f} ms "
            f"(goal < 300 ms); load average {os.getloadavg()[0]:.2f}"
        )


def _session_token(url: str) -> str:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    import bridgehead.models  # noqa: F401
    from bridgehead.auth.models import Role, User
    from bridgehead.auth.service import start_session
    from bridgehead.config import Settings
    from bridgehead.db import make_engine

    engine = make_engine(Settings(), url=url)
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.role == Role.EXECUTIVE).limit(1)).one()
        token = start_session(session, user=user, max_age_seconds=3600)
        session.commit()
    return token


def main() -> None:
    """Generate, load, measure, report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=3_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--postgres-url", help="a PostgreSQL database loaded earlier with the same rows (kept, not dropped)"
    )
    parser.add_argument("--page", action="store_true", help="also time the metrics page at demo --scale 10")
    parser.add_argument("--page-only", action="store_true", help="time only the metrics page")
    parser.add_argument(
        "--keep", type=Path, help="keep the generated SQLite file and Parquet here, and reuse them if present"
    )
    parser.add_argument(
        "--demo-db",
        type=Path,
        help="a demo --scale 10 SQLite file for the page: reused if present, else loaded there and kept",
    )
    parser.add_argument("--measure", choices=["bridgehead", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--session-token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.session_token:
        print(_session_token(args.session_token))
        return
    if args.measure == "bridgehead":
        print(json.dumps({**measure_bridgehead(args.target), "peak_mib": peak_mib()}))
        return
    if args.measure == "duckdb":
        print(json.dumps({**measure_duckdb(args.target), "peak_mib": peak_mib()}))
        return

    if args.page_only:
        _report_page(args.demo_db)
        return
    keep = args.keep is not None
    work = args.keep if keep else Path(tempfile.mkdtemp(prefix="bh-bench-metrics-"))
    try:
        sqlite_url = f"sqlite:///{work / 'metrics.db'}"
        reused = keep and (work / "metrics.db").exists() and (work / "parquet").exists()
        tables: dict[str, dict[str, np.ndarray]] | None = None
        if reused:
            console.print(f"reusing {work} (metrics.db and parquet/ from an earlier --keep run)")
            if not (args.skip_postgres or args.postgres_url):
                tables = generate(args.opportunities, args.history, args.activities)
        else:
            work.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            tables = generate(args.opportunities, args.history, args.activities)
            console.print(
                f"generated in {time.perf_counter() - started:.1f} s: {args.opportunities:,} opportunities, "
                f"{len(tables['history']['id']):,} history rows, {args.activities:,} activities"
            )
            started = time.perf_counter()
            write_parquet(work / "parquet", tables)
            console.print(f"parquet written in {time.perf_counter() - started:.1f} s")
            subprocess.run(
                [BRIDGEHEAD, "init"], env=env_for(sqlite_url), check=True, stdout=subprocess.DEVNULL
            )
            started = time.perf_counter()
            load_sqlite(work / "metrics.db", tables)
            console.print(f"SQLite loaded in {time.perf_counter() - started:.1f} s")
        # A reused file is migrated to the current schema first (new indexes are built here).
        subprocess.run([BRIDGEHEAD, "init"], env=env_for(sqlite_url), check=True, stdout=subprocess.DEVNULL)
        results: list[tuple[str, dict[str, Any], float, float]] = []
        results.append(
            ("DuckDB (hand-written)", *run_step(["--measure", "duckdb", "--target", str(work / "parquet")]))
        )
        results.append(
            ("Bridgehead on SQLite", *run_step(["--measure", "bridgehead", "--target", sqlite_url]))
        )

        postgres_url = None if args.skip_postgres else (args.postgres_url or fresh_postgres_database())
        if postgres_url:
            try:
                subprocess.run(
                    [BRIDGEHEAD, "init"], env=env_for(postgres_url), check=True, stdout=subprocess.DEVNULL
                )
                if not args.postgres_url:
                    started = time.perf_counter()
                    assert tables is not None
                    load_postgres(postgres_url, tables)
                    console.print(f"PostgreSQL loaded in {time.perf_counter() - started:.1f} s")
                results.append(
                    (
                        "Bridgehead on PostgreSQL",
                        *run_step(["--measure", "bridgehead", "--target", postgres_url]),
                    )
                )
            finally:
                if not args.postgres_url:
                    drop_postgres_database(postgres_url)
        del tables

        duck_total = sum(results[0][1]["timings"].values())
        table = Table(
            title=f"Headline metrics for {PERIOD}, cold (new process): {args.opportunities:,} opportunities"
        )
        for column in (
            "engine",
            "headline (s)",
            "by office (s)",
            "metrics total (s)",
            "process wall (s)",
            "peak RSS (MiB)",
            "x DuckDB",
            "goal",
        ):
            table.add_column(column, justify="left" if column == "engine" else "right")
        for label, result, wall, peak in results:
            total = sum(result["timings"].values())
            ratio = total / duck_total if duck_total else float("nan")
            ok = total < GOAL_SECONDS and peak < GOAL_PEAK_MIB and (label.startswith("DuckDB") or ratio <= 3)
            table.add_row(
                label,
                f"{result['timings']['headline']:.2f}",
                f"{result['timings']['by_office']:.2f}",
                f"{total:.2f}",
                f"{wall:.2f}",
                f"{peak:,.0f}",
                f"{ratio:.1f}",
                "[green]met[/]" if ok else "[red]missed[/]",
            )
        console.print(table)
        console.print(f"{results[0][1].get('version', 'DuckDB')}; load average {os.getloadavg()[0]:.2f}")
        for label, result, _, _ in results:
            values = result["values"]
            console.print(
                f"{label}: win rate {values.get('win_rate')}, median won {values.get('median_cycle_won_days')}, "
                f"median lost {values.get('median_cycle_lost_days')}, offices {result['offices']}"
            )
        if args.page:
            _report_page(args.demo_db)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
