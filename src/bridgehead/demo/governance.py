"""The demo organisation's change initiatives, across every stage gate.

Fifteen initiatives serve the three demo priorities: some move cleanly, some are stalled (a gate
date passed, or busy edits without a milestone done), one is implemented but the deal data does not
show the value it claims, one is closed with the controller's evidence. Rows are written directly,
with their history back-dated relative to ``as_of`` (the services would stamp everything "now"), and
each step leaves the audit entry the service would have written, so the board's "motion without
progress" and the gate history read as they would in a live organisation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.auth.models import Role, User
from bridgehead.demo.catalogue import EMAIL_DOMAIN
from bridgehead.governance.initiatives import AUDIT_TYPE
from bridgehead.governance.models import (
    Approval,
    ApprovalDecision,
    ApprovalGate,
    GateTransition,
    Initiative,
    InitiativeKpi,
    InitiativeStage,
    Milestone,
    ValueConfirmation,
    ValueKind,
)
from bridgehead.governance.value import measure_value
from bridgehead.strategy.models import Segment

_FORWARD = (
    InitiativeStage.DETAILED,
    InitiativeStage.DECIDED,
    InitiativeStage.IMPLEMENTED,
    InitiativeStage.CLOSED,
)


@dataclass
class _People:
    cro: User
    controller: User
    planner: User | None
    managers: list[User]

    def manager(self, index: int) -> User:
        """The ``index``-th manager, wrapping round (so any demo scale has enough owners)."""
        return self.managers[index % len(self.managers)] if self.managers else self.cro


@dataclass
class _Plan:
    """One demo initiative: what it is, where it ends up, and the story of how it got there."""

    title: str
    description: str
    priority: str
    owner: int
    stage: InitiativeStage
    expected: int
    cost: int
    start_days_ago: int
    length_days: int
    milestones: list[tuple[str, int, int | None]]  # (title, due days after start, done days ago or None)
    value_kind: ValueKind = ValueKind.REVENUE_UPLIFT
    segment: str | None = None
    gate_days_ago: list[int] = field(default_factory=list)  # when each forward gate was passed
    next_gate_in_days: int | None = None  # negative: overdue
    cancelled: tuple[int, str] | None = None  # (days ago, reason)
    busy_days_ago: list[int] = field(default_factory=list)  # edits without progress
    rejection: tuple[int, str] | None = None
    realised: str | None = None  # "measured" to confirm what the data shows
    kpis: list[tuple[str, str, str, str]] = field(default_factory=list)


def _plans() -> list[_Plan]:
    identified, detailed, decided = (
        InitiativeStage.IDENTIFIED,
        InitiativeStage.DETAILED,
        InitiativeStage.DECIDED,
    )
    implemented, closed, cancelled = (
        InitiativeStage.IMPLEMENTED,
        InitiativeStage.CLOSED,
        InitiativeStage.CANCELLED,
    )
    fs, small, installed, mid = (
        "Enterprise financial services",
        "Small business",
        "Installed base",
        "Mid-market core",
    )
    return [
        _Plan("Enter enterprise financial services: first wave", "Two FS-specialist pods and a regulated-industry reference programme.",
              "enterprise_fs", 0, closed, 2_400_000, 380_000, 400, 300,
              [("Hire the FS pods", 60, 320), ("Three lighthouse references", 200, 180), ("Compliance pack GA", 260, 130)],
              segment=fs, gate_days_ago=[390, 370, 120, 40], realised="measured",
              kpis=[("FS win rate", "%", "18", "28"), ("FS median cycle", "days", "160", "120")]),
        _Plan("Launch a partner channel for small business", "Resellers to serve small accounts without direct reps.",
              "velocity", 1, implemented, 2_500_000, 220_000, 330, 300,
              [("Sign ten resellers", 60, 250), ("Partner portal live", 150, 170), ("First partner-sourced deals", 220, 100)],
              segment=small, gate_days_ago=[320, 300, 60], next_gate_in_days=-12,
              kpis=[("Partner-sourced pipeline", "USD", "0", "6000000")]),
        _Plan("Mutual action plans on every deal above $100k", "Make the buyer's steps explicit before Proposal.",
              "velocity", 2, implemented, 900_000, 60_000, 250, 240,
              [("Template and training", 30, 215), ("Manager inspection cadence", 90, 150)],
              gate_days_ago=[245, 235, 120], next_gate_in_days=20),
        _Plan("Retrain reps on value selling", "Two-day workshop per region, then deal coaching.",
              "velocity", 3, decided, 1_100_000, 140_000, 150, 240,
              [("NA workshops", 30, 110), ("EMEA workshops", 75, None), ("APAC workshops", 200, None)],
              gate_days_ago=[140, 125], next_gate_in_days=60,
              kpis=[("Average discount", "%", "22", "15")]),
        _Plan("Hire two FS-specialist account executives", "Second FS pod for EMEA.",
              "enterprise_fs", 4, decided, 1_600_000, 420_000, 60, 300,
              [("Roles approved", 20, 35), ("Both AEs start", 120, None)],
              segment=fs, gate_days_ago=[55, 40], next_gate_in_days=90),
        _Plan("Renewal desk for the top-100 customers", "A desk that starts every renewal 180 days out.",
              "install_base", 5, decided, 700_000, 90_000, 120, 270,
              [("Desk staffed", 45, None), ("Playbook published", 90, None)],
              segment=installed, gate_days_ago=[110, 95], busy_days_ago=[25, 18, 12, 6, 2]),
        _Plan("Expansion plays for Analytics Cloud", "Cross-sell plays for customers on the core platform only.",
              "install_base", 6, detailed, 1_300_000, 75_000, 40, 300,
              [("Play cards", 30, None), ("Enablement", 80, None)],
              segment=installed, gate_days_ago=[35], next_gate_in_days=-15, busy_days_ago=[28, 21, 14, 9, 3]),
        _Plan("Deal desk for enterprise pricing", "One desk approves every enterprise discount above 15 %.",
              "enterprise_fs", 7, detailed, 800_000, 120_000, 30, 200,
              [("Discount policy", 20, None), ("Desk live", 60, None)],
              segment=fs, gate_days_ago=[26], rejection=(12, "Cost too high for one region; show the EMEA numbers.")),
        _Plan("Co-sell with a core-banking vendor", "Joint pursuit of their top accounts.",
              "enterprise_fs", 8, detailed, 1_900_000, 150_000, 20, 360,
              [("Partnership signed", 40, None)],
              segment=fs, gate_days_ago=[8], next_gate_in_days=21),
        _Plan("Vertical playbook for insurers", "Discovery questions and proof points for insurance buyers.",
              "enterprise_fs", 9, identified, 600_000, 30_000, 10, 180, [], segment=fs),
        _Plan("Self-serve onboarding for small accounts", "Let small customers start without a rep.",
              "velocity", 10, identified, 400_000, 250_000, 45, 240, [],
              next_gate_in_days=-20, busy_days_ago=[27, 20, 16, 11, 5, 1]),
        _Plan("Customer advisory board", "Twice-yearly board of twelve top customers.",
              "install_base", 11, identified, 300_000, 40_000, 5, 365, [], next_gate_in_days=30),
        _Plan("Consolidate the CRM instances", "One CRM for all regions; retire two licences.",
              "velocity", 12, closed, 350_000, 180_000, 300, 200,
              [("Data migrated", 90, 200), ("Old instances retired", 180, 110)],
              value_kind=ValueKind.COST_SAVING, gate_days_ago=[295, 285, 105, 60], realised="310000"),
        _Plan("Outbound SDR pod for small business", "An SDR pod prospecting accounts under 200 employees.",
              "velocity", 13, cancelled, 500_000, 300_000, 200, 180, [("Pod hired", 40, None)],
              segment=small, gate_days_ago=[190], cancelled=(170, "Contradicts the upmarket priority; small business is served inbound only.")),
        _Plan("Trade-show programme in APAC", "Three regional shows a year.",
              "enterprise_fs", 14, cancelled, 450_000, 260_000, 90, 270, [], segment=mid,
              cancelled=(70, "No measurable pipeline from last year's shows.")),
    ]  # fmt: skip


def _people(session: Session) -> _People | None:
    by_login = {
        user.email.split("@", 1)[0]: user
        for user in session.scalars(
            select(User).where(
                User.email.in_([f"{login}@{EMAIL_DOMAIN}" for login in ("cro", "controller", "planner")])
            )
        )
    }
    if "cro" not in by_login or "controller" not in by_login:
        return None
    cro = by_login["cro"]
    vps = list(
        session.scalars(
            select(User).where(User.role == Role.MANAGER, User.manager_id == cro.id).order_by(User.id)
        )
    )
    team_managers = list(
        session.scalars(
            select(User)
            .where(User.role == Role.MANAGER, User.manager_id.in_([vp.id for vp in vps]))
            .order_by(User.id)
        )
    )
    return _People(
        cro=cro,
        controller=by_login["controller"],
        planner=by_login.get("planner"),
        managers=vps + team_managers,
    )


class _Writer:
    """Writes an initiative's back-dated history, with the audit entries the services would write."""

    def __init__(self, session: Session, as_of: dt.date) -> None:
        self.session = session
        self.as_of = as_of

    def at(self, days_ago: int, hour: int = 10) -> dt.datetime:
        """A moment ``days_ago`` days before ``as_of``, at ``hour`` UTC."""
        return dt.datetime.combine(self.as_of - dt.timedelta(days=days_ago), dt.time(hour), tzinfo=dt.UTC)

    def audit(
        self,
        initiative: Initiative,
        actor: User | None,
        action: str,
        moment: dt.datetime,
        after: dict[str, Any],
    ) -> None:
        """The entry the service would have written at ``moment``."""
        self.session.add(
            AuditEntry(
                occurred_at=moment,
                actor_id=actor.id if actor else None,
                action=action,
                object_type=AUDIT_TYPE,
                object_id=str(initiative.id),
                source="demo",
                before=None,
                after=after,
            )
        )

    def move(
        self, initiative: Initiative, to: InitiativeStage, actor: User, moment: dt.datetime, note: str = ""
    ) -> None:
        """Pass a gate (or cancel) at ``moment``."""
        self.session.add(
            GateTransition(
                initiative_id=initiative.id,
                from_stage=initiative.stage,
                to_stage=to,
                actor_id=actor.id,
                occurred_at=moment,
                note=note,
            )
        )
        self.audit(initiative, actor, "cancel" if to == InitiativeStage.CANCELLED else "transition", moment,
                   {"stage": to.value})  # fmt: skip
        initiative.stage = to
        initiative.stage_changed_at = moment

    def decide(
        self,
        initiative: Initiative,
        approver: User,
        decision: ApprovalDecision,
        moment: dt.datetime,
        comment: str,
    ) -> None:
        """An approval or rejection by the sponsor."""
        self.session.add(
            Approval(
                initiative_id=initiative.id,
                gate=ApprovalGate.DECIDED,
                decision=decision,
                approver_id=approver.id,
                approver_role=approver.role,
                as_sponsor=approver.id == initiative.sponsor_id,
                comment=comment,
                decided_at=moment,
            )
        )
        action = "approve" if decision == ApprovalDecision.APPROVED else "reject"
        self.audit(initiative, approver, action, moment, {"gate": "decided", "comment": comment})


def _write(
    writer: _Writer, plan: _Plan, people: _People, priorities: Mapping[str, int], segments: Mapping[str, int]
) -> None:
    session, as_of = writer.session, writer.as_of
    owner = people.manager(plan.owner)
    start = as_of - dt.timedelta(days=plan.start_days_ago)
    created = writer.at(plan.start_days_ago + 14)
    initiative = Initiative(
        title=plan.title,
        description=plan.description,
        priority_id=priorities.get(plan.priority),
        segment_id=segments.get(plan.segment) if plan.segment else None,
        owner_id=owner.id,
        sponsor_id=people.cro.id,
        controller_id=people.controller.id,
        stage=InitiativeStage.IDENTIFIED,
        value_kind=plan.value_kind,
        expected_value_amount=Decimal(plan.expected),
        cost_amount=Decimal(plan.cost),
        business_case=plan.description,
        start_date=start,
        end_date=start + dt.timedelta(days=plan.length_days),
        created_by_id=(people.planner or people.cro).id,
        created_at=created,
        stage_changed_at=created,
    )
    session.add(initiative)
    session.flush()
    writer.audit(initiative, people.planner or people.cro, "create", created, {"title": plan.title})
    for title, due_after_start, done_days_ago in plan.milestones:
        session.add(
            Milestone(
                initiative_id=initiative.id,
                title=title,
                due_date=start + dt.timedelta(days=due_after_start),
                done_at=writer.at(done_days_ago) if done_days_ago is not None else None,
                done_by_id=owner.id if done_days_ago is not None else None,
                created_at=created,
            )
        )
        writer.audit(initiative, owner, "milestone_add", created, {"title": title})
        if done_days_ago is not None:
            writer.audit(initiative, owner, "milestone_done", writer.at(done_days_ago), {"title": title})
    for name, unit, baseline, target in plan.kpis:
        session.add(
            InitiativeKpi(
                initiative_id=initiative.id,
                name=name,
                unit=unit,
                baseline_value=Decimal(baseline),
                target_value=Decimal(target),
            )
        )
    if plan.rejection is not None:
        days_ago, comment = plan.rejection
        writer.decide(initiative, people.cro, ApprovalDecision.REJECTED, writer.at(days_ago), comment)
    for stage, days_ago in zip(_FORWARD, plan.gate_days_ago, strict=False):
        if stage == InitiativeStage.DECIDED:
            writer.decide(
                initiative,
                people.cro,
                ApprovalDecision.APPROVED,
                writer.at(days_ago, 9),
                "Approved at the portfolio review",
            )
        if stage == InitiativeStage.CLOSED:
            _confirm(writer, initiative, plan, people.controller, writer.at(days_ago, 9))
        writer.move(
            initiative,
            stage,
            people.controller if stage == InitiativeStage.CLOSED else owner,
            writer.at(days_ago),
        )
    if plan.cancelled is not None:
        days_ago, reason = plan.cancelled
        initiative.cancelled_from_stage = initiative.stage
        initiative.cancellation_reason = reason
        initiative.cancelled_at = writer.at(days_ago)
        writer.move(initiative, InitiativeStage.CANCELLED, people.cro, writer.at(days_ago), reason)
    for days_ago in plan.busy_days_ago:
        writer.audit(initiative, owner, "update", writer.at(days_ago, 15), {"description": "plan reworded"})
    assert initiative.stage == plan.stage, f"demo plan {plan.title!r} ends in {initiative.stage}"
    if plan.next_gate_in_days is not None and initiative.stage not in (
        InitiativeStage.CLOSED,
        InitiativeStage.CANCELLED,
    ):
        initiative.next_gate_due_date = as_of + dt.timedelta(days=plan.next_gate_in_days)
    session.flush()


def _round_to(amount: Decimal, step: int) -> Decimal:
    return (amount / step).quantize(Decimal(1)) * step


def _confirm(
    writer: _Writer, initiative: Initiative, plan: _Plan, controller: User, moment: dt.datetime
) -> None:
    measured = measure_value(writer.session, initiative=initiative, as_of=writer.as_of)
    if plan.realised == "measured":
        # The controller confirms what the deals show, never more than the claim nor less than nothing.
        shown = max(measured.bookings_uplift_amount or Decimal(0), Decimal(0))
        realised = _round_to(
            min(shown, (initiative.expected_value_amount or Decimal(0)) * Decimal("0.85")), 1000
        )
        evidence = f"Bookings report: {measured.target}; uplift against the baseline window, signed off with the CRO."
    else:
        realised = Decimal(plan.realised or 0)
        evidence = "Finance ledger: licence and support costs before and after the migration."
    writer.session.add(
        ValueConfirmation(
            initiative_id=initiative.id,
            controller_id=controller.id,
            realised_value_amount=realised,
            measured_value_amount=measured.bookings_uplift_amount,
            evidence=evidence,
            confirmed_at=moment,
        )
    )
    writer.audit(initiative, controller, "confirm_value", moment, {"realised_value_amount": str(realised)})


def build_initiatives(session: Session, *, priorities: Mapping[str, int], as_of: dt.date, seed: int) -> None:
    """Write about fifteen initiatives linked to ``priorities`` (ids by key), some stalled, one unconfirmed.

    Deterministic: the same data and ``as_of`` give the same initiatives (``seed`` is not needed).
    Priorities missing from ``priorities`` leave their initiatives unlinked; without the CRO and
    the controller logins nothing is written.
    """
    del seed
    people = _people(session)
    if people is None:
        return
    segments: dict[str, int] = {}
    for name, segment_id in session.execute(select(Segment.name, Segment.id)).all():
        segments[name] = segment_id
    writer = _Writer(session, as_of)
    for plan in _plans():
        _write(writer, plan, people, priorities, segments)
    _make_the_unconfirmed_claim_far_above_the_data(session, as_of)
    session.flush()


def _make_the_unconfirmed_claim_far_above_the_data(session: Session, as_of: dt.date) -> None:
    """The partner channel claims at least five times what its target deals show (the story: it is not confirmed)."""
    initiative = session.scalars(
        select(Initiative).where(Initiative.title == "Launch a partner channel for small business")
    ).first()
    if initiative is None:
        return
    measured = measure_value(session, initiative=initiative, as_of=as_of)
    uplift = measured.bookings_uplift_amount or Decimal(0)
    if initiative.expected_value_amount is not None and uplift * 5 > initiative.expected_value_amount:
        initiative.expected_value_amount = _round_to(uplift * 5, 100_000) + 100_000
