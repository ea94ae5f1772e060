"""Quota benchmark: the quota sheet and quota attainment over the demo organisation at a given scale.

Loads the demo (default ``--scale 10``: 250,000 deals; kept in ``--demo-db`` and reused) and times,
in this process:

* loading a quota sheet of every rep x 8 future quarters (CSV, all or nothing), then loading the same
  sheet again (every row unchanged);
* one page (50 rows) of the quota list with attainment, for a quarter and for a year;
* the list's summary (every quota of the period added up);
* the metrics headline (which now reads quota attainment and coverage), with and without quotas in
  the period;
* the Salesforce quota file (every bookings quota).

Each reading is the median of ``--repeat`` runs (after one warm-up); the sheet loads run once each.
Peak RSS is the process's. Usage::

    .venv/bin/python benchmarks/bench_quotas.py [--scale 10] [--demo-db /tmp/demo10.db] [--repeat 20]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select

console = Console(width=130)


def _median_ms(action: Callable[[], Any], repeat: int) -> float:
    action()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--demo-db", type=Path, default=None, help="SQLite file to keep (loaded if missing)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from bridgehead.auth.models import Role, User
    from bridgehead.common.pagination import PageRequest
    from bridgehead.common.periods import parse_period
    from bridgehead.config import Settings
    from bridgehead.connectors.export import salesforce_quota_export
    from bridgehead.crm.models import Opportunity
    from bridgehead.db import make_engine, make_session_factory, unit_of_work
    from bridgehead.demo import load_demo
    from bridgehead.intelligence.metrics import service as metrics
    from bridgehead.intelligence.metrics.periods import current_quarter
    from bridgehead.intelligence.metrics.scope import MetricFilters
    from bridgehead.migrate import upgrade_database
    from bridgehead.planning import service
    from bridgehead.planning.models import Quota
    from bridgehead.planning.sheet import load_quota_sheet

    work = Path(tempfile.mkdtemp(prefix="bh-quotas-"))
    path = args.demo_db or work / "demo.db"
    url = f"sqlite:///{path}"
    engine = make_engine(Settings(), url=url)
    factory = make_session_factory(engine)
    if not path.exists() or path.stat().st_size == 0:
        upgrade_database(engine)
        started = time.perf_counter()
        with unit_of_work(factory) as session:
            load_demo(session, scale=args.scale, seed=7)
        console.print(f"demo --scale {args.scale} loaded in {time.perf_counter() - started:.1f} s")
    else:
        upgrade_database(engine)

    with factory() as session:
        reps = session.execute(
            select(User.email).where(User.role == Role.REP, User.is_active.is_(True)).order_by(User.id)
        ).scalars()
        emails = list(reps)
        deals = session.scalar(select(func.count()).select_from(Opportunity)) or 0
    next_year = dt.date.today().year + 2
    quarters = [f"{year}-Q{quarter}" for year in (next_year, next_year + 1) for quarter in range(1, 5)]
    sheet = work / "quotas.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["owner", "period", "quota_amount", "ramp_percent"])
        for index, email in enumerate(emails):
            for quarter in quarters:
                writer.writerow([email, quarter, 250_000 + 5_000 * (index % 40), 100 if index % 9 else 50])
    rows: list[tuple[str, str, str]] = []

    with unit_of_work(factory) as session:
        # A kept database holds the last run's sheet: start from none of it.
        session.execute(delete(Quota).where(Quota.period.in_(quarters)))
    with unit_of_work(factory) as session:
        started = time.perf_counter()
        first = load_quota_sheet(session, actor=None, path=sheet)
        rows.append(
            ("sheet load (new quotas)", f"{first.rows:,} rows", f"{time.perf_counter() - started:.2f} s")
        )
    with unit_of_work(factory) as session:
        started = time.perf_counter()
        again = load_quota_sheet(session, actor=None, path=sheet)
        assert again.unchanged == again.rows, "a second load must change nothing"
        rows.append(
            ("same sheet again (unchanged)", f"{again.rows:,} rows", f"{time.perf_counter() - started:.2f} s")
        )

    current = parse_period(f"{dt.date.today().year}")
    quarter = parse_period(quarters[0])
    this_quarter = current_quarter()
    with factory() as session:
        quota_count = session.scalar(select(func.count()).select_from(Quota)) or 0
        page = PageRequest(page=1, page_size=50)
        readings: list[tuple[str, Callable[[], Any]]] = [
            (
                "quota list page, this year",
                lambda: service.list_quotas(
                    session, viewer=None, filters=service.QuotaFilters(period=current), page=page
                ),
            ),
            (
                "quota list page, a future quarter",
                lambda: service.list_quotas(
                    session, viewer=None, filters=service.QuotaFilters(period=quarter), page=page
                ),
            ),
            (
                "quota summary, this year",
                lambda: service.summarise(session, viewer=None, filters=service.QuotaFilters(period=current)),
            ),
            (
                "metrics headline, this quarter (with quotas)",
                lambda: metrics.headline(session, viewer=None, filters=MetricFilters(period=this_quarter)),
            ),
            (
                "metrics headline, product filter (no quotas read)",
                lambda: metrics.headline(
                    session, viewer=None, filters=MetricFilters(period=this_quarter, product="__none__")
                ),
            ),
            (
                "Salesforce quota file, every quota",
                lambda: sum(
                    1
                    for _ in salesforce_quota_export(
                        session, actor=None, forecasting_type_id="0Db000000000001"
                    ).rows
                ),
            ),
        ]
        for label, action in readings:
            rows.append((label, f"median of {args.repeat}", f"{_median_ms(action, args.repeat):.1f} ms"))
        session.rollback()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(
        title=f"Quotas: {len(emails):,} reps, {quota_count:,} quotas, {deals:,} deals (peak RSS {peak_mib:,.0f} MiB)"
    )
    table.add_column("what")
    table.add_column("size")
    table.add_column("time", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    engine.dispose()


if __name__ == "__main__":
    main()
