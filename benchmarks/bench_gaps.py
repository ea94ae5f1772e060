"""Gap scan benchmark: every detector, cold, on SQLite and PostgreSQL at 1,000,000 opportunities.

Reuses the metrics benchmark's data (``bench_metrics.generate``: 1,000,000 opportunities,
3,000,000 stage-history rows, 5,000,000 activities for 1,000 reps) and its loaders (executemany
into SQLite, COPY into PostgreSQL). Then ``bridgehead``'s full gap scan runs in a fresh process
per database (wall time and peak RSS via ``os.wait4``) and commits its signals, as
``bridgehead gaps scan`` does. The scan's "now" is the end of the generated two years. Then the
same full scan runs again on each database (a re-scan, as nightly: every signal open, the same
gaps found again, nothing to write), also in a fresh process, and must leave the same signals.

The same detectors written by hand in DuckDB SQL (``gaps_duckdb.py``) run over the same rows
exported to Parquet, in the same run, and write their signals into a DuckDB file; the table
gives each database's time as a multiple of DuckDB's. Every engine is timed until its signals are
in its database file: SQLite's commit checkpoints its WAL into the file before it returns, so
DuckDB's time includes a CHECKPOINT too (its time without it, and the ratios against that, are
printed below the table). Every engine's open signals are then
compared per kind: the count and a digest of (subject key, explanation) must agree; each
explanation is written from the engine's evidence by the product's ``gaps.explain``, as the product
does when a signal is read.

Last, on each database, the first scan's signals are written again with no detector running
(``measure_write_floor``): inserted into the emptied table and indexed as a first scan does,
committed. That is the floor under any first scan on the engine, printed as a multiple of DuckDB's
whole scan.

Goal (issue 7): under 15 s each, peak under 4 GB, within 3x of DuckDB.

Usage::

    .venv/bin/python benchmarks/bench_gaps.py                      # full size
    .venv/bin/python benchmarks/bench_gaps.py --scale 0.1          # a tenth of every table
    .venv/bin/python benchmarks/bench_gaps.py --opportunities 20000 --history 60000 --activities 100000
    # measure again on data loaded by an earlier run (nothing generated or loaded; a SQLite copy is
    # scanned, the PostgreSQL database's gap_signal is truncated first):
    .venv/bin/python benchmarks/bench_gaps.py --sqlite-db loaded.db --postgres-url URL --parquet DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
import gaps_duckdb
from bench_metrics import (
    GOAL_PEAK_MIB,
    GOAL_SECONDS,
    SPAN_DAYS,
    generate,
    load_postgres,
    load_sqlite,
    peak_mib,
)
from run import BRIDGEHEAD, drop_postgres_database, env_for, fresh_postgres_database

console = Console(width=150)
# The generated data covers two years from 2024-01-01; the scan looks at it from their end.
SCAN_NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=SPAN_DAYS)


def measure_scan(url: str, later_days: int = 0) -> dict[str, Any]:
    """The product's full gap scan, committed, with the time of each detector."""
    import bridgehead.models  # noqa: F401
    from bridgehead.config import Settings
    from bridgehead.db import make_engine, make_session_factory, unit_of_work
    from bridgehead.intelligence.gaps.scan import KindResult, scan, store_defaults

    engine = make_engine(Settings(), url=url)
    detectors: dict[str, dict[str, float]] = {}
    last = [time.perf_counter()]

    def progress(item: KindResult) -> None:
        now = time.perf_counter()
        detectors[item.kind.value] = {"seconds": now - last[0], "raised": item.raised}
        last[0] = now

    start = time.perf_counter()
    # As ``bridgehead gaps scan`` does: the playbook defaults committed first, then the scan with a
    # helper process (used on SQLite only).
    with unit_of_work(make_session_factory(engine)) as session:
        store_defaults(session)
    with unit_of_work(make_session_factory(engine)) as session:
        now = SCAN_NOW + dt.timedelta(days=later_days)
        result = scan(session, now=now, progress=progress, helper_engine=engine)
    return {
        "seconds": time.perf_counter() - start,
        "raised": result.raised,
        "open": result.raised + result.still_open,
        "resolved": result.resolved,
        "detectors": detectors,
    }


def measure_write_floor(url: str) -> dict[str, Any]:
    """What a first scan must do whatever its detectors: write its signals and index them, committed.

    On a database whose first scan committed its signals: they are copied aside (untimed) and the
    signal table emptied in the same transaction, as a first scan finds it. Then, timed, the scan's
    own bulk path (``scan.indexes_built_afterwards``: the secondary indexes dropped, then built and,
    on PostgreSQL, the table analysed) around one ``INSERT … SELECT`` of the signals, and the
    commit. No detector runs: this is the floor under any first scan on the engine, to hold
    against DuckDB's whole scan.
    """
    from sqlalchemy import text

    import bridgehead.models  # noqa: F401
    from bridgehead.config import Settings
    from bridgehead.db import make_engine, make_session_factory, sqlite_page_cache
    from bridgehead.intelligence.gaps.pg_helper import SIGNAL_COLUMNS
    from bridgehead.intelligence.gaps.scan import indexes_built_afterwards

    engine = make_engine(Settings(), url=url)
    columns = ", ".join(SIGNAL_COLUMNS)
    postgres = engine.dialect.name == "postgresql"
    with make_session_factory(engine)() as session:
        session.execute(
            text(f"CREATE TEMPORARY TABLE floor_signal AS SELECT {columns} FROM gap_signal")  # noqa: S608
        )
        rows = session.scalar(text("SELECT count(*) FROM floor_signal"))
        session.execute(text("TRUNCATE gap_signal" if postgres else "DELETE FROM gap_signal"))
        start = time.perf_counter()
        with sqlite_page_cache(session), indexes_built_afterwards(session, True):
            session.execute(
                text(f"INSERT INTO gap_signal ({columns}) SELECT {columns} FROM floor_signal")  # noqa: S608
            )
        written = time.perf_counter() - start
        session.commit()
        seconds = time.perf_counter() - start
    engine.dispose()
    return {"seconds": seconds, "seconds_before_commit": written, "rows": rows}


def _digest(rows: Any) -> dict[str, list[Any]]:
    """Per kind: how many open signals, and an order-free digest of their subject keys and explanations
    (written from each engine's evidence by the product's ``explain``, so the evidence must agree)."""
    from bridgehead.intelligence.gaps.explain import explain

    digests: dict[str, list[Any]] = {}
    for kind, subject_key, evidence in rows:
        facts = json.loads(evidence) if isinstance(evidence, str) else evidence
        # Idle days, days past and hours waiting counted to the scan's "now", as the inbox shows them.
        explanation = explain(kind, facts, SCAN_NOW)
        entry = digests.setdefault(kind, [0, 0])
        entry[0] += 1
        row = hashlib.blake2b(f"{subject_key}\x00{explanation}".encode(), digest_size=8).digest()
        entry[1] = (entry[1] + int.from_bytes(row)) % (1 << 64)
    return {kind: [count, f"{value:016x}"] for kind, (count, value) in sorted(digests.items())}


def digest_signals(target: str) -> dict[str, list[Any]]:
    """The digest of a database's open signals (a URL) or of the DuckDB file's signals (a path)."""
    query = "SELECT kind, subject_key, evidence FROM {} WHERE resolved_at IS NULL"
    if "://" not in target:
        import duckdb

        connection = duckdb.connect(target, read_only=True)
        return _digest(connection.execute("SELECT kind, subject_key, evidence FROM signal").fetchall())
    from sqlalchemy import create_engine, text

    engine = create_engine(target)
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=50_000).execute(text(query.format("gap_signal")))
        return _digest(result)


def run_step(*args: str) -> tuple[dict[str, Any], float, float]:
    """This script's measuring mode in a fresh process: its result, wall seconds and peak RSS (MiB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode()[-1500:] if process.stderr else ""
        raise SystemExit(f"{args} failed: {error}")
    result = json.loads(output)
    # The child's own high-water mark after exec; ru_maxrss would include the memory of the parent
    # it was forked from (the generated tables).
    peak = result.pop("peak_mib", None) if isinstance(result, dict) else None
    return result, seconds, peak if peak is not None else usage.ru_maxrss / 1024


def _truncate_signals(url: str) -> None:
    """Empty a reused database's signals, so its scan is a first one again."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE gap_signal"))
        connection.execute(text("ANALYZE gap_signal"))
    engine.dispose()


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    """Generate, load, scan, report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the three sizes (default 1)")
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=3_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite-db", type=Path, help="a SQLite file loaded earlier (scanned on a copy)")
    parser.add_argument(
        "--postgres-url", help="a PostgreSQL database loaded earlier (its signals are truncated)"
    )
    parser.add_argument(
        "--parquet", type=Path, help="Parquet files written earlier by gaps_duckdb.write_parquet"
    )
    parser.add_argument(
        "--rescan-days",
        type=int,
        default=0,
        help="run the re-scan this many days after the first scan (default 0: the same gaps found "
        "again, compared with the other engines; later, the nightly case, not compared)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--later-days", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--duckdb", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--digest", help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps({**measure_scan(args.measure, args.later_days), "peak_mib": peak_mib()}))
        return
    if args.duckdb:
        print(
            json.dumps(
                {**gaps_duckdb.measure(args.duckdb[0], SCAN_NOW, args.duckdb[1]), "peak_mib": peak_mib()}
            )
        )
        return
    if args.digest:
        print(json.dumps(digest_signals(args.digest)))
        return
    if args.floor:
        print(json.dumps({**measure_write_floor(args.floor), "peak_mib": peak_mib()}))
        return
    sizes = [int(value * args.scale) for value in (args.opportunities, args.history, args.activities)]

    work = Path(tempfile.mkdtemp(prefix="bh-bench-gaps-"))
    results: list[tuple[str, dict[str, Any], float, float]] = []
    floors: dict[str, dict[str, Any]] = {}
    digests: dict[str, dict[str, list[Any]]] = {}
    parquet = work / "parquet"
    if args.parquet:
        shutil.copytree(args.parquet, parquet)
        sizes[0] = pq.ParquetFile(parquet / "opportunity.parquet").metadata.num_rows
        sizes[2] = pq.ParquetFile(parquet / "activity.parquet").metadata.num_rows
    reuse = args.sqlite_db or args.postgres_url
    rescan = ("--later-days", str(args.rescan_days), "--measure")

    def scan_and_rescan(engine: str, url: str) -> None:
        """The first scan, then the nightly case (every signal open), each in its own process;
        the signals digested after each (after a re-scan days later they differ, and are not)."""
        results.append((engine, *run_step("--measure", url)))
        console.print(f"{engine} scanned ({_load_average()})")
        digests[engine] = run_step("--digest", url)[0]
        later = f" {args.rescan_days} d later" if args.rescan_days else ""
        results.append((f"{engine} re-scan{later}", *run_step(*rescan, url)))
        console.print(f"{engine} re-scanned ({_load_average()})")
        if not args.rescan_days:
            digests[f"{engine} re-scan"] = run_step("--digest", url)[0]
        # Last, as it writes the signals again (the same rows, new ids).
        floors[engine] = run_step("--floor", url)[0]

    try:
        tables: dict[str, Any] = {}
        if not (
            args.parquet
            and (args.sqlite_db or args.skip_sqlite)
            and (args.postgres_url or args.skip_postgres)
        ):
            started = time.perf_counter()
            tables = generate(*sizes)
            console.print(
                f"generated in {time.perf_counter() - started:.1f} s: {sizes[0]:,} opportunities, "
                f"{len(tables['history']['id']):,} history rows, {sizes[2]:,} activities"
            )
        if not args.parquet:
            started = time.perf_counter()
            gaps_duckdb.write_parquet(parquet, tables)
            console.print(f"Parquet written in {time.perf_counter() - started:.1f} s")
        if not args.skip_sqlite:
            sqlite_url = f"sqlite:///{work / 'gaps.db'}"
            if args.sqlite_db:
                shutil.copy(args.sqlite_db, work / "gaps.db")
                with sqlite3.connect(work / "gaps.db") as connection:
                    connection.execute("DELETE FROM gap_signal")
                # The copy's 2 GB would otherwise still be written back to disk during the scan.
                os.sync()
            else:
                subprocess.run(
                    [BRIDGEHEAD, "init"], env=env_for(sqlite_url), check=True, stdout=subprocess.DEVNULL
                )
                started = time.perf_counter()
                load_sqlite(work / "gaps.db", tables)
                console.print(f"SQLite loaded in {time.perf_counter() - started:.1f} s")
            scan_and_rescan("SQLite", sqlite_url)
            gaps_duckdb.export_playbook(sqlite_url, parquet)
        if args.postgres_url and not args.skip_postgres:
            _truncate_signals(args.postgres_url)
        postgres_url = None if args.skip_postgres else (args.postgres_url or fresh_postgres_database())
        if postgres_url:
            try:
                if not args.postgres_url:
                    subprocess.run(
                        [BRIDGEHEAD, "init"], env=env_for(postgres_url), check=True, stdout=subprocess.DEVNULL
                    )
                    started = time.perf_counter()
                    load_postgres(postgres_url, tables)
                    console.print(f"PostgreSQL loaded in {time.perf_counter() - started:.1f} s")
                scan_and_rescan("PostgreSQL", postgres_url)
                if not (parquet / gaps_duckdb.CONFIG).exists():
                    gaps_duckdb.export_playbook(postgres_url, parquet)
            finally:
                if not args.postgres_url:
                    drop_postgres_database(postgres_url)
        del tables
        if results:
            duck_file = str(work / "signals.duckdb")
            duck = run_step("--duckdb", str(parquet), duck_file)
            console.print(f"DuckDB ran ({_load_average()})")
            digests["DuckDB"] = run_step("--digest", duck_file)[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    source = " (data loaded by an earlier run)" if reuse else ""
    table = Table(
        title=f"Full gap scan, cold (new process): {sizes[0]:,} opportunities{source}; {_load_average()}"
    )
    columns = ("engine", "scan (s)", "process wall (s)", "peak RSS (MiB)", "open signals", "x DuckDB", "goal")
    for column in columns:
        table.add_column(column, justify="left" if column == "engine" else "right")
    duck_seconds = duck[0]["seconds"] if results else float("nan")
    if results:
        signals = sum(duck[0]["counts"].values())
        table.add_row(
            "DuckDB (hand-written)",
            f"{duck_seconds:.2f}",
            f"{duck[1]:.2f}",
            f"{duck[2]:,.0f}",
            f"{signals:,}",
            "1.0",
            "",
        )
    for label, result, wall, peak in results:
        ratio = result["seconds"] / duck_seconds
        ok = result["seconds"] < GOAL_SECONDS and peak < GOAL_PEAK_MIB and ratio <= 3
        table.add_row(
            label,
            f"{result['seconds']:.2f}",
            f"{wall:.2f}",
            f"{peak:,.0f}",
            f"{result['open']:,}"
            + (f" (+{result['raised']:,} -{result['resolved']:,})" if "re-scan" in label else ""),
            f"{ratio:.1f}",
            "[green]met[/]" if ok else "[red]missed[/]",
        )
    console.print(table)
    if results:
        before_checkpoint = duck[0]["seconds_before_checkpoint"]
        console.print(
            f"{duck[0]['version']}: {before_checkpoint:.2f} s before its CHECKPOINT (its signals in the WAL "
            f"only; x DuckDB against that: "
            + ", ".join(
                f"{label} {result['seconds'] / before_checkpoint:.1f}" for label, result, _, _ in results
            )
            + f"); {_load_average()}"
        )
        for engine, floor in floors.items():
            console.print(
                f"{engine}, writing alone (the {floor['rows']:,} signals inserted into the emptied table "
                f"and indexed as a first scan does, committed; no detector): {floor['seconds']:.2f} s, "
                f"{floor['seconds'] / duck_seconds:.1f}x DuckDB's whole scan (commit "
                f"{floor['seconds'] - floor['seconds_before_commit']:.2f} s of it)"
            )
        reference = next(iter(digests.values()))
        for label, digest in digests.items():
            same = "identical" if digest == reference else "[red]DIFFERENT[/]"
            console.print(
                f"{label}: open signals per kind and their explanations {same} to {next(iter(digests))}'s"
            )
            if digest != reference:
                for kind in sorted(set(digest) | set(reference)):
                    if digest.get(kind) != reference.get(kind):
                        console.print(f"  {kind}: {digest.get(kind)} vs {reference.get(kind)}")
    detail = Table(title="Seconds per detector (signals raised)")
    detail.add_column("detector")
    for label, *_ in results:
        detail.add_column(label, justify="right")
    kinds = list(results[0][1]["detectors"]) if results else []
    for kind in kinds:
        detail.add_row(
            kind,
            *[
                f"{result['detectors'][kind]['seconds']:.2f} ({result['detectors'][kind]['raised']:,})"
                for _, result, _, _ in results
            ],
        )
    console.print(detail)


if __name__ == "__main__":
    main()
