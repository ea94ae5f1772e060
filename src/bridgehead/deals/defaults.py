"""The shipped playbook: MEDDPICC, MEDDIC and BANT, and the "New business" and "Expansion" processes.

Seeded on first use (``ensure_defaults``); afterwards admins and planners change them through the
API. Stage names follow the demo's ladder; ``crm_stage_names`` lists what Salesforce's default
process, HubSpot's default pipeline (ids and labels) and the Maven CRM file call the same stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.deals.models import (
    ProcessStage,
    QualificationDimension,
    QualificationFramework,
    QualificationStatus,
    SalesProcess,
)

FRAMEWORKS: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "meddpicc": (
        "MEDDPICC",
        (
            ("metrics", "Metrics", "The measurable outcome the buyer expects, in their numbers."),
            ("economic_buyer", "Economic buyer", "The person who can say yes when everyone else says no."),
            ("decision_criteria", "Decision criteria", "How the buyer will compare the options."),
            ("decision_process", "Decision process", "Who decides, in what steps, by when."),
            ("paper_process", "Paper process", "Legal, procurement and security steps to a signature."),
            ("identify_pain", "Identify pain", "The business pain that makes doing nothing expensive."),
            ("champion", "Champion", "An insider with power who sells for us when we are not there."),
            ("competition", "Competition", "Who else is in the deal, including doing nothing."),
        ),
    ),
    "meddic": (
        "MEDDIC",
        (
            ("metrics", "Metrics", "The measurable outcome the buyer expects."),
            ("economic_buyer", "Economic buyer", "The person with final budget authority."),
            ("decision_criteria", "Decision criteria", "How the buyer will compare the options."),
            ("decision_process", "Decision process", "Who decides, in what steps, by when."),
            ("identify_pain", "Identify pain", "The business pain behind the project."),
            ("champion", "Champion", "An insider who sells for us."),
        ),
    ),
    "bant": (
        "BANT",
        (
            ("budget", "Budget", "Money is set aside for this."),
            ("authority", "Authority", "We speak with the person who decides."),
            ("need", "Need", "The need is defined and acknowledged."),
            ("timeline", "Timeline", "The buyer has a date to decide by."),
        ),
    ),
}


@dataclass(frozen=True)
class StageSpec:
    """A stage definition of a shipped process."""

    name: str
    milestone: str
    probability: int
    crm_names: tuple[str, ...]
    exit_criteria: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()
    minimum: QualificationStatus = QualificationStatus.IDENTIFIED
    engaged: int = 0
    economic_buyer: bool = False
    closed: bool = False
    won: bool = False
    extra: dict[str, str] = field(default_factory=dict)


_WON = StageSpec(
    "Closed Won",
    "The buyer signed the contract.",
    100,
    ("Closed Won", "closedwon", "Won"),
    fields=("amount", "close_date"),
    dimensions=("economic_buyer", "paper_process"),
    minimum=QualificationStatus.VALIDATED,
    engaged=2,
    economic_buyer=True,
    closed=True,
    won=True,
)
_LOST = StageSpec(
    "Closed Lost", "The buyer chose another path.", 0, ("Closed Lost", "closedlost", "Lost"), closed=True
)

NEW_BUSINESS: tuple[StageSpec, ...] = (
    StageSpec(
        "Prospecting",
        "The buyer agreed to a first conversation.",
        10,
        ("Prospecting", "appointmentscheduled", "Appointment Scheduled"),
        exit_criteria=("First meeting held with someone who feels the pain",),
    ),
    StageSpec(
        "Qualification",
        "The buyer acknowledges a problem worth solving.",
        20,
        ("Qualification", "qualifiedtobuy", "Qualified To Buy", "Needs Analysis", "Engaging"),
        exit_criteria=(
            "Pain confirmed in the buyer's words",
            "Next meeting booked with a second stakeholder",
        ),
        fields=("close_date",),
        dimensions=("identify_pain",),
    ),
    StageSpec(
        "Solution",
        "The buyer agrees our solution meets their decision criteria.",
        40,
        (
            "Solution",
            "Value Proposition",
            "Id. Decision Makers",
            "presentationscheduled",
            "Presentation Scheduled",
        ),
        exit_criteria=("Demo or workshop delivered against the decision criteria", "Champion tested"),
        fields=("amount", "close_date"),
        dimensions=("identify_pain", "metrics", "champion", "decision_criteria"),
        engaged=2,
    ),
    StageSpec(
        "Proposal",
        "The economic buyer has reviewed our proposal.",
        60,
        (
            "Proposal",
            "Proposal/Price Quote",
            "Perception Analysis",
            "decisionmakerboughtin",
            "Decision Maker Bought-In",
        ),
        exit_criteria=("Proposal walked through with the economic buyer", "Mutual action plan agreed"),
        fields=("amount", "close_date", "product"),
        dimensions=("economic_buyer", "decision_process", "metrics"),
        engaged=3,
        economic_buyer=True,
    ),
    StageSpec(
        "Negotiation",
        "The buyer has started its paper process.",
        80,
        ("Negotiation", "Negotiation/Review", "contractsent", "Contract Sent"),
        exit_criteria=("Redlines received", "Signature date confirmed by procurement"),
        fields=("amount", "close_date", "product"),
        dimensions=("economic_buyer", "champion", "paper_process", "competition"),
        minimum=QualificationStatus.IDENTIFIED,
        engaged=3,
        economic_buyer=True,
    ),
    _WON,
    _LOST,
)

EXPANSION: tuple[StageSpec, ...] = (
    StageSpec(
        "Prospecting",
        "The customer names a new need or team.",
        10,
        ("Prospecting", "appointmentscheduled", "Appointment Scheduled"),
        exit_criteria=("Sponsor at the customer confirms the need",),
    ),
    StageSpec(
        "Qualification",
        "The customer agrees the need is worth a project.",
        25,
        ("Qualification", "qualifiedtobuy", "Qualified To Buy", "Needs Analysis", "Engaging"),
        exit_criteria=("Usage and adoption reviewed with the customer",),
        dimensions=("identify_pain",),
    ),
    StageSpec(
        "Solution",
        "The customer sees how the expansion pays back.",
        45,
        ("Solution", "Value Proposition", "Id. Decision Makers", "presentationscheduled"),
        exit_criteria=("Business case drafted with the champion",),
        fields=("amount", "close_date"),
        dimensions=("metrics", "champion"),
        engaged=2,
    ),
    StageSpec(
        "Proposal",
        "The budget holder has the proposal.",
        65,
        ("Proposal", "Proposal/Price Quote", "Perception Analysis", "decisionmakerboughtin"),
        exit_criteria=("Proposal reviewed with the budget holder",),
        fields=("amount", "close_date"),
        dimensions=("economic_buyer", "decision_process"),
        engaged=2,
        economic_buyer=True,
    ),
    StageSpec(
        "Negotiation",
        "The order form is in the customer's approval flow.",
        85,
        ("Negotiation", "Negotiation/Review", "contractsent"),
        exit_criteria=("Order form sent",),
        fields=("amount", "close_date"),
        dimensions=("economic_buyer",),
        minimum=QualificationStatus.VALIDATED,
        economic_buyer=True,
    ),
    StageSpec(
        "Closed Won",
        "The customer signed the order.",
        100,
        ("Closed Won", "closedwon", "Won"),
        fields=("amount", "close_date"),
        dimensions=("economic_buyer",),
        minimum=QualificationStatus.VALIDATED,
        economic_buyer=True,
        closed=True,
        won=True,
    ),
    _LOST,
)

PROCESSES: tuple[tuple[str, str, str, tuple[str, ...], bool, tuple[StageSpec, ...]], ...] = (
    ("new_business", "New business", "meddpicc", ("New Business",), True, NEW_BUSINESS),
    (
        "expansion",
        "Expansion",
        "meddic",
        ("Expansion", "Renewal", "Upsell", "Existing Business"),
        False,
        EXPANSION,
    ),
)


def ensure_defaults(session: Session) -> None:
    """Write the shipped frameworks and processes unless a process exists already (idempotent)."""
    if session.execute(select(SalesProcess.id).limit(1)).first() is not None:
        return
    framework_ids: dict[str, int] = {}
    for key, (name, dimensions) in FRAMEWORKS.items():
        existing = session.scalar(select(QualificationFramework).where(QualificationFramework.key == key))
        framework = existing or QualificationFramework(key=key, name=name)
        session.add(framework)
        session.flush()
        framework_ids[key] = framework.id
        if existing is None:
            session.add_all(
                QualificationDimension(
                    framework_id=framework.id,
                    key=dim_key,
                    name=dim_name,
                    guidance=guidance,
                    position=position,
                )
                for position, (dim_key, dim_name, guidance) in enumerate(dimensions)
            )
    for key, name, framework_key, types, is_default, stages in PROCESSES:
        process = SalesProcess(
            key=key,
            name=name,
            framework_id=framework_ids[framework_key],
            opportunity_types=list(types),
            is_default=is_default,
        )
        session.add(process)
        session.flush()
        session.add_all(
            ProcessStage(
                process_id=process.id,
                position=position,
                name=spec.name,
                buyer_milestone=spec.milestone,
                exit_criteria=list(spec.exit_criteria),
                required_fields=list(spec.fields),
                required_dimensions=list(spec.dimensions),
                minimum_status=spec.minimum,
                min_engaged_stakeholders=spec.engaged,
                requires_economic_buyer=spec.economic_buyer,
                probability=spec.probability,
                is_closed=spec.closed,
                is_won=spec.won,
                crm_stage_names=list(spec.crm_names),
            )
            for position, spec in enumerate(stages)
        )
    session.flush()
