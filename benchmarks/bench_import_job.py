"""Import through the API as a background job, end to end: a generated Salesforce export uploaded to a
running server (``POST /api/v1/imports`` with ``background=true``), then the job followed until it
has finished, gap scan included.

Starts ``bridgehead serve`` on a fresh SQLite file (or ``--postgres-url``, a database that must be
empty) with one planner, uploads every file of the export in one multipart request, and polls
``/api/v1/imports/jobs/{id}`` every ``--poll`` seconds. Reports the time until the upload was
accepted, the job's own time, the whole wall time, rows per second, and the server's peak RSS
(``VmHWM``). Usage::

    .venv/bin/python benchmarks/bench_import_job.py --data /tmp/sf-export   # reuse (or keep) an export
    .venv/bin/python benchmarks/bench_import_job.py --opportunities 10000 --history 30000 --activities 50000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from salesforce_generator import generate_salesforce_export

console = Console(width=130)
BRIDGEHEAD = str(Path(sys.executable).with_name("bridgehead"))
PASSWORD = "benchmark-password-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """Run the benchmark and print what it measured."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=3_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--data", type=Path, help="export folder: reused if it holds files, else kept")
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database instead of a new SQLite file")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the job")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bh-import-job-"))
    export = args.data or work / "export"
    if not export.exists() or not any(export.glob("*.csv")):
        export.mkdir(parents=True, exist_ok=True)
        generate_salesforce_export(
            export, opportunities=args.opportunities, history=args.history, activities=args.activities
        )
    files = sorted(export.glob("*.csv"))
    rows = 0
    for path in files:
        with path.open("rb") as handle:
            rows += max(0, sum(1 for _ in handle) - 1)
    size_mib = sum(path.stat().st_size for path in files) / 1024 / 1024
    console.print(f"Export: {len(files)} files, {size_mib:,.0f} MiB, {rows:,} rows (lines) in {export}")

    env = dict(os.environ)
    env["BRIDGEHEAD_DATABASE_URL"] = args.postgres_url or f"sqlite:///{work / 'bench.db'}"
    env["BRIDGEHEAD_SECRET_KEY"] = "bench-import-job"

    def cli(*arguments: str) -> str:
        return subprocess.run(
            [BRIDGEHEAD, *arguments], env=env, check=True, capture_output=True, text=True
        ).stdout

    cli("init")
    cli(
        "users",
        "add",
        "planner@bench.example",
        "--name",
        "Bench Planner",
        "--role",
        "planner",
        "--password",
        PASSWORD,
    )
    token_match = re.search(
        r"bh_[A-Za-z0-9_\-]+", cli("users", "token", "planner@bench.example", "--name", "bench")
    )
    assert token_match is not None, "no token printed"
    headers = {"Authorization": f"Bearer {token_match.group(0)}"}
    port = _free_port()
    server = subprocess.Popen(
        [BRIDGEHEAD, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=httpx.Timeout(3600.0)) as client:
            for _ in range(120):
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        break
                time.sleep(0.25)
            handles = [path.open("rb") for path in files]
            try:
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/imports",
                    headers=headers,
                    data={"kind": "salesforce", "background": "true"},
                    files=[
                        ("files", (path.name, handle, "text/csv"))
                        for path, handle in zip(files, handles, strict=True)
                    ],
                )
                accepted = time.perf_counter() - started
            finally:
                for handle in handles:
                    handle.close()
            if response.status_code != 202:
                console.print(f"[red]upload refused: {response.status_code} {response.text[:500]}")
                raise SystemExit(1)
            location = response.headers["location"]
            job: dict[str, Any] = response.json()
            last_step = ""
            while job["status"] not in {"done", "refused", "failed"}:
                time.sleep(args.poll)
                job = client.get(location, headers=headers).json()
                if job["step"] != last_step:
                    last_step = job["step"]
                    console.print(f"  {time.perf_counter() - started:7.1f} s  {last_step}")
            total = time.perf_counter() - started
    finally:
        peak = _peak_rss_mib(server.pid)
        server.terminate()
        server.wait(timeout=60)
    imported = sum(
        counts["created"] + counts["updated"] + counts["unchanged"]
        for counts in (job["report"] or {}).get("counts", {}).values()
    )
    console.print(
        f"job {job['status']}: {imported:,} rows; upload accepted after {accepted:.1f} s, job {job['seconds']:.1f} s "
        f"({imported / max(job['seconds'], 1e-9):,.0f} rows/s), first byte to finished scan {total:.1f} s "
        f"({imported / total:,.0f} rows/s); gap signals raised: {job.get('signals_raised')}; "
        f"server peak RSS {peak:,.0f} MiB"
    )
    if job["error"] or job.get("scan_error"):
        console.print(f"[red]{job['error'] or job['scan_error']}")


if __name__ == "__main__":
    main()
