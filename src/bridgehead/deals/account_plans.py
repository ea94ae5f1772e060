"""Account plans: objectives, SWOT items (tasks or links to priorities), white space and relationship goals."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import visibility_for
from bridgehead.crm.models import Account, Opportunity
from bridgehead.crm.schemas import UserRef
from bridgehead.crm.service import get_account
from bridgehead.deals.access import check_text
from bridgehead.deals.models import (
    AccountPlan,
    AccountPlanItem,
    AccountPlanItemKind,
    WhiteSpaceCell,
    WhiteSpaceStatus,
)
from bridgehead.deals.schemas import (
    AccountPlanRead,
    AccountPlanUpdate,
    PlanItemCreate,
    PlanItemRead,
    WhiteSpaceUpdate,
)
from bridgehead.errors import PermissionDenied, ValidationFailed
from bridgehead.strategy.models import Priority

DEFAULT_BUSINESS_UNITS = ["Finance", "IT", "Operations"]


def can_edit_account(session: Session, *, viewer: User, account: Account) -> bool:
    """The account's owner (a rep) or a manager of the owner's line may change its plan."""
    if viewer.role == Role.REP:
        return account.owner_id == viewer.id
    if viewer.role == Role.MANAGER:
        return visibility_for(viewer).may_see_owner(session, account.owner_id)
    return False


def _account_for_edit(session: Session, *, viewer: User, account_id: int) -> Account:
    account = get_account(session, viewer=viewer, account_id=account_id)
    if not can_edit_account(session, viewer=viewer, account=account):
        raise PermissionDenied("only the account's owner or a manager of their team may change its plan")
    return account


def _plan(session: Session, account: Account) -> AccountPlan | None:
    return session.scalar(select(AccountPlan).where(AccountPlan.account_id == account.id))


def _ensure_plan(session: Session, account: Account, viewer: User) -> AccountPlan:
    plan = _plan(session, account)
    if plan is None:
        plan = AccountPlan(account_id=account.id, summary="", business_units=list(DEFAULT_BUSINESS_UNITS))
        session.add(plan)
        session.flush()
        record_change(
            session,
            actor_id=viewer.id,
            action="create",
            object_type="account_plan",
            object_id=plan.id,
            before=None,
            after={"account_id": account.id},
        )
    return plan


def account_plan(session: Session, *, viewer: User, account_id: int) -> AccountPlanRead:
    """The account's plan (empty when none was written yet) with its change history."""
    account = get_account(session, viewer=viewer, account_id=account_id)
    plan = _plan(session, account)
    products = sorted(
        {
            p
            for p in session.scalars(
                select(Opportunity.product).where(Opportunity.account_id == account.id).distinct()
            )
            if p
        }
    )
    items: list[PlanItemRead] = []
    grid: dict[str, dict[str, str]] = {}
    history: list[dict[str, object]] = []
    if plan is not None:
        rows = session.execute(
            select(AccountPlanItem, Priority.title, User.full_name)
            .outerjoin(Priority, Priority.id == AccountPlanItem.priority_id)
            .outerjoin(User, User.id == AccountPlanItem.task_owner_id)
            .where(AccountPlanItem.plan_id == plan.id)
            .order_by(AccountPlanItem.kind, AccountPlanItem.id)
        ).all()
        items = [
            PlanItemRead(
                id=item.id,
                kind=item.kind.value,
                text=item.text,
                priority_id=item.priority_id,
                priority_title=title,
                task_owner=UserRef(id=item.task_owner_id, full_name=owner or "")
                if item.task_owner_id
                else None,
                task_due_date=item.task_due_date,
                done=item.done,
            )
            for item, title, owner in rows
        ]
        for cell in session.scalars(select(WhiteSpaceCell).where(WhiteSpaceCell.plan_id == plan.id)):
            grid.setdefault(cell.product, {})[cell.business_unit] = cell.status.value
        products = sorted(set(products) | set(grid))
        history = _history(session, plan.id)
    return AccountPlanRead(
        account_id=account.id,
        account_name=account.name,
        summary=plan.summary if plan else "",
        business_units=list(plan.business_units) if plan else list(DEFAULT_BUSINESS_UNITS),
        products=products,
        items=items,
        white_space=grid,
        history=history,
        can_edit=can_edit_account(session, viewer=viewer, account=account),
    )


def _history(session: Session, plan_id: int) -> list[dict[str, object]]:
    # Every change to the plan is audited under object ids that start with the plan id.
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.object_type.in_(["account_plan", "account_plan_item", "white_space_cell"]),
            (AuditEntry.object_id == str(plan_id)) | AuditEntry.object_id.like(f"{plan_id}:%"),
        )
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        .limit(50)
    ).all()
    return [
        {
            "occurred_at": entry.occurred_at.isoformat(),
            "actor_id": entry.actor_id,
            "action": entry.action,
            "object_type": entry.object_type,
            "after": entry.after,
        }
        for entry in entries
    ]


def update_account_plan(
    session: Session, *, viewer: User, account_id: int, changes: AccountPlanUpdate
) -> AccountPlan:
    """Change the plan's summary or business units (audited)."""
    account = _account_for_edit(session, viewer=viewer, account_id=account_id)
    plan = _ensure_plan(session, account, viewer)
    before = {"summary": plan.summary, "business_units": list(plan.business_units)}
    if changes.summary is not None:
        plan.summary = check_text(changes.summary, field="summary", max_length=10_000)
    if changes.business_units is not None:
        units = [check_text(unit, field="business_units", max_length=120) for unit in changes.business_units]
        units = [unit for unit in units if unit]
        if len(set(units)) != len(units):
            raise ValidationFailed("business units must be distinct", field="business_units")
        plan.business_units = units
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="account_plan",
        object_id=plan.id,
        before=before,
        after={"summary": plan.summary, "business_units": list(plan.business_units)},
    )
    return plan


def add_plan_item(
    session: Session, *, viewer: User, account_id: int, item: PlanItemCreate
) -> AccountPlanItem:
    """Add an objective, SWOT item or relationship goal; it may be a task (owner + due date) or serve a priority."""
    account = _account_for_edit(session, viewer=viewer, account_id=account_id)
    try:
        kind = AccountPlanItemKind(item.kind.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in AccountPlanItemKind)
        raise ValidationFailed(f"unknown kind; use one of {valid}", field="kind", value=item.kind) from None
    if item.priority_id is not None and session.get(Priority, item.priority_id) is None:
        raise ValidationFailed("no such priority", field="priority_id", value=item.priority_id)
    if item.task_owner_id is not None and session.get(User, item.task_owner_id) is None:
        raise ValidationFailed("no such user", field="task_owner_id", value=item.task_owner_id)
    if (item.task_owner_id is None) != (item.task_due_date is None):
        raise ValidationFailed(
            "a task needs both an owner and a due date", field="task_due_date", value=item.task_due_date
        )
    plan = _ensure_plan(session, account, viewer)
    row = AccountPlanItem(
        plan_id=plan.id,
        kind=kind,
        text=check_text(item.text, field="text", max_length=2_000),
        priority_id=item.priority_id,
        task_owner_id=item.task_owner_id,
        task_due_date=item.task_due_date,
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="create",
        object_type="account_plan_item",
        object_id=f"{plan.id}:{row.id}",
        before=None,
        after={
            "kind": kind.value,
            "text": row.text,
            "priority_id": row.priority_id,
            "task_owner_id": row.task_owner_id,
            "task_due_date": row.task_due_date,
        },
    )
    return row


def set_white_space(
    session: Session, *, viewer: User, account_id: int, cell: WhiteSpaceUpdate
) -> WhiteSpaceCell:
    """Set one product x business-unit cell of the white space (audited)."""
    account = _account_for_edit(session, viewer=viewer, account_id=account_id)
    try:
        status = WhiteSpaceStatus(cell.status.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in WhiteSpaceStatus)
        raise ValidationFailed(
            f"unknown status; use one of {valid}", field="status", value=cell.status
        ) from None
    product = check_text(cell.product, field="product", max_length=120)
    unit = check_text(cell.business_unit, field="business_unit", max_length=120)
    plan = _ensure_plan(session, account, viewer)
    row = session.scalar(
        select(WhiteSpaceCell).where(
            WhiteSpaceCell.plan_id == plan.id,
            WhiteSpaceCell.product == product,
            WhiteSpaceCell.business_unit == unit,
        )
    )
    before = None if row is None else {"status": row.status.value}
    if row is None:
        row = WhiteSpaceCell(
            plan_id=plan.id,
            product=product,
            business_unit=unit,
            status=status,
        )
        session.add(row)
    row.status = status
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="white_space_cell",
        object_id=f"{plan.id}:{row.product}:{row.business_unit}",
        before=before,
        after={"status": status.value},
    )
    return row


def account_plan_exists(session: Session, account_id: int | None) -> bool:
    """Whether the account has a plan (for the deal room's link)."""
    if account_id is None:
        return False
    return session.scalar(select(AccountPlan.id).where(AccountPlan.account_id == account_id)) is not None


def priority_choices(session: Session) -> list[tuple[int, str]]:
    """Priorities an account-plan item may serve (id, title), by title."""
    return [
        (int(pid), str(title))
        for pid, title in session.execute(
            select(Priority.id, Priority.title).order_by(Priority.title).limit(200)
        )
    ]
