"""The demo organisation's strategy: company priorities, their restatements and back-briefs.

The CRO states three company priorities; every region restates them, some teams too; back-briefs
stand in every state (missing, draft, submitted, returned with comments, revised then accepted,
accepted). Everything is written through the strategy services, as the people concerned, so rights,
versions and the audit log hold exactly as they would for real users. Targets are set from the
demo's own trailing-year figures and dates are relative to ``as_of``, so the same seed and date
always give the same strategy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import Account, Opportunity, OrgUnit
from bridgehead.demo.catalogue import (
    EMAIL_DOMAIN,
    ENTERPRISE_MIN_EMPLOYEES,
    FINANCIAL_INDUSTRIES,
    REGION_SHARES,
    REGIONS,
)
from bridgehead.demo.organisation import team_external_id
from bridgehead.strategy import backbriefs, service, statements
from bridgehead.strategy.models import BackBrief, BackBriefEvent, Priority, PriorityVersion
from bridgehead.strategy.pipelines import is_existing_business
from bridgehead.strategy.schemas import BackBriefWrite, PriorityCreate, PriorityUpdate, RestatementCreate

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class _Unit:
    unit: OrgUnit
    manager: User | None


class _Clock:
    """Moments relative to ``as_of``, so stamps are deterministic and in the past."""

    def __init__(self, as_of: dt.date) -> None:
        self.as_of = as_of

    def day(self, days_ago: int) -> dt.date:
        return self.as_of - dt.timedelta(days=days_ago)

    def at(self, days_ago: int, hour: int = 10) -> dt.datetime:
        day = self.day(days_ago)
        return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def _unit(session: Session, external_id: str) -> _Unit | None:
    unit = session.scalars(select(OrgUnit).where(OrgUnit.external_id == external_id)).first()
    if unit is None:
        return None
    manager = session.scalars(
        select(User).where(User.org_unit_id == unit.id, User.role == Role.MANAGER).order_by(User.id)
    ).first()
    return _Unit(unit, manager)


def _share(region_key: str) -> Decimal:
    """A region's share of a company target: its share of the customer base."""
    index = [key for key, _ in REGIONS].index(region_key)
    return Decimal(str(REGION_SHARES[index]))


def _round_to(value: Decimal, step: Decimal, minimum: Decimal) -> Decimal:
    return max(minimum, (value / step).quantize(Decimal(1)) * step)


def _trailing_year(as_of: dt.date) -> tuple[dt.date, dt.date]:
    return as_of - dt.timedelta(days=365), as_of


def _enterprise_fs_bookings(session: Session, as_of: dt.date) -> Decimal:
    """Trailing-year new-logo bookings at enterprise FS accounts: the base the target grows from."""
    start, end = _trailing_year(as_of)
    total = session.scalar(
        select(func.sum(Opportunity.amount))
        .join(Account, Account.id == Opportunity.account_id)
        .where(
            Opportunity.is_won.is_(True),
            Opportunity.close_date >= start,
            Opportunity.close_date < end,
            Account.industry.in_(sorted(FINANCIAL_INDUSTRIES)),
            Account.employees >= ENTERPRISE_MIN_EMPLOYEES,
            ~is_existing_business(),
        )
    )
    return total if isinstance(total, Decimal) else Decimal(0)


def _expansion_pipeline(session: Session, as_of: dt.date) -> Decimal:
    start, end = _trailing_year(as_of)
    total = session.scalar(
        select(func.sum(Opportunity.amount)).where(
            Opportunity.type.in_(["Expansion", "Renewal"]),
            Opportunity.created_at >= dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC),
            Opportunity.created_at < dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC),
        )
    )
    return total if isinstance(total, Decimal) else Decimal(0)


def _median_cycle_days(session: Session, as_of: dt.date) -> Decimal:
    start, end = _trailing_year(as_of)
    rows = session.execute(
        select(Opportunity.created_at, Opportunity.close_date).where(
            Opportunity.is_won.is_(True), Opportunity.close_date >= start, Opportunity.close_date < end
        )
    ).all()
    if not rows:
        return Decimal(90)
    created = np.array([row[0].date() for row in rows], dtype="datetime64[D]")
    closed = np.array([row[1] for row in rows], dtype="datetime64[D]")
    return Decimal(int(np.median((closed - created).astype(np.int64))))


def _stamp_versions(session: Session, priority: Priority, clock: _Clock, days_ago: int) -> None:
    for version in session.scalars(select(PriorityVersion).where(PriorityVersion.priority_id == priority.id)):
        if version.version == 1:
            version.changed_at = clock.at(days_ago, 9)
    priority.created_at = clock.at(days_ago, 9)
    priority.updated_at = clock.at(days_ago, 9)


class _Writer:
    """Writes the demo's priorities and back-briefs through the services, stamping times from ``as_of``."""

    def __init__(self, session: Session, clock: _Clock, cro: User) -> None:
        self.session = session
        self.clock = clock
        self.cro = cro

    def company(self, days_ago: int, **fields: object) -> Priority:
        data = PriorityCreate.model_validate(
            {
                **fields,
                "status": "active",
                "effective_from": self.clock.day(days_ago),
                "change_note": "Stated at the annual kickoff",
            }
        )
        priority = service.create_priority(self.session, actor=self.cro, data=data)
        _stamp_versions(self.session, priority, self.clock, days_ago)
        return priority

    def restate(
        self, parent: Priority, target: _Unit | None, days_ago: int, **fields: object
    ) -> Priority | None:
        if target is None or target.manager is None:
            return None
        base = service.statement_of(parent)
        values = {key: base[key] for key in ("target_metric", "target_value", "target_period", "boundaries")}
        share = fields.pop("share", None)
        if isinstance(share, Decimal) and parent.target_metric in statements.MONEY_METRICS:
            values["target_value"] = _round_to(
                parent.target_value * share, Decimal(100_000), Decimal(100_000)
            )
        values.update(fields)
        data = RestatementCreate.model_validate(
            {
                **values,
                "org_unit_id": target.unit.id,
                "status": "active",
                "effective_from": self.clock.day(days_ago),
                "change_note": f"What “{parent.title}” means for {target.unit.name}",
            }
        )
        priority = service.restate_priority(
            self.session, actor=target.manager, parent_id=parent.id, data=data
        )
        _stamp_versions(self.session, priority, self.clock, days_ago)
        return priority

    def change(self, priority: Priority, days_ago: int, note: str, **fields: object) -> None:
        data = PriorityUpdate.model_validate(
            {**fields, "effective_from": self.clock.day(days_ago), "change_note": note}
        )
        service.update_priority(self.session, actor=self.cro, priority_id=priority.id, data=data)
        latest = self.session.scalars(
            select(PriorityVersion).where(
                PriorityVersion.priority_id == priority.id, PriorityVersion.version == priority.version
            )
        ).one()
        latest.changed_at = self.clock.at(days_ago, 11)
        priority.updated_at = self.clock.at(days_ago, 11)

    def brief(
        self,
        priority: Priority | None,
        target: _Unit | None,
        decider: User | None,
        days_ago: int,
        text: dict[str, str],
        steps: list[tuple[str, str]],
    ) -> None:
        """Write a back-brief and walk it through ``steps``: (action, comment) with action one of
        submit, return, revise (text then gets ``revised_plan``), accept."""
        if priority is None or target is None or target.manager is None or decider is None:
            return
        author = target.manager
        content = BackBriefWrite(**{key: value for key, value in text.items() if key != "revised_plan"})
        brief = backbriefs.write_back_brief(
            self.session, actor=author, priority_id=priority.id, org_unit_id=target.unit.id, data=content
        )
        moments = [self.clock.at(days_ago - 2 * index, 10 + index % 6) for index in range(len(steps) + 1)]
        for action, comment in steps:
            if action == "submit":
                backbriefs.submit_back_brief(self.session, actor=author, back_brief_id=brief.id)
            elif action == "return":
                backbriefs.return_back_brief(
                    self.session, actor=decider, back_brief_id=brief.id, comment=comment
                )
            elif action == "accept":
                backbriefs.accept_back_brief(
                    self.session, actor=decider, back_brief_id=brief.id, comment=comment
                )
            else:
                revised = content.model_copy(update={"plan": text["revised_plan"]})
                backbriefs.write_back_brief(
                    self.session,
                    actor=author,
                    priority_id=priority.id,
                    org_unit_id=target.unit.id,
                    data=revised,
                )
        self._stamp(brief, moments)

    def _stamp(self, brief: BackBrief, moments: list[dt.datetime]) -> None:
        events = list(
            self.session.scalars(
                select(BackBriefEvent)
                .where(BackBriefEvent.back_brief_id == brief.id)
                .order_by(BackBriefEvent.id)
            )
        )
        for event, moment in zip(events, moments, strict=False):
            event.occurred_at = moment
            if event.action == "submitted":
                brief.submitted_at = moment
            elif event.action in ("accepted", "returned"):
                brief.decided_at = moment
        brief.created_at = moments[0]
        brief.updated_at = events[-1].occurred_at if events else moments[0]


def build_strategy(session: Session, *, as_of: dt.date, seed: int) -> dict[str, int]:
    """Write the demo priorities; return their ids by key ("enterprise_fs", "install_base", "velocity")."""
    del seed  # the strategy is written, not sampled: the same for every seed at a given date
    cro = session.scalars(select(User).where(User.email == f"cro@{EMAIL_DOMAIN}")).first()
    company = _unit(session, "DEMO-ORG-COMPANY")
    if cro is None or company is None:
        return {}
    clock = _Clock(as_of)
    writer = _Writer(session, clock, cro)
    year = str(as_of.year)
    na, emea, apac = (_unit(session, f"DEMO-ORG-{key}") for key in ("NA", "EMEA", "APAC"))
    team = {key: _unit(session, team_external_id(key, 1)) for key in (
        "NA-ENTERPRISE", "NA-MIDMARKET", "NA-COMMERCIAL", "EMEA-ENTERPRISE", "EMEA-FINANCIAL", "EMEA-COMMERCIAL",
        "APAC-ENTERPRISE", "APAC-COMMERCIAL",
    )}  # fmt: skip

    fs_target = _round_to(
        _enterprise_fs_bookings(session, as_of) * Decimal("1.25"), Decimal(100_000), _MILLION
    )
    enterprise_fs = writer.company(
        200,
        title="Move upmarket into enterprise financial services",
        intent_what="Win and expand banks, insurers and financial-services firms with 2,000+ employees; "
        "make them the largest share of new bookings.",
        intent_why="That is where we win: enterprise FS deals close at twice our average win rate and four times "
        "the deal size, and the platform's security and compliance story lands there first.",
        target_metric="bookings_amount",
        target_scope="new business at enterprise financial-services accounts",
        target_value=fs_target,
        target_period=year,
        boundaries="No new pipeline at accounts below 200 employees. No discounting beyond 20% without CRO "
        "approval. Do not pull reps off existing enterprise renewals.",
    )
    install_target = _round_to(
        _expansion_pipeline(session, as_of) * Decimal("1.2"), Decimal(100_000), _MILLION
    )
    install_base = writer.company(
        198,
        title="Grow the installed base",
        intent_what="Create expansion and renewal pipeline at existing customers: every customer with a "
        "second product or a higher tier by year end.",
        intent_why="Expansion costs a third of new-logo acquisition and protects retention; customers with "
        "two products churn half as often.",
        target_metric="pipeline_created_amount",
        target_scope="expansion and renewal pipeline at existing customers",
        target_value=install_target,
        target_period=year,
        boundaries="Do not bundle Premium Support for free to win an expansion. Renewals are not discounted "
        "to make room for expansion.",
    )
    cycle = _median_cycle_days(session, as_of)
    velocity = writer.company(
        196,
        title="Shorten the sales cycle",
        intent_what="Take a fifth out of the time from opportunity creation to signature.",
        intent_why="A shorter cycle frees rep capacity for the enterprise push and makes the forecast "
        "reliable earlier in the quarter.",
        target_metric="sales_cycle_days",
        target_scope="won deals, all segments",
        target_value=max(Decimal(14), (cycle * Decimal("0.8")).quantize(Decimal(1))),
        target_period=year,
        boundaries="Never skip security review or legal steps to close faster; no end-of-quarter discounts "
        "to pull deals in.",
    )
    # Version history: a target raised mid-year, and a boundary made sharper.
    writer.change(
        enterprise_fs, 45, "Raised after a strong first half in enterprise banking",
        target_value=(fs_target * Decimal("1.1")).quantize(Decimal(1)),
    )  # fmt: skip
    writer.change(
        velocity, 30, "Boundary made explicit after two deals slipped over legal shortcuts",
        boundaries="Never skip security review or legal steps to close faster; no end-of-quarter discounts to "
        "pull deals in; mutual action plans for every deal above $100k.",
    )  # fmt: skip

    fs_region = {
        "NA": writer.restate(enterprise_fs, na, 190, share=_share("NA"), title="NA: enterprise banks and insurers on the East Coast",
                             intent_what="Open 40 named banks and insurers in New York, New Jersey, Massachusetts "
                             "and Illinois; every enterprise AE carries 8 of them.",
                             intent_why="Most US financial-services head offices sit there, and our two reference "
                             "banks are in New York.", target_scope="NA enterprise financial services"),
        "EMEA": writer.restate(enterprise_fs, emea, 189, share=_share("EMEA"), title="EMEA: lead with the FS team in London and Frankfurt",
                               intent_what="The EMEA Financial Services team owns every FS enterprise account; the "
                               "enterprise team brings in insurers in DACH.",
                               intent_why="DORA compliance makes security the buying trigger this year.",
                               target_scope="EMEA enterprise financial services"),
        "APAC": writer.restate(enterprise_fs, apac, 188, share=_share("APAC"), title="APAC: partner-led entry into FS",
                               intent_what="Reach enterprise FS in Singapore and Sydney through two SI partners.",
                               intent_why="We have no FS references in APAC yet; partners do.",
                               target_scope="APAC enterprise financial services"),
    }  # fmt: skip
    writer.restate(fs_region["NA"] or enterprise_fs, team["NA-ENTERPRISE"], 185, share=Decimal("0.7"),
                   title="NA Enterprise: 8 named FS accounts per AE",
                   intent_what="Each AE builds a mutual plan with 8 named FS accounts; first meetings by end of Q2.",
                   intent_why="Named accounts keep effort on the accounts the region chose.",
                   target_scope="NA Enterprise team, FS accounts")  # fmt: skip
    writer.restate(fs_region["NA"] or enterprise_fs, team["NA-COMMERCIAL"], 184,
                   title="NA Commercial: hand FS leads up, stop small-account prospecting",
                   intent_what="Route every FS lead above 2,000 employees to NA Enterprise within a day; build new "
                   "pipeline only at accounts of 200+ employees.",
                   intent_why="Our effort below 200 employees wins small deals that do not move the company target.",
                   target_metric="share_of_pipeline", target_value=Decimal(60),
                   target_scope="share of new pipeline at accounts with 200+ employees")  # fmt: skip
    writer.restate(fs_region["EMEA"] or enterprise_fs, team["EMEA-FINANCIAL"], 183, share=Decimal("0.6"),
                   title="EMEA FS: DORA-led campaign to 30 banks",
                   intent_what="Run the DORA readiness workshop with 30 banks and convert 10 to pilots.",
                   intent_why="Regulation gives the banks a deadline; we bring the answer.",
                   target_scope="EMEA FS team")  # fmt: skip
    for key, region in (("NA", na), ("EMEA", emea), ("APAC", apac)):
        writer.restate(install_base, region, 187, share=_share(key), title=f"{key}: second product for every top-100 customer",
                       intent_what=f"Every one of the top 100 {key} customers gets an expansion plan with a second "
                       "product or tier.", intent_why="The installed base is the cheapest growth we have.",
                       target_scope=f"{key} existing customers")  # fmt: skip
        writer.restate(velocity, region, 186, title=f"{key}: mutual action plans on every deal above $100k",
                       intent_what="Agree a mutual action plan with the buyer before the proposal stage.",
                       intent_why="Deals with a plan close weeks faster and slip less.",
                       target_scope=f"{key} won deals")  # fmt: skip
    writer.restate(install_base, team["NA-MIDMARKET"], 185, share=Decimal("0.3"), title="NA Mid-Market: expansion plays for Analytics Cloud",
                   intent_what="Run the Analytics Cloud upgrade play at every Data Platform customer.",
                   intent_why="Most mid-market customers bought one product and use it well.",
                   target_scope="NA Mid-Market customers")  # fmt: skip

    vp = {key: (unit.manager if unit else None) for key, unit in (("NA", na), ("EMEA", emea), ("APAC", apac))}
    plan_text = {
        "implied_tasks": "Name the accounts; map buying committees; book executive briefings.",
        "resources_needed": "One solution engineer with banking experience; budget for two events.",
        "risks": "Long security reviews; incumbents with multi-year contracts.",
        "needs_from_others": "Marketing: FS case studies. Product: SOC 2 and DORA documentation.",
    }
    writer.brief(enterprise_fs, na, cro, 170, {
        **plan_text, "plan": "Go after the big banks on the East Coast.",
        "revised_plan": "40 named banks and insurers (list attached in the CRM); 8 per enterprise AE; pilots "
        "in Q3 at three of them; the commercial team hands FS leads up within a day.",
    }, [("submit", ""), ("return", "Too vague: name the accounts, the owners and when you expect pilots."),
        ("revise", ""), ("submit", ""), ("accept", "Clear and measurable. Go.")])  # fmt: skip
    writer.brief(enterprise_fs, emea, cro, 150, {
        **plan_text, "plan": "The FS team owns all FS enterprise accounts; a DORA workshop series with 30 banks; "
        "the enterprise team covers DACH insurers.",
    }, [("submit", "")])  # fmt: skip
    writer.brief(enterprise_fs, apac, cro, 160, {
        **plan_text, "plan": "Keep selling to mid-sized banks in Australia and add FS accounts as they come.",
    }, [("submit", ""), ("return", "This is not a move upmarket. How will you reach enterprise FS without "
        "references? Consider the SI partners in Singapore and Sydney.")])  # fmt: skip
    writer.brief(enterprise_fs, team["NA-ENTERPRISE"], vp["NA"], 165, {
        **plan_text, "plan": "Each AE takes 8 of the 40 named banks; account plans by end of month; executive "
        "briefings with our two reference banks.",
    }, [("submit", ""), ("accept", "")])  # fmt: skip
    writer.brief(enterprise_fs, team["NA-COMMERCIAL"], vp["NA"], 120, {
        **plan_text, "plan": "Keep our small-business cadence and add FS leads to the sequence when they come in.",
    }, [("submit", ""), ("return", "Your plan still builds pipeline below 200 employees, outside the boundaries. "
        "Say how you will move effort to 200+ accounts and hand FS leads up.")])  # fmt: skip
    writer.brief(enterprise_fs, team["NA-MIDMARKET"], vp["NA"], 40, {
        **plan_text, "plan": "Draft: qualify mid-market FS accounts close to 2,000 employees for hand-over.",
    }, [])  # fmt: skip
    writer.brief(enterprise_fs, team["EMEA-FINANCIAL"], vp["EMEA"], 30, {
        **plan_text, "plan": "DORA workshops in London and Frankfurt; 30 banks invited; 10 pilots as the goal.",
    }, [("submit", "")])  # fmt: skip
    writer.brief(enterprise_fs, team["EMEA-ENTERPRISE"], vp["EMEA"], 140, {
        **plan_text, "plan": "Insurers in DACH: 12 named accounts, joint events with the FS team.",
    }, [("submit", ""), ("accept", "Good split with the FS team.")])  # fmt: skip
    writer.brief(install_base, na, cro, 150, {
        **plan_text, "plan": "Expansion plan for every top-100 customer; Analytics Cloud play in mid-market.",
    }, [("submit", ""), ("accept", "")])  # fmt: skip
    writer.brief(install_base, emea, cro, 20, {
        **plan_text, "plan": "Draft: renewal-led expansion, starting with the 30 largest customers.",
    }, [])  # fmt: skip
    writer.brief(install_base, team["NA-MIDMARKET"], vp["NA"], 25, {
        **plan_text, "plan": "Run the Analytics Cloud upgrade play at all Data Platform customers this quarter.",
    }, [("submit", "")])  # fmt: skip
    writer.brief(velocity, na, cro, 15, {
        **plan_text, "plan": "Mutual action plans on every deal above $100k from next month; weekly slip review.",
    }, [("submit", "")])  # fmt: skip
    if fs_region["NA"] is not None:
        writer.brief(fs_region["NA"], team["NA-ENTERPRISE"], vp["NA"], 100, {
            **plan_text, "plan": "Named-account plans for the 40 banks; two executive briefings a month.",
        }, [("submit", ""), ("accept", "")])  # fmt: skip
    session.flush()
    return {"enterprise_fs": enterprise_fs.id, "install_base": install_base.id, "velocity": velocity.id}
