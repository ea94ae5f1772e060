"""Deal room benchmark: the page for a deal with 40 stakeholders and 500 activities at demo ``--scale 10``.

Builds (once, then reuses) a SQLite database with the demo organisation at ``--scale 10``, adds a
"Bench Corp" deal owned by the demo's showcase rep with 40 stakeholders in a reporting tree, 500
activities with them, full MEDDPICC qualification and an 8-step action plan, then requests the deal
room page (and the ``/room`` API) through the ASGI app in-process and reports p50/p95/max of the
server time. Goal (issue 5): p95 under 150 ms for the page.

Usage::

    .venv/bin/python benchmarks/bench_deal_room.py                       # /tmp/bh_bench_s10.db
    .venv/bin/python benchmarks/bench_deal_room.py --data /tmp/other.db --requests 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

import bridgehead.models  # noqa: F401  (every table mapped)
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import start_session
from bridgehead.config import Settings
from bridgehead.crm.models import Account, Activity, ActivityDirection, ActivityKind, Contact, Opportunity
from bridgehead.db import make_engine
from bridgehead.deals.action_plans import add_step
from bridgehead.deals.process import process_for
from bridgehead.deals.qualification import framework_dimensions, set_qualification
from bridgehead.deals.schemas import StepCreate
from bridgehead.deals.stakeholders import add_stakeholder
from bridgehead.web.app import create_app
from bridgehead.web.deps import SESSION_COOKIE

console = Console(width=110)
GOAL_P95_MS = 150.0
BIN = Path(sys.executable).parent
ROLES = (
    "economic_buyer",
    "champion",
    "coach",
    "technical_evaluator",
    "influencer",
    "user",
    "blocker",
    "procurement",
)


def build_database(path: Path) -> None:
    """``bridgehead init`` and ``bridgehead demo --scale 10`` into ``path`` (takes minutes)."""
    env = {"BRIDGEHEAD_DATABASE_URL": f"sqlite:///{path}", "PATH": str(BIN)}
    console.print(f"building the --scale 10 demo into {path} (a few minutes)…")
    subprocess.run([str(BIN / "bridgehead"), "init"], env=env, check=True)
    subprocess.run([str(BIN / "bridgehead"), "demo", "--scale", "10"], env=env, check=True)


def add_bench_deal(session: Session) -> tuple[int, User]:
    """The Bench Corp deal (made once): 40 stakeholders, 500 activities, qualification, a plan."""
    rep = session.scalars(
        select(User).where(User.role == Role.REP, User.manager_id.is_not(None)).order_by(User.id)
    ).first()
    assert rep is not None, "the demo has reps"
    existing = session.scalar(select(Opportunity).where(Opportunity.external_id == "BENCH-DEAL"))
    if existing is not None:
        return existing.id, rep
    account = Account(external_id="BENCH-ACC", name="Bench Corp", owner_id=rep.id, custom_fields={})
    session.add(account)
    session.flush()
    contacts: list[Contact] = []
    for index in range(40):
        manager = contacts[(index - 1) // 3] if index else None  # a tree three wide
        contact = Contact(
            account_id=account.id,
            first_name=f"Person{index}",
            last_name="Bench",
            title=f"Title {index}",
            reports_to_id=manager.id if manager else None,
            custom_fields={},
        )
        session.add(contact)
        session.flush()
        contacts.append(contact)
    deal = Opportunity(
        external_id="BENCH-DEAL",
        account_id=account.id,
        owner_id=rep.id,
        name="Bench Corp platform",
        amount=Decimal("250000"),
        stage="Proposal",
        probability=60,
        close_date=dt.date.today() + dt.timedelta(days=40),
        type="New Business",
        custom_fields={},
    )
    session.add(deal)
    session.flush()
    now = dt.datetime.now(dt.UTC)
    session.add_all(
        Activity(
            kind=ActivityKind.MEETING if index % 3 == 0 else ActivityKind.EMAIL,
            direction=ActivityDirection.OUTBOUND,
            subject=f"Touch {index}",
            occurred_at=now - dt.timedelta(hours=5 * index + 1),
            owner_id=rep.id,
            account_id=account.id,
            contact_id=contacts[index % 40].id,
            opportunity_id=deal.id,
            custom_fields={},
        )
        for index in range(500)
    )
    session.flush()
    for index, contact in enumerate(contacts):
        add_stakeholder(
            session, viewer=rep, opportunity_id=deal.id, contact_id=contact.id, role=ROLES[index % len(ROLES)]
        )
    context = process_for(session, deal)
    for dimension in framework_dimensions(session, context.framework.id):
        set_qualification(
            session,
            viewer=rep,
            opportunity_id=deal.id,
            framework_id=context.framework.id,
            dimension_key=dimension.key,
            status="identified",
            evidence="Benchmark evidence. " * 20,
        )
    for index in range(8):
        add_step(
            session,
            viewer=rep,
            opportunity_id=deal.id,
            step=StepCreate(title=f"Step {index}", due_date=dt.date.today() + dt.timedelta(days=7 * index)),
        )
    session.commit()
    return deal.id, rep


def measure(client: TestClient, path: str, requests: int) -> list[float]:
    """Milliseconds per request after five warm-up requests; every answer must be 200."""
    for _ in range(5):
        assert client.get(path).status_code == 200
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:200]
    return timings


def main() -> None:
    """Build or reuse the database, add the deal, time the page and the API."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bh_bench_s10.db"))
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    if not args.data.exists():
        build_database(args.data)
    settings = Settings(database_url=f"sqlite:///{args.data}", secret_key="bench-secret")
    engine = make_engine(settings)
    with Session(engine) as session:
        deal_id, rep = add_bench_deal(session)
        token = start_session(session, user=rep, max_age_seconds=3600)
        session.commit()
        opportunities = session.query(Opportunity).count()
    engine.dispose()
    app = create_app(settings)
    table = Table(
        title=f"Deal room, {opportunities:,} opportunities in the database, {args.requests} requests"
    )
    for column in ("request", "p50 ms", "p95 ms", "max ms", "goal"):
        table.add_column(column, justify="right" if column != "request" else "left")
    with TestClient(app) as client:
        client.cookies.set(SESSION_COOKIE, token)
        page = measure(client, f"/deals/{deal_id}", args.requests)
        api = measure(client, f"/api/v1/opportunities/{deal_id}/room", args.requests)
        html = client.get(f"/deals/{deal_id}").text
        assert html.count('class="oc-node') == 40, "all 40 stakeholders drawn"
    for label, timings, goal in (
        ("GET /deals/{id} (page)", page, f"p95 < {GOAL_P95_MS:.0f}"),
        ("GET /api/v1/…/room", api, ""),
    ):
        ordered = sorted(timings)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        table.add_row(label, f"{statistics.median(ordered):.1f}", f"{p95:.1f}", f"{ordered[-1]:.1f}", goal)
    console.print(table)


if __name__ == "__main__":
    main()
