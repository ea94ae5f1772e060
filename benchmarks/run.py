"""Foundation benchmarks: demo load time and peak memory, and API list latency at ``--scale 10``.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/run.py [--skip-scale-10] [--postgres]``).
Each measured command runs in its own process so its wall time and peak RSS are its own.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

BIN = Path(sys.executable).parent
BRIDGEHEAD = str(BIN / "bridgehead")
POSTGRES_ADMIN_URL = os.environ.get(
    "BRIDGEHEAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
console = Console()


@dataclass
class Measured:
    """One measured command."""

    label: str
    seconds: float
    peak_rss_mib: float
    goal: str


def run_measured(label: str, args: list[str], env: dict[str, str], goal: str = "") -> Measured:
    """Run a command to completion and read its wall time and peak resident memory."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{label} failed ({process.returncode}): {stderr.strip()[-500:]}")
    return Measured(label, seconds, usage.ru_maxrss / 1024, goal)


def env_for(database_url: str) -> dict[str, str]:
    """The environment of a bridgehead command on ``database_url``."""
    env = dict(os.environ)
    env["BRIDGEHEAD_DATABASE_URL"] = database_url
    env["BRIDGEHEAD_SECRET_KEY"] = "benchmark"
    return env


def load_demo(label: str, database_url: str, scale: float, goal: str = "") -> Measured:
    """``bridgehead init`` then a measured ``bridgehead demo --scale``."""
    env = env_for(database_url)
    subprocess.run([BRIDGEHEAD, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    return run_measured(label, [BRIDGEHEAD, "demo", "--scale", str(scale)], env, goal)


def fresh_postgres_database() -> str | None:
    """A new empty PostgreSQL database, or None if no server answers."""
    try:
        admin = create_engine(POSTGRES_ADMIN_URL)
        name = f"bh_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        console.print(f"[yellow]PostgreSQL skipped: {type(exc).__name__}[/]")
        return None
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url: str) -> None:
    """Drop a database made by ``fresh_postgres_database``."""
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_latency(
    database_url: str, email: str, requests: int = 200, query: str = ""
) -> tuple[float, float, int]:
    """p50 and p95 (ms) of ``GET /api/v1/opportunities?page=…`` over ``requests`` sequential calls."""
    env = env_for(database_url)
    token = subprocess.run(
        [BRIDGEHEAD, "users", "token", email, "--name", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = _free_port()
    server_log = tempfile.NamedTemporaryFile(prefix="bh-bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen(
        [BRIDGEHEAD, "serve", "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
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
            pages = client.get(f"/api/v1/opportunities?page_size=50{query}").json()["pages"]
            chooser = random.Random(42)
            for _ in range(10):  # warm the connection pool and SQLite page cache
                client.get(f"/api/v1/opportunities?page=1&page_size=50{query}")
            timings = []
            for _ in range(requests):
                page = chooser.randint(1, pages)
                start = time.perf_counter()
                response = client.get(f"/api/v1/opportunities?page={page}&page_size=50{query}")
                timings.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    log_tail = Path(server_log.name).read_text(errors="replace")[-3000:]
                    raise SystemExit(f"page {page} answered {response.status_code}; server log:\n{log_tail}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * len(timings)) - 1], pages


def manager_email(database_url: str) -> str:
    """A team manager of the demo organisation (sees a reporting line, not everything)."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        email = connection.execute(
            text(
                'SELECT m.email FROM "user" m JOIN "user" r ON r.manager_id = m.id '
                "WHERE m.role = 'manager' AND r.role = 'rep' ORDER BY m.id LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    return str(email)


def main() -> None:
    """Run the benchmarks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-scale-10", action="store_true", help="only the default scale (quick)")
    parser.add_argument("--postgres", action="store_true", help="also load the default demo into PostgreSQL")
    args = parser.parse_args()

    results: list[Measured] = []
    latencies: list[tuple[str, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bh-bench-") as workdir:
        default_url = f"sqlite:///{Path(workdir) / 'default.db'}"
        console.print("loading the demo at default scale (SQLite)…")
        results.append(load_demo("demo, default scale, SQLite", default_url, 1, "< 60 s"))
        if args.postgres:
            pg_url = fresh_postgres_database()
            if pg_url:
                console.print("loading the demo at default scale (PostgreSQL)…")
                try:
                    results.append(load_demo("demo, default scale, PostgreSQL", pg_url, 1))
                finally:
                    drop_postgres_database(pg_url)
        if not args.skip_scale_10:
            big_url = f"sqlite:///{Path(workdir) / 'scale10.db'}"
            console.print("loading the demo at --scale 10 (SQLite)…")
            results.append(load_demo("demo, --scale 10, SQLite", big_url, 10))
            console.print("measuring API latency at --scale 10…")
            p50, p95, pages = api_latency(big_url, "cro@meridian.example")
            latencies.append(("executive (sees all)", p50, p95, pages))
            p50, p95, pages = api_latency(big_url, manager_email(big_url))
            latencies.append(("team manager (reporting line)", p50, p95, pages))
            p50, p95, pages = api_latency(big_url, "cro@meridian.example", query="&status=open&sort=-amount")
            latencies.append(("executive, open deals by amount", p50, p95, pages))

    table = Table(title="Bridgehead foundation benchmarks (2-core machine)")
    table.add_column("measure")
    table.add_column("wall time", justify="right")
    table.add_column("peak RSS", justify="right")
    table.add_column("goal")
    for item in results:
        table.add_row(item.label, f"{item.seconds:.1f} s", f"{item.peak_rss_mib:,.0f} MiB", item.goal)
    console.print(table)
    if latencies:
        latency_table = Table(
            title="GET /api/v1/opportunities?page=… at --scale 10, 200 requests, 50 per page"
        )
        latency_table.add_column("caller")
        latency_table.add_column("pages", justify="right")
        latency_table.add_column("p50", justify="right")
        latency_table.add_column("p95", justify="right")
        latency_table.add_column("goal")
        for label, p50, p95, pages in latencies:
            latency_table.add_row(label, f"{pages:,}", f"{p50:.1f} ms", f"{p95:.1f} ms", "p95 < 100 ms")
        console.print(latency_table)


if __name__ == "__main__":
    main()
