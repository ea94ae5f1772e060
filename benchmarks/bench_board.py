"""Three-gap board benchmark at ``bridgehead demo --scale 10`` (250,000 deals, 2 million activities), SQLite.

Measured in this process, as the executive (company board, this quarter):

* the board read afresh: what a refresh, an import's last step and a view without a usable
  snapshot cost;
* the board answered from its snapshot (``board_snapshot``), and the snapshot's size;
* a drill-down (alignment gap of the first priority) afresh and from the snapshot;

then ``GET /board`` over HTTP from ``bridgehead serve`` (p50/p95), signed in as the executive.

Usage::

    .venv/bin/python benchmarks/bench_board.py [--demo-db FILE] [--requests 30]
    .venv/bin/python benchmarks/bench_board.py --postgres-url URL   # in-process readings on PostgreSQL

``--demo-db``: a SQLite file holding ``bridgehead demo --scale 10``, reused (and migrated) if it
exists, else loaded there (about three minutes) and kept. ``--postgres-url``: a PostgreSQL
database, loaded with ``bridgehead demo --scale 10`` if it holds no demo yet (kept); the page is
timed on SQLite only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from bench_metrics import page_latency
from run import BRIDGEHEAD, env_for

console = Console(width=150)


def _timed(action: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def in_process(url: str) -> list[tuple[str, list[float]]]:
    """Seconds per run of each reading, and the stored snapshot's size."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    import bridgehead.models  # noqa: F401
    from bridgehead.auth.models import Role, User
    from bridgehead.config import Settings
    from bridgehead.db import make_engine
    from bridgehead.intelligence.board import service, snapshot
    from bridgehead.intelligence.board.models import BoardSnapshot
    from bridgehead.intelligence.board.plan import active_priorities
    from bridgehead.intelligence.board.schemas import GapName

    engine = make_engine(Settings(), url=url)
    day = snapshot.Freshness(max_age=dt.timedelta(days=1))
    refresh = snapshot.Freshness(max_age=day.max_age, refresh=True)
    results: list[tuple[str, list[float]]] = []
    with Session(engine) as session:
        viewer = session.scalars(select(User).where(User.role == Role.EXECUTIVE).limit(1)).one()
        first = active_priorities(session)[0].id

        def board(freshness: snapshot.Freshness | None) -> Callable[[], object]:
            def run() -> object:
                result = service.board(session, viewer=viewer, freshness=freshness)
                session.commit()
                return result

            return run

        def drill(freshness: snapshot.Freshness | None) -> Callable[[], object]:
            def run() -> object:
                result = service.drill_down(
                    session, viewer=viewer, priority_id=first, gap=GapName.ALIGNMENT, freshness=freshness
                )
                session.commit()
                return result

            return run

        results.append(("board read afresh (no snapshot)", _timed(board(None), 3)))
        results.append(("board refreshed (read afresh and stored)", _timed(board(refresh), 1)))
        kept = board(day)
        assert service.board(session, viewer=viewer, freshness=day).from_snapshot
        results.append(("board from its snapshot", _timed(kept, 10)))
        results.append(("drill-down afresh", _timed(drill(None), 2)))
        results.append(("drill-down from the snapshot", _timed(drill(day), 5)))
        rows, size = session.execute(select(func.count(), func.sum(func.length(BoardSnapshot.payload)))).one()
        console.print(f"board_snapshot: {rows} rows, {int(size or 0) / 1024:,.0f} KiB of compressed payload")
    engine.dispose()
    return results


def _report(results: list[tuple[str, list[float]]], engine: str) -> None:
    table = Table(title=f"Three-gap board at demo --scale 10 ({engine}), the executive's company board")
    for column in ("reading", "runs", "median s", "min s", "max s"):
        table.add_column(column, justify="left" if column == "reading" else "right")
    for name, seconds in results:
        table.add_row(
            name,
            str(len(seconds)),
            f"{statistics.median(seconds):.3f}",
            f"{min(seconds):.3f}",
            f"{max(seconds):.3f}",
        )
    console.print(table)


def main() -> None:
    """Load or reuse the demo, measure, report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-db", type=Path, help="a demo --scale 10 SQLite file, reused if present")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--postgres-url", help="measure the in-process readings on this PostgreSQL database")
    args = parser.parse_args()
    if args.postgres_url:
        env = env_for(args.postgres_url)
        subprocess.run([BRIDGEHEAD, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        # "demo" refuses a database that holds data, so it loads only the first time.
        subprocess.run([BRIDGEHEAD, "demo", "--scale", "10"], env=env, check=False, stdout=subprocess.DEVNULL)
        _report(in_process(args.postgres_url), "PostgreSQL")
        return
    demo_db: Path = args.demo_db or Path(tempfile.mkdtemp(prefix="bh-bench-board-")) / "demo.db"
    url = f"sqlite:///{demo_db.resolve()}"
    env = env_for(url)
    subprocess.run([BRIDGEHEAD, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    if not demo_db.exists() or demo_db.stat().st_size < 1_000_000:
        console.print("loading demo --scale 10 …")
        subprocess.run([BRIDGEHEAD, "demo", "--scale", "10"], env=env, check=True, stdout=subprocess.DEVNULL)
    _report(in_process(url), "SQLite")
    latency = page_latency(args.requests, demo_db, path="/board")
    if latency:
        console.print(
            f"GET /board over HTTP: p50 {latency[0]:.0f} ms, p95 {latency[1]:.0f} ms over {args.requests} "
            f"requests; load average {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
