"""Stage compliance after an import: deals the CRM moved into a stage without meeting it are flagged.

Set-wise: the deals in scope are sorted into their process stages once, into a temporary table
(one pass over the deals per process), then for every stage and every requirement of that stage
one ``INSERT … SELECT`` writes a flag for each deal in the stage that misses it, reading only that
stage's deals through the table's index. No loop per deal, and no pass over every deal per
requirement (about 50 of them: that was most of an import's compliance step).
Engagement is judged against the time of the check for open deals; for won deals any recorded
activity with the person counts (a simplification of the deal room's close-date window).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    Table,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.connectors.models import ImportRun
from bridgehead.connectors.report import ImportReport
from bridgehead.crm.models import Opportunity
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
    engaged_condition,
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


def _sort_into_stages(session: Session, contexts: list[ProcessContext], scope: ColumnElement[bool]) -> Table:
    """A temporary table of (deal, process stage) for every deal in ``scope`` in a checked stage,
    indexed by stage. A deal whose type and stage fit several processes or stages is in each."""
    deal_stage = Table(
        f"compliance_deal_stage_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("stage_id", Integer, nullable=False),
        Column("opportunity_id", Integer, nullable=False),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    deal_stage.create(connection)
    stage_name = func.lower(func.trim(Opportunity.stage))
    columns = ["stage_id", "opportunity_id"]
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
            rows = select(stage_of, Opportunity.id).where(scope, in_process, stage_name.in_(sorted(owners)))
            session.execute(insert(deal_stage).from_select(columns, rows))
            continue
        for stage_id, names in stages:
            rows = select(literal(stage_id), Opportunity.id).where(
                scope, in_process, stage_name.in_(sorted(names))
            )
            session.execute(insert(deal_stage).from_select(columns, rows))
    Index(f"ix_{deal_stage.name}", deal_stage.c.stage_id, deal_stage.c.opportunity_id).create(connection)
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {deal_stage.name}")
    return deal_stage


def check_stage_compliance(session: Session, *, scope: ColumnElement[bool] | None = None) -> int:
    """Replace the compliance flags of the deals in ``scope`` (all deals if None); return flags written."""
    contexts = processes(session)
    scope = scope if scope is not None else true()
    session.execute(
        delete(StageComplianceFlag).where(
            StageComplianceFlag.opportunity_id.in_(select(Opportunity.id).where(scope))
        )
    )
    now = utcnow()
    cutoff = now - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    deal_stage = _sort_into_stages(session, contexts, scope)
    for context in contexts:
        dimensions = {d.key: d for d in framework_dimensions(session, context.framework.id)}
        for stage in context.stages:
            if stage.is_closed and not stage.is_won:
                continue
            in_stage = deal_stage.c.stage_id == stage.id
            unmet: list[tuple[str, str, str, ColumnElement[bool]]] = []
            for earlier in context.stages:
                if earlier.position >= stage.position or earlier.is_closed:
                    continue
                for index, criterion in enumerate(earlier.exit_criteria):
                    ticked = exists().where(
                        ExitCriterionCheck.opportunity_id == Opportunity.id,
                        ExitCriterionCheck.stage_id == earlier.id,
                        ExitCriterionCheck.criterion_index == index,
                    )
                    unmet.append(("exit_criterion", f"{earlier.name}#{index}", criterion, ~ticked))
            for name in stage.required_fields:
                column = getattr(Opportunity, name, None)
                if column is not None:
                    label = REQUIRED_FIELD_LABELS.get(name, name)
                    unmet.append(("field", name, f"{label} is not filled in", column.is_(None)))
            good = [
                status.value
                for status, rank in STATUS_RANK.items()
                if rank >= STATUS_RANK[stage.minimum_status]
            ]
            for key in stage.required_dimensions:
                dimension = dimensions.get(key)
                if dimension is None:
                    continue
                met = exists().where(
                    QualificationEntry.opportunity_id == Opportunity.id,
                    QualificationEntry.dimension_id == dimension.id,
                    QualificationEntry.status.in_(good),
                )
                message = f"{dimension.name} must be {stage.minimum_status.value}"
                unmet.append(("qualification", key, message, ~met))
            if stage.min_engaged_stakeholders:
                person = aliased(Stakeholder)
                engaged_count = (
                    select(func.count())
                    .select_from(person)
                    .where(person.opportunity_id == Opportunity.id, engaged_condition(person, cutoff))
                    .scalar_subquery()
                )
                message = f"{stage.min_engaged_stakeholders} engaged stakeholders needed"
                unmet.append(
                    ("stakeholders", "engaged", message, engaged_count < stage.min_engaged_stakeholders)
                )
            if stage.requires_economic_buyer:
                buyer = aliased(Stakeholder)
                engaged_buyer = exists().where(
                    buyer.opportunity_id == Opportunity.id,
                    buyer.role == StakeholderRole.ECONOMIC_BUYER,
                    engaged_condition(buyer, cutoff),
                )
                unmet.append(
                    ("stakeholders", "economic_buyer", "the economic buyer is not engaged", ~engaged_buyer)
                )
            for kind, key, message, condition in unmet:
                rows = (
                    select(
                        Opportunity.id,
                        literal(stage.id),
                        literal(kind),
                        literal(key[:80]),
                        literal(message[:300]),
                        literal(now, UTCDateTime()),
                    )
                    .select_from(deal_stage)
                    .join(Opportunity, Opportunity.id == deal_stage.c.opportunity_id)
                    .where(in_stage, condition)
                    .order_by(deal_stage.c.opportunity_id)
                )
                session.execute(
                    insert(StageComplianceFlag).from_select(
                        ["opportunity_id", "stage_id", "kind", "key", "message", "detected_at"], rows
                    )
                )
    deal_stage.drop(session.connection())
    session.flush()
    in_scope = StageComplianceFlag.opportunity_id.in_(select(Opportunity.id).where(scope))
    return session.scalar(select(func.count()).select_from(StageComplianceFlag).where(in_scope)) or 0


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
    refresh_from_contact_roles(session, opportunity_ids=select(Opportunity.id).where(scope))
    aside.set_aside_for(StageComplianceFlag.metadata.tables[StageComplianceFlag.__tablename__], deals)
    check_stage_compliance(session, scope=scope)
    aside.rebuild()
