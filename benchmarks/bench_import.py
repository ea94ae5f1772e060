"""Salesforce import benchmark: a generated export into SQLite and PostgreSQL, against pandas.

Generates a Salesforce export (default: 1,000,000 opportunities, 3,000,000 stage-history rows,
5,000,000 activities, and proportional users, accounts, contacts and contact roles), then times,
each in its own process (wall time and peak RSS via ``os.wait4``):

* ``bridgehead import salesforce DIR`` into a fresh SQLite file and a fresh PostgreSQL database;
* a naive ``pandas.read_csv`` + ``DataFrame.to_sql`` of the same files into a fresh SQLite file
  and PostgreSQL database (no types, no validation, no links: the floor a script would give).

Goal (issue 3): at least 50,000 rows/s overall (all rows of all files / seconds) with peak memory
under 1.5 GB, into SQLite and into PostgreSQL. pandas is a benchmark-only dependency
(``pip install -e '.[bench]'``).

Usage::

    .venv/bin/python benchmarks/bench_import.py                       # full size
    .venv/bin/python benchmarks/bench_import.py --opportunities 10000 --history 30000 --activities 50000
    .venv/bin/python benchmarks/bench_import.py --data /tmp/sf-export   # reuse (or keep) a generated export
    .venv/bin/python benchmarks/bench_import.py --skip-sqlite           # PostgreSQL (and its pandas) only
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from run import BRIDGEHEAD, drop_postgres_database, env_for, fresh_postgres_database, run_measured
from salesforce_generator import generate_salesforce_export

console = Console(width=150)
GOAL_ROWS_PER_SECOND = 50_000
GOAL_PEAK_MIB = 1536
FILES = (
    "User.csv",
    "Account.csv",
    "Contact.csv",
    "Opportunity.csv",
    "OpportunityHistory.csv",
    "OpportunityContactRole.csv",
    "Task.csv",
    "Event.csv",
)


@dataclass
class Result:
    """One measured load."""

    label: str
    backend: str
    seconds: float
    peak_mib: float
    rows: int
    # The machine's 1-minute load average before and after: other work on its 2 cores slows us.
    load: tuple[float, float] = (0.0, 0.0)

    @property
    def rows_per_second(self) -> float:
        """All rows of all files over the wall time."""
        return self.rows / self.seconds


def count_rows(directory: Path) -> int:
    """Data rows of every export file (physical lines minus the header; the generator writes no
    line breaks inside cells)."""
    total = 0
    for name in FILES:
        path = directory / name
        if path.exists():
            with path.open("rb") as handle:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1
    return total


def pandas_load(database_url: str, directory: Path) -> None:
    """The naive baseline, run in its own process: each file read whole and written with to_sql."""
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    for name in FILES:
        path = directory / name
        if path.exists():
            frame = pd.read_csv(path)
            frame.to_sql(path.stem.lower(), engine, if_exists="replace", index=False)
            del frame
    engine.dispose()


def measure_import(backend: str, database_url: str, directory: Path, rows: int) -> Result:
    """``bridgehead init`` (not timed), then a timed ``bridgehead import salesforce``."""
    env = env_for(database_url)
    subprocess.run([BRIDGEHEAD, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    before = os.getloadavg()[0]
    measured = run_measured(
        f"bridgehead import salesforce ({backend})",
        [BRIDGEHEAD, "import", "salesforce", str(directory)],
        env,
    )
    load = (before, os.getloadavg()[0])
    return Result("bridgehead import", backend, measured.seconds, measured.peak_rss_mib, rows, load)


def measure_pandas(backend: str, database_url: str, directory: Path, rows: int) -> Result:
    """The pandas baseline in a subprocess of this script."""
    before = os.getloadavg()[0]
    measured = run_measured(
        f"pandas read_csv + to_sql ({backend})",
        [sys.executable, __file__, "--pandas-load", database_url, "--data", str(directory)],
        env_for(database_url),
    )
    load = (before, os.getloadavg()[0])
    return Result("pandas read_csv + to_sql", backend, measured.seconds, measured.peak_rss_mib, rows, load)


def print_results(results: list[Result]) -> None:
    """The table the issue's closing note quotes: per database, our rows/s and peak memory, pandas'
    rows/s on the same files in the same run, the ratio, and whether the goal is met."""
    table = Table(title="Salesforce import: rows/s over all files, peak RSS, vs naive pandas")
    columns = (
        "database",
        "rows",
        "bridgehead s",
        "bridgehead rows/s",
        "peak RSS MiB",
        "pandas s",
        "pandas rows/s",
        "pandas peak MiB",
        "ratio",
        "load avg (before→after)",
        "goal",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in {"database", "goal", "load avg (before→after)"} else "right"
        )
    ours = {r.backend: r for r in results if not r.label.startswith("pandas")}
    baseline = {r.backend: r for r in results if r.label.startswith("pandas")}
    for backend, result in ours.items():
        pandas = baseline.get(backend)
        met = result.rows_per_second >= GOAL_ROWS_PER_SECOND and result.peak_mib < GOAL_PEAK_MIB
        loads = f"{result.load[0]:.1f}→{result.load[1]:.1f}"
        if pandas is not None:
            loads += f" (pandas {pandas.load[0]:.1f}→{pandas.load[1]:.1f})"
        table.add_row(
            backend,
            f"{result.rows:,}",
            f"{result.seconds:,.1f}",
            f"{result.rows_per_second:,.0f}",
            f"{result.peak_mib:,.0f}",
            f"{pandas.seconds:,.1f}" if pandas else "",
            f"{pandas.rows_per_second:,.0f}" if pandas else "",
            f"{pandas.peak_mib:,.0f}" if pandas else "",
            f"{result.rows_per_second / pandas.rows_per_second:.2f}x" if pandas else "",
            loads,
            ("met" if met else "missed") + f" (≥{GOAL_ROWS_PER_SECOND:,}/s, <{GOAL_PEAK_MIB} MiB)",
        )
    console.print(table)


def main() -> None:
    """Generate, import, compare."""
    parser = argparse.ArgumentParser(description="Salesforce import benchmark")
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=3_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--data", type=Path, help="export folder: reused if it holds files, else kept")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--pandas-load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pandas_load:
        pandas_load(args.pandas_load, args.data)
        return

    work = Path(tempfile.mkdtemp(prefix="bh-bench-import-"))
    directory = args.data or work / "export"
    try:
        if not (directory / "Opportunity.csv").exists():
            start = time.perf_counter()
            written = generate_salesforce_export(
                directory,
                opportunities=args.opportunities,
                history=args.history,
                activities=args.activities,
                progress=lambda name, rows: console.print(f"  generated {name:<28} {rows:>12,} rows"),
            )
            console.print(
                f"Generated {sum(written.values()):,} rows in {time.perf_counter() - start:,.0f} s into {directory}"
            )
        rows = count_rows(directory)
        console.print(f"Export: {rows:,} rows in {directory}")
        results: list[Result] = []

        if not args.skip_sqlite:
            sqlite_url = f"sqlite:///{work / 'bridgehead.db'}"
            results.append(measure_import("sqlite", sqlite_url, directory, rows))
            console.print(results[-1])
            if not args.skip_pandas:
                results.append(measure_pandas("sqlite", f"sqlite:///{work / 'pandas.db'}", directory, rows))
                console.print(results[-1])
            for leftover in ("bridgehead.db", "bridgehead.db-wal", "pandas.db"):
                (work / leftover).unlink(missing_ok=True)

        if not args.skip_postgres:
            postgres_url = fresh_postgres_database()
            if postgres_url is None:
                console.print("[yellow]PostgreSQL is not reachable: its rows are skipped.[/]")
            else:
                try:
                    results.append(measure_import("postgresql", postgres_url, directory, rows))
                    console.print(results[-1])
                finally:
                    drop_postgres_database(postgres_url)
                if not args.skip_pandas:
                    pandas_url = fresh_postgres_database()
                    assert pandas_url is not None
                    try:
                        results.append(measure_pandas("postgresql", pandas_url, directory, rows))
                        console.print(results[-1])
                    finally:
                        drop_postgres_database(pandas_url)
        print_results(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
