"""Sales processes: stages and their requirements, what a deal still misses, and checked stage moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import require_role
from bridgehead.crm.models import Opportunity
from bridgehead.crm.service import update_opportunity
from bridgehead.deals.access import can_override, check_text, deal_for_edit
from bridgehead.deals.defaults import ensure_defaults
from bridgehead.deals.models import (
    ExitCriterionCheck,
    ProcessStage,
    QualificationFramework,
    QualificationStatus,
    SalesProcess,
    StageComplianceFlag,
    StageOverride,
)
from bridgehead.deals.qualification import (
    STATUS_RANK,
    EntryView,
    check_status,
    entries_for,
    framework_by_key,
    framework_dimensions,
)
from bridgehead.deals.schemas import (
    MAX_TEXT_LENGTH,
    Coverage,
    DimensionRead,
    Missing,
    ProcessRead,
    ProcessUpdate,
    StageRead,
    StageUpdate,
    StakeholderMap,
)
from bridgehead.deals.stakeholders import stakeholder_map
from bridgehead.errors import NotFound, PermissionDenied, ValidationFailed

# Opportunity fields a stage may require, with the words a rep reads.
REQUIRED_FIELD_LABELS = {
    "amount": "Amount",
    "close_date": "Close date",
    "product": "Product",
    "primary_competitor": "Primary competitor",
    "account_id": "Account",
    "type": "Deal type",
    "lead_source": "Lead source",
}
_STAGE_AUDIT_FIELDS = list(StageUpdate.model_fields)


def normalise_stage_name(name: str) -> str:
    """Stage names compare case-insensitively, trimmed (as SQL ``lower(trim(stage))`` does)."""
    return name.strip().lower()


@dataclass(frozen=True)
class ProcessContext:
    """A process with its stages in order and its framework."""

    process: SalesProcess
    stages: Sequence[ProcessStage]
    framework: QualificationFramework

    def stage_named(self, name: str) -> ProcessStage | None:
        """The stage a name (the process's own or a CRM alias) stands for."""
        wanted = normalise_stage_name(name)
        for stage in self.stages:
            if normalise_stage_name(stage.name) == wanted:
                return stage
        for stage in self.stages:
            if wanted in {normalise_stage_name(alias) for alias in stage.crm_stage_names}:
                return stage
        return None

    def next_after(self, stage: ProcessStage | None) -> ProcessStage | None:
        """The next open-or-won stage on the ladder (never Closed Lost)."""
        position = -1 if stage is None else stage.position
        for candidate in self.stages:
            if candidate.position > position and not (candidate.is_closed and not candidate.is_won):
                return candidate
        return None


def processes(session: Session) -> list[ProcessContext]:
    """Every sales process with its stages (the shipped ones are written on first use)."""
    ensure_defaults(session)
    contexts = []
    for process in session.scalars(select(SalesProcess).order_by(SalesProcess.id)):
        stages = session.scalars(
            select(ProcessStage).where(ProcessStage.process_id == process.id).order_by(ProcessStage.position)
        ).all()
        framework = session.get(QualificationFramework, process.framework_id)
        assert framework is not None  # a foreign key with RESTRICT
        contexts.append(ProcessContext(process, stages, framework))
    return contexts


def process_for(session: Session, opportunity: Opportunity) -> ProcessContext:
    """The process that governs a deal: the one listing its type, else the default one."""
    contexts = processes(session)
    deal_type = (opportunity.type or "").strip().lower()
    for context in contexts:
        if deal_type and deal_type in {kind.strip().lower() for kind in context.process.opportunity_types}:
            return context
    return next((context for context in contexts if context.process.is_default), contexts[0])


def process_read(session: Session, context: ProcessContext) -> ProcessRead:
    """A process as the API shows it."""
    return ProcessRead(
        id=context.process.id,
        key=context.process.key,
        name=context.process.name,
        framework_key=context.framework.key,
        framework_name=context.framework.name,
        opportunity_types=list(context.process.opportunity_types),
        is_default=context.process.is_default,
        dimensions=[
            DimensionRead.model_validate(d) for d in framework_dimensions(session, context.framework.id)
        ],
        stages=[stage_read(stage) for stage in context.stages],
    )


def stage_read(stage: ProcessStage) -> StageRead:
    """A stage as the API shows it."""
    return StageRead(
        id=stage.id,
        position=stage.position,
        name=stage.name,
        buyer_milestone=stage.buyer_milestone,
        exit_criteria=list(stage.exit_criteria),
        required_fields=list(stage.required_fields),
        required_dimensions=list(stage.required_dimensions),
        minimum_status=stage.minimum_status.value,
        min_engaged_stakeholders=stage.min_engaged_stakeholders,
        requires_economic_buyer=stage.requires_economic_buyer,
        probability=stage.probability,
        is_closed=stage.is_closed,
        is_won=stage.is_won,
        crm_stage_names=list(stage.crm_stage_names),
    )


def _context_of(session: Session, process_id: int) -> ProcessContext:
    context = next((item for item in processes(session) if item.process.id == process_id), None)
    if context is None:
        raise NotFound("no such sales process", field="process_id", value=process_id)
    return context


def update_process(
    session: Session, *, viewer: User, process_id: int, changes: ProcessUpdate
) -> ProcessContext:
    """Change a process's framework or deal types (admins and planners; audited)."""
    require_role(viewer, Role.ADMIN, Role.PLANNER)
    context = _context_of(session, process_id)
    before = {
        "framework_key": context.framework.key,
        "opportunity_types": list(context.process.opportunity_types),
    }
    if changes.framework_key is not None:
        framework = framework_by_key(session, changes.framework_key)
        keys = {dimension.key for dimension in framework_dimensions(session, framework.id)}
        needed = sorted({key for stage in context.stages for key in stage.required_dimensions} - keys)
        if needed:
            raise ValidationFailed(
                f"stages require dimensions {framework.name} does not have: {', '.join(needed)}",
                field="framework_key",
                value=changes.framework_key,
            )
        context.process.framework_id = framework.id
    if changes.opportunity_types is not None:
        context.process.opportunity_types = [
            check_text(kind, field="opportunity_types", max_length=80)
            for kind in changes.opportunity_types
            if kind.strip()
        ]
    session.flush()
    updated = _context_of(session, process_id)
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="sales_process",
        object_id=process_id,
        before=before,
        after={
            "framework_key": updated.framework.key,
            "opportunity_types": list(updated.process.opportunity_types),
        },
    )
    return updated


def update_stage(
    session: Session, *, viewer: User, process_id: int, stage_id: int, changes: StageUpdate
) -> ProcessStage:
    """Change a stage's milestone, checklist, requirements, probability or CRM names (admins, planners)."""
    require_role(viewer, Role.ADMIN, Role.PLANNER)
    context = _context_of(session, process_id)
    stage = next((item for item in context.stages if item.id == stage_id), None)
    if stage is None:
        raise NotFound("no such stage in this process", field="stage_id", value=stage_id)
    values = changes.model_dump(exclude_none=True)
    for name in values.get("required_fields", []):
        if name not in REQUIRED_FIELD_LABELS:
            raise ValidationFailed(
                f"a stage may require only: {', '.join(REQUIRED_FIELD_LABELS)}",
                field="required_fields",
                value=name,
            )
    keys = {dimension.key for dimension in framework_dimensions(session, context.framework.id)}
    for key in values.get("required_dimensions", []):
        if key not in keys:
            raise ValidationFailed(
                f"not a dimension of {context.framework.name}: use one of {', '.join(sorted(keys))}",
                field="required_dimensions",
                value=key,
            )
    if "minimum_status" in values:
        values["minimum_status"] = check_status(values["minimum_status"])
    for text_list in ("exit_criteria", "crm_stage_names"):
        if text_list in values:
            cleaned = [
                check_text(item, field=text_list, max_length=300)
                for item in values[text_list]
                if item.strip()
            ]
            if any(len(item) > 300 for item in cleaned):
                raise ValidationFailed("each entry must have at most 300 characters", field=text_list)
            values[text_list] = cleaned
    before = snapshot(stage, _STAGE_AUDIT_FIELDS)
    for name, value in values.items():
        setattr(stage, name, value)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="process_stage",
        object_id=stage.id,
        before=before,
        after=snapshot(stage, _STAGE_AUDIT_FIELDS),
    )
    return stage


# --- requirements ------------------------------------------------------------------------------


def exit_checks(session: Session, opportunity_id: int) -> set[tuple[int, int]]:
    """The deal's ticked exit criteria as (stage id, criterion index)."""
    rows = session.execute(
        select(ExitCriterionCheck.stage_id, ExitCriterionCheck.criterion_index).where(
            ExitCriterionCheck.opportunity_id == opportunity_id
        )
    ).all()
    return {(int(stage_id), int(index)) for stage_id, index in rows}


@dataclass
class DealFacts:
    """What a deal has, read once and shared by every requirement check of one request."""

    checks: set[tuple[int, int]]
    entries: dict[str, EntryView]
    dimension_names: dict[str, str]
    coverage: Coverage


def deal_facts(
    session: Session,
    *,
    opportunity: Opportunity,
    context: ProcessContext,
    stakeholders: StakeholderMap | None = None,
) -> DealFacts:
    """Exit checks, qualification entries and committee coverage of a deal (a handful of queries)."""
    return DealFacts(
        checks=exit_checks(session, opportunity.id),
        entries=entries_for(session, opportunity_id=opportunity.id, framework_id=context.framework.id),
        dimension_names={d.key: d.name for d in framework_dimensions(session, context.framework.id)},
        coverage=(stakeholders or stakeholder_map(session, opportunity=opportunity)).coverage,
    )


def missing_for_stage(
    session: Session,
    *,
    opportunity: Opportunity,
    context: ProcessContext,
    target: ProcessStage,
    facts: DealFacts | None = None,
) -> list[Missing]:
    """What the deal lacks to be in ``target``: earlier exit criteria, fields, qualification, stakeholders.

    Closed Lost needs nothing: a buyer may walk away at any point. ``facts`` saves re-reading the
    deal when several stages are checked in one request.
    """
    if target.is_closed and not target.is_won:
        return []
    facts = facts or deal_facts(session, opportunity=opportunity, context=context)
    missing: list[Missing] = []
    checks = facts.checks
    for stage in context.stages:
        if stage.position >= target.position or stage.is_closed:
            continue
        for index, criterion in enumerate(stage.exit_criteria):
            if (stage.id, index) not in checks:
                missing.append(
                    Missing(
                        kind="exit_criterion",
                        stage=stage.name,
                        key=f"{stage.name}#{index}",
                        message=criterion,
                    )
                )
    for name in target.required_fields:
        if getattr(opportunity, name, None) in (None, ""):
            label = REQUIRED_FIELD_LABELS.get(name, name)
            missing.append(
                Missing(kind="field", stage=target.name, key=name, message=f"{label} is not filled in")
            )
    if target.required_dimensions:
        entries = facts.entries
        names = facts.dimension_names
        for key in target.required_dimensions:
            status = entries[key].status if key in entries else QualificationStatus.UNKNOWN
            if STATUS_RANK[status] < STATUS_RANK[target.minimum_status]:
                missing.append(
                    Missing(
                        kind="qualification",
                        stage=target.name,
                        key=key,
                        message=f"{names.get(key, key)} must be {target.minimum_status.value} (now {status.value})",
                    )
                )
    if target.min_engaged_stakeholders or target.requires_economic_buyer:
        coverage = facts.coverage
        if coverage.engaged < target.min_engaged_stakeholders:
            missing.append(
                Missing(
                    kind="stakeholders",
                    stage=target.name,
                    key="engaged",
                    message=f"{target.min_engaged_stakeholders} engaged stakeholders needed (now {coverage.engaged})",
                )
            )
        if target.requires_economic_buyer and not coverage.economic_buyer_engaged:
            message = (
                "the economic buyer has not been engaged in the last 90 days"
                if coverage.economic_buyer_on_map
                else "no economic buyer on the stakeholder map"
            )
            missing.append(
                Missing(kind="stakeholders", stage=target.name, key="economic_buyer", message=message)
            )
    return missing


# --- moves -------------------------------------------------------------------------------------


def move_stage(
    session: Session, *, viewer: User, opportunity_id: int, stage: str, override_reason: str | None = None
) -> tuple[Opportunity, list[Missing]]:
    """Move a deal to a stage of its process, if the stage's requirements are met.

    Unmet requirements refuse the move (``ValidationFailed`` with ``missing``, the structured list),
    unless a manager of the owner's line gives a reason: then the move happens, and an override
    record and an audit entry keep who, why and what was missing. Moving back never needs anything.
    The move itself goes through ``crm.service.update_opportunity`` so stage history stays whole.
    """
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    context = process_for(session, opportunity)
    target = context.stage_named(stage)
    if target is None:
        valid = ", ".join(item.name for item in context.stages)
        raise ValidationFailed(
            f"no such stage in {context.process.name}; use one of {valid}", field="stage", value=stage
        )
    current = context.stage_named(opportunity.stage)
    moving_back = current is not None and not current.is_closed and target.position <= current.position
    missing = (
        []
        if moving_back
        else missing_for_stage(session, opportunity=opportunity, context=context, target=target)
    )
    reason = check_text(override_reason or "", field="override_reason", max_length=MAX_TEXT_LENGTH)
    if missing and not reason:
        raise ValidationFailed(
            f"{target.name} needs {len(missing)} more thing(s) first",
            field="stage",
            value=target.name,
            missing=[item.model_dump() for item in missing],
        )
    if missing:
        if not can_override(session, viewer=viewer, opportunity=opportunity):
            raise PermissionDenied("only a manager of the owner's team may override stage requirements")
        if len(reason) > MAX_TEXT_LENGTH:
            raise ValidationFailed(
                "the reason is too long", field="override_reason", value=f"{len(reason)} characters"
            )
    from_stage = opportunity.stage
    update_opportunity(
        session,
        viewer=viewer,
        opportunity_id=opportunity.id,
        stage=target.name,
        probability=target.probability,
    )
    if missing:
        override = StageOverride(
            opportunity_id=opportunity.id,
            from_stage=from_stage,
            to_stage=target.name,
            reason=reason,
            missing=[item.model_dump() for item in missing],
            actor_id=viewer.id,
        )
        session.add(override)
        session.flush()
        record_change(
            session,
            actor_id=viewer.id,
            action="override",
            object_type="opportunity",
            object_id=opportunity.id,
            before={"stage": from_stage},
            after={"stage": target.name, "reason": reason, "missing": [item.key for item in missing]},
        )
    # A checked (or overridden) move supersedes flags raised by an import.
    session.execute(delete(StageComplianceFlag).where(StageComplianceFlag.opportunity_id == opportunity.id))
    if target.is_won:
        from bridgehead.deals.handoffs import start_handoff

        start_handoff(session, opportunity=opportunity, actor_id=viewer.id)
    session.flush()
    return opportunity, missing


def tick_exit_criterion(
    session: Session, *, viewer: User, opportunity_id: int, stage: str, index: int, checked: bool
) -> None:
    """Tick or untick an exit criterion of a stage of the deal's process (audited)."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    context = process_for(session, opportunity)
    target = context.stage_named(stage)
    if target is None:
        raise ValidationFailed("no such stage in this deal's process", field="stage", value=stage)
    if not 0 <= index < len(target.exit_criteria):
        raise ValidationFailed(
            f"{target.name} has {len(target.exit_criteria)} exit criteria", field="index", value=index
        )
    existing = session.scalar(
        select(ExitCriterionCheck).where(
            ExitCriterionCheck.opportunity_id == opportunity.id,
            ExitCriterionCheck.stage_id == target.id,
            ExitCriterionCheck.criterion_index == index,
        )
    )
    if checked == (existing is not None):
        return
    if checked:
        session.add(
            ExitCriterionCheck(
                opportunity_id=opportunity.id,
                stage_id=target.id,
                criterion_index=index,
                checked_by_id=viewer.id,
            )
        )
    else:
        session.delete(existing)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="check" if checked else "uncheck",
        object_type="exit_criterion",
        object_id=f"{opportunity.id}:{target.id}:{index}",
        before={"checked": not checked},
        after={"checked": checked, "criterion": target.exit_criteria[index]},
    )


def overrides_of(session: Session, opportunity_id: int) -> list[tuple[StageOverride, str | None]]:
    """The deal's overrides, newest first, with the overriding user's name."""
    rows = session.execute(
        select(StageOverride, User.full_name)
        .outerjoin(User, User.id == StageOverride.actor_id)
        .where(StageOverride.opportunity_id == opportunity_id)
        .order_by(StageOverride.created_at.desc(), StageOverride.id.desc())
    ).all()
    return [(override, name) for override, name in rows]
