"""Stage compliance after an import: deals the CRM moved into a stage without meeting it are flagged.

Set-wise, in one pass: the deals in scope are sorted into their process stages once, into a
temporary table that also carries the facts requirements read from the deal (closed or not, which
required fields are empty). Every stage requirement is a row of a small requirement table
(exit criterion, field, qualification dimension, engaged stakeholders, economic buyer), and one
``INSERT … SELECT`` joins the two and writes a flag per deal and requirement it misses. Engagement
is read once per contact (its activity), then summed per deal, instead of once per stakeholder
and requirement; no statement per requirement (there were about 90 after an import).
Engagement is judged against the time of the check for open deals; for won deals any recorded
activity with the person counts (a simplification of the deal room's close-date window).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, aliased

from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.connectors.models import ImportRun
from bridgehead.connectors.report import ImportReport
from bridgehead.crm.models import Opportunity
from bridgehead.db import analyze_scratch, sqlite_checks_foreign_keys
from bridgehead.deals.models import (
    ExitCriterionCheck,
    QualificationEntry,
    StageComplianceFlag,
    Stakeholder,
    StakeholderRole,
)
from bridgehead.deals.process import REQUIRED_FIELD_LABELS, ProcessContext, normalise_stage_name, processes
from bridgehead.deals.qualification import STATUS_RANK, framework_dimensions
from bridgehead.deals.stakeholders import (
    ENGAGEMENT_WINDOW_DAYS,
    any_activity,
    engaged_when,
    recent_activity,
    refresh_from_contact_roles,
)


def process_condition(context: ProcessContext, contexts: list[ProcessContext]) -> ColumnElement[bool]:
    """The condition, over ``Opportunity``, that ``context``'s process governs a deal (its type, else the default)."""
    deal_type = func.lower(func.trim(func.coalesce(Opportunity.type, "")))
    own = [kind.strip().lower() for kind in context.process.opportunity_types if kind.strip()]
    if not context.process.is_default:
        return deal_type.in_(own) if own else literal(False)
    claimed = [
        kind.strip().lower()
        for other in contexts
        if other is not context
        for kind in other.process.opportunity_types
        if kind.strip()
    ]
    return or_(deal_type.in_(own), deal_type.not_in(claimed)) if claimed else true()


def _checked_stages(context: ProcessContext) -> list[tuple[int, set[str]]]:
    """(stage id, the normalised CRM stage names that mean it) of each stage checked (not lost)."""
    return [
        (
            stage.id,
            {normalise_stage_name(stage.name)}
            | {normalise_stage_name(name) for name in stage.crm_stage_names},
        )
        for stage in context.stages
        if not (stage.is_closed and not stage.is_won)
    ]


def _temporary_table(session: Session, prefix: str, *columns: Column[Any]) -> Table:
    """Create a uniquely named temporary table (dropped by the caller) and return it."""
    table = Table(f"{prefix}_{uuid.uuid4().hex[:8]}", MetaData(), *columns, prefixes=["TEMPORARY"])
    table.create(session.connection())
    return table


def _sort_into_stages(
    session: Session, contexts: list[ProcessContext], scope: ColumnElement[bool], fields: Sequence[str] = ()
) -> Table:
    """A temporary table of (deal, process stage) for every deal in ``scope`` in a checked stage,
    indexed by stage. A deal whose type and stage fit several processes or stages is in each.

    Each row also carries the deal's facts the requirements read, taken in the same pass over the
    deals: whether it is closed, and ``missing``, a bit (1 << position in ``fields``) per listed
    field left empty.
    """
    deal_stage = _temporary_table(
        session,
        "compliance_deal_stage",
        Column("stage_id", Integer, nullable=False),
        Column("opportunity_id", Integer, nullable=False),
        Column("is_closed", Boolean),
        Column("missing", Integer, nullable=False),
    )
    stage_name = func.lower(func.trim(Opportunity.stage))
    missing: ColumnElement[int] = literal(0)
    for bit, name in enumerate(fields):
        missing = missing + case((getattr(Opportunity, name).is_(None), 1 << bit), else_=0)
    facts = [Opportunity.id, Opportunity.is_closed, missing]
    columns = ["stage_id", "opportunity_id", "is_closed", "missing"]
    for context in contexts:
        in_process = process_condition(context, contexts)
        stages = _checked_stages(context)
        owners: dict[str, list[int]] = {}
        for stage_id, names in stages:
            for name in names:
                owners.setdefault(name, []).append(stage_id)
        if not owners:
            continue
        if all(len(ids) == 1 for ids in owners.values()):
            # Each name means one stage: one pass over the deals for the whole process.
            stage_of = case({name: ids[0] for name, ids in owners.items()}, value=stage_name)
            rows = select(stage_of, *facts).where(scope, in_process, stage_name.in_(sorted(owners)))
            session.execute(insert(deal_stage).from_select(columns, rows))
            continue
        for stage_id, names in stages:
            rows = select(literal(stage_id), *facts).where(scope, in_process, stage_name.in_(sorted(names)))
            session.execute(insert(deal_stage).from_select(columns, rows))
    connection = session.connection()
    Index(
        f"ix_{deal_stage.name}",
        deal_stage.c.stage_id,
        deal_stage.c.opportunity_id,
        deal_stage.c.is_closed,
        deal_stage.c.missing,
    ).create(connection)
    analyze_scratch(session, deal_stage)
    return deal_stage


def _requirements(session: Session, contexts: list[ProcessContext]) -> list[dict[str, Any]]:
    """Every requirement of every checked stage as a row of the requirement table, in the order
    flags are written (process, stage, then exit criteria, fields, qualification, stakeholders)."""
    rows: list[dict[str, Any]] = []

    def add(stage_id: int, kind: str, key: str, message: str, **test: Any) -> None:
        rows.append(
            {
                "seq": len(rows),
                "stage_id": stage_id,
                "kind": kind,
                "key": key[:80],
                "message": message[:300],
                "criterion_stage_id": None,
                "criterion_index": None,
                "field": None,
                "dimension_id": None,
                "min_rank": None,
                "min_engaged": None,
                "economic_buyer": False,
            }
            | test
        )

    for context in contexts:
        dimensions = {d.key: d for d in framework_dimensions(session, context.framework.id)}
        for stage in context.stages:
            if stage.is_closed and not stage.is_won:
                continue
            for earlier in context.stages:
                if earlier.position >= stage.position or earlier.is_closed:
                    continue
                for index, criterion in enumerate(earlier.exit_criteria):
                    add(
                        stage.id,
                        "exit_criterion",
                        f"{earlier.name}#{index}",
                        criterion,
                        criterion_stage_id=earlier.id,
                        criterion_index=index,
                    )
            for name in stage.required_fields:
                if getattr(Opportunity, name, None) is not None:
                    label = REQUIRED_FIELD_LABELS.get(name, name)
                    add(stage.id, "field", name, f"{label} is not filled in", field=name)
            for key in stage.required_dimensions:
                dimension = dimensions.get(key)
                if dimension is not None:
                    message = f"{dimension.name} must be {stage.minimum_status.value}"
                    add(
                        stage.id,
                        "qualification",
                        key,
                        message,
                        dimension_id=dimension.id,
                        min_rank=STATUS_RANK[stage.minimum_status],
                    )
            if stage.min_engaged_stakeholders:
                message = f"{stage.min_engaged_stakeholders} engaged stakeholders needed"
                add(stage.id, "stakeholders", "engaged", message, min_engaged=stage.min_engaged_stakeholders)
            if stage.requires_economic_buyer:
                add(
                    stage.id,
                    "stakeholders",
                    "economic_buyer",
                    "the economic buyer is not engaged",
                    economic_buyer=True,
                )
    return rows


def _engagement(session: Session, deal_stage: Table, stage_ids: list[int], cutoff: dt.datetime) -> Table:
    """A temporary table of (deal, engaged stakeholders, economic buyer engaged) for the deals in
    ``stage_ids``. Whether a person is engaged depends on the contact's activity only (recent for
    an open deal, any for a closed one), so those two facts are read once per contact, however
    many deals and requirements the contact is on."""
    contact = _temporary_table(
        session,
        "compliance_contact",
        Column("contact_id", Integer, primary_key=True),
        Column("recent", Boolean, nullable=False),
        Column("ever", Boolean, nullable=False),
    )
    engagement = _temporary_table(
        session,
        "compliance_engagement",
        Column("opportunity_id", Integer, primary_key=True),
        Column("engaged", Integer, nullable=False),
        Column("economic_buyer", Integer, nullable=False),
    )
    deals = (
        select(deal_stage.c.opportunity_id, deal_stage.c.is_closed)
        .where(deal_stage.c.stage_id.in_(stage_ids))
        .distinct()
        .subquery()
    )
    people = (
        select(Stakeholder.contact_id)
        .join(deal_stage, deal_stage.c.opportunity_id == Stakeholder.opportunity_id)
        .where(deal_stage.c.stage_id.in_(stage_ids))
        .group_by(Stakeholder.contact_id)
        .subquery()
    )
    session.execute(
        insert(contact).from_select(
            ["contact_id", "recent", "ever"],
            select(
                people.c.contact_id,
                recent_activity(people.c.contact_id, cutoff),
                any_activity(people.c.contact_id),
            ),
        )
    )
    analyze_scratch(session, contact)
    engaged = engaged_when(deals.c.is_closed, contact.c.recent, contact.c.ever)
    rows = (
        select(
            deals.c.opportunity_id,
            func.sum(case((engaged, 1), else_=0)),
            func.max(case((and_(Stakeholder.role == StakeholderRole.ECONOMIC_BUYER, engaged), 1), else_=0)),
        )
        .select_from(deals)
        .join(Stakeholder, Stakeholder.opportunity_id == deals.c.opportunity_id)
        .join(contact, contact.c.contact_id == Stakeholder.contact_id)
        .group_by(deals.c.opportunity_id)
    )
    session.execute(insert(engagement).from_select(["opportunity_id", "engaged", "economic_buyer"], rows))
    contact.drop(session.connection())
    analyze_scratch(session, engagement)
    return engagement


def check_stage_compliance(session: Session, *, scope: ColumnElement[bool] | None = None) -> int:
    """Replace the compliance flags of the deals in ``scope`` (all deals if None); return flags written.

    One ``INSERT … SELECT`` writes every flag: a small table of every stage's requirements joined
    to the deals sorted into their stages, each deal's facts (fields, engagement) read once before.
    Each deal's flags are written in the order of its requirements (the order the deal room lists
    them in): deal by deal while SQLite checks keys per row, requirement by requirement otherwise.
    """
    contexts = processes(session)
    scope = scope if scope is not None else true()
    session.execute(
        delete(StageComplianceFlag).where(
            StageComplianceFlag.opportunity_id.in_(select(Opportunity.id).where(scope))
        )
    )
    now = utcnow()
    cutoff = now - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    requirements = _requirements(session, contexts)
    if not requirements:
        session.flush()
        return 0
    fields = sorted({row["field"] for row in requirements if row["field"] is not None})
    bits = {name: 1 << bit for bit, name in enumerate(fields)}
    requirement = _temporary_table(
        session,
        "compliance_requirement",
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("stage_id", Integer, nullable=False),
        Column("kind", String(30), nullable=False),
        Column("key", String(80), nullable=False),
        Column("message", String(300), nullable=False),
        Column("criterion_stage_id", Integer),
        Column("criterion_index", Integer),
        Column("field_bit", Integer),
        Column("dimension_id", Integer),
        Column("min_rank", Integer),
        Column("min_engaged", Integer),
        Column("economic_buyer", Boolean, nullable=False),
    )
    session.execute(
        insert(requirement),
        [
            {k: v for k, v in row.items() if k != "field"} | {"field_bit": bits.get(row["field"])}
            for row in requirements
        ],
    )
    analyze_scratch(session, requirement)
    deal_stage = _sort_into_stages(session, contexts, scope, fields)
    people_stages = sorted(
        {row["stage_id"] for row in requirements if row["min_engaged"] is not None or row["economic_buyer"]}
    )
    engagement = _engagement(session, deal_stage, people_stages, cutoff) if people_stages else None

    r, deal = requirement.c, deal_stage.c
    check = aliased(ExitCriterionCheck)
    entry = aliased(QualificationEntry)
    rank = case({status.value: value for status, value in STATUS_RANK.items()}, value=entry.status, else_=-1)
    unmet = [
        and_(r.criterion_stage_id.is_not(None), check.id.is_(None)),
        and_(r.field_bit.is_not(None), deal.missing.op("&")(r.field_bit) != 0),
        and_(r.dimension_id.is_not(None), or_(entry.id.is_(None), rank < r.min_rank)),
    ]
    rows = (
        select(deal.opportunity_id, r.stage_id, r.kind, r.key, r.message, literal(now, UTCDateTime()))
        .select_from(requirement)
        .join(deal_stage, deal.stage_id == r.stage_id)
        .outerjoin(
            check,
            and_(
                check.opportunity_id == deal.opportunity_id,
                check.stage_id == r.criterion_stage_id,
                check.criterion_index == r.criterion_index,
            ),
        )
        .outerjoin(
            entry, and_(entry.opportunity_id == deal.opportunity_id, entry.dimension_id == r.dimension_id)
        )
    )
    if engagement is not None:
        people = engagement.c
        rows = rows.outerjoin(engagement, people.opportunity_id == deal.opportunity_id)
        unmet += [
            and_(r.min_engaged.is_not(None), func.coalesce(people.engaged, 0) < r.min_engaged),
            and_(r.economic_buyer.is_(True), func.coalesce(people.economic_buyer, 0) == 0),
        ]
    # Each deal's flags get ids in the order of its requirements (the order the deal room lists
    # them in) either way. While SQLite checks each flag's foreign keys, deal by deal: the checks
    # then read the deals' rows once, in order, instead of once per requirement (a third less
    # insert time at a third of the benchmark export). Without those checks (a trusted bulk
    # write), requirement by requirement: the join already yields that order, so the 6,400,000
    # flags of the benchmark import need no sort (insert 12.5 -> 6.7 s).
    unchecked = sqlite_checks_foreign_keys(session) is False
    order = (r.seq, deal.opportunity_id) if unchecked else (deal.opportunity_id, r.seq)
    rows = rows.where(or_(*unmet)).order_by(*order)
    # The flags in scope are the rows just written (the old ones were deleted first);
    # preserve_rowcount keeps psycopg's count, which SQLAlchemy otherwise drops for an INSERT.
    result = session.execute(
        insert(StageComplianceFlag)
        .from_select(["opportunity_id", "stage_id", "kind", "key", "message", "detected_at"], rows)
        .execution_options(preserve_rowcount=True)
    )
    written = int(cast(CursorResult[Any], result).rowcount)

    for table in (requirement, deal_stage, engagement):
        if table is not None:
            table.drop(session.connection())
    session.flush()
    return written


def import_scope(session: Session, report: ImportReport) -> ColumnElement[bool]:
    """The deals an import wrote: updated since the run started (all deals when the run is unknown)."""
    started = (
        session.scalar(select(ImportRun.started_at).where(ImportRun.id == report.run_id))
        if report.run_id
        else None
    )
    if started is None:
        return true()
    return Opportunity.updated_at >= started


def after_import(session: Session, report: ImportReport) -> None:
    """After-import step: CRM contact roles onto stakeholder maps, then stage compliance flags.

    After a first import (far more deals than stakeholders or flags so far) the two tables'
    plain indexes, and on PostgreSQL their foreign keys, are set aside while they fill and put
    back before this step returns, as the import does for its own tables (a flag per unmet
    requirement is several per deal: on PostgreSQL their foreign-key triggers cost more than
    the checks themselves).
    """
    from bridgehead.connectors.deferred_indexes import DeferredIndexes

    scope = import_scope(session, report)
    deals = session.scalar(select(func.count()).select_from(Opportunity).where(scope)) or 0
    aside = DeferredIndexes(session)
    aside.set_aside_for(Stakeholder.metadata.tables[Stakeholder.__tablename__], deals)
    refresh_from_contact_roles(session, deals=scope)
    aside.set_aside_for(StageComplianceFlag.metadata.tables[StageComplianceFlag.__tablename__], deals)
    check_stage_compliance(session, scope=scope)
    aside.rebuild()
