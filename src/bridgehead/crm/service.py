"""CRM rules: listing, reading and changing accounts and opportunities within the viewer's visibility."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Select,
    String,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, aliased

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import User
from bridgehead.auth.service import Visibility, everything_visible, visibility_for
from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import CENT, MAX_AMOUNT, MoneyAmount, Period, utcnow
from bridgehead.crm.models import (
    Account,
    Activity,
    ActivityMonth,
    Contact,
    ContactRole,
    OpenOpportunityStage,
    Opportunity,
    OpportunityHistory,
    OpportunityMonth,
    OrgUnit,
)
from bridgehead.crm.schemas import (
    AccountDetail,
    AccountFilters,
    AccountRead,
    ActivityRead,
    ContactRead,
    ContactRoleRead,
    OpportunityDetail,
    OpportunityFilters,
    OpportunityRead,
    OpportunitySort,
    OpportunityStatus,
    PipelineSummary,
    StageChange,
    UserRef,
)
from bridgehead.errors import NotFound, ValidationFailed

RECENT_ACTIVITY_LIMIT = 50
_HISTORY_FIELDS = ("stage", "amount", "close_date", "probability", "forecast_category")
_OPPORTUNITY_AUDIT_FIELDS = [
    "stage",
    "amount",
    "close_date",
    "probability",
    "forecast_category",
    "is_closed",
    "is_won",
]

_OPPORTUNITY_SORT_COLUMNS: dict[str, Any] = {
    "name": Opportunity.name,
    "amount": Opportunity.amount,
    "close_date": Opportunity.close_date,
    "stage": Opportunity.stage,
    "created_at": Opportunity.created_at,
    "probability": Opportunity.probability,
}
_ACCOUNT_SORT_COLUMNS: dict[str, Any] = {
    "name": Account.name,
    "industry": Account.industry,
    "employees": Account.employees,
    "annual_revenue": Account.annual_revenue_amount,
    "country": Account.country,
}


def _order_by(sort: str, columns: dict[str, Any], tie_breaker: Any) -> list[Any]:
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    # NULLS LAST in both directions; written natively (not as "column IS NULL") so both SQLite
    # and PostgreSQL walk the column's index instead of sorting every row.
    ordered = column.desc() if descending else column.asc()
    return [ordered.nulls_last(), tie_breaker.desc() if descending else tie_breaker.asc()]


def _user_ref(user_id: int | None, full_name: str | None) -> UserRef | None:
    return UserRef(id=user_id, full_name=full_name or "") if user_id is not None else None


@dataclass(frozen=True)
class ListCriteria:
    """The WHERE conditions and ORDER BY of a list as its page shows it (for exports and pages alike)."""

    conditions: list[ColumnElement[bool]]
    order: list[Any]


def _visibility_or_everything(viewer: User | None) -> Visibility:
    # None is the operator at the command line, who sees every record.
    return visibility_for(viewer) if viewer else everything_visible()


def opportunity_list_criteria(viewer: User | None, filters: OpportunityFilters) -> ListCriteria:
    """Visibility, filters and sort of the opportunity list (``None``: the command-line operator)."""
    return ListCriteria(
        conditions=_opportunity_conditions(_visibility_or_everything(viewer), filters),
        order=_order_by(filters.sort.value, _OPPORTUNITY_SORT_COLUMNS, Opportunity.id),
    )


def account_list_criteria(viewer: User | None, filters: AccountFilters) -> ListCriteria:
    """Visibility, filters and sort of the account list (``None``: the command-line operator)."""
    return ListCriteria(
        conditions=_account_conditions(_visibility_or_everything(viewer), filters),
        order=_order_by(filters.sort.value, _ACCOUNT_SORT_COLUMNS, Account.id),
    )


# --- accounts ----------------------------------------------------------------------------------


def _visible_accounts(visibility: Visibility) -> ColumnElement[bool]:
    """Accounts the viewer owns or sees through an owner, or where they see one of the deals."""
    if visibility.sees_everything:
        return visibility.owned_by_visible(Account.owner_id)
    deal_at_account = exists().where(
        Opportunity.account_id == Account.id, visibility.owned_by_visible(Opportunity.owner_id)
    )
    return or_(visibility.owned_by_visible(Account.owner_id), deal_at_account)


def _account_conditions(visibility: Visibility, filters: AccountFilters) -> list[ColumnElement[bool]]:
    conditions = [_visible_accounts(visibility)]
    if filters.owner_id is not None:
        conditions.append(Account.owner_id == filters.owner_id)
    if filters.industry:
        conditions.append(Account.industry == filters.industry)
    if filters.country:
        conditions.append(Account.country == filters.country)
    if filters.q:
        conditions.append(Account.name.ilike(f"%{_escape_like(filters.q)}%", escape="\\"))
    return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _account_from_row(account: Account, owner_name: str | None) -> AccountRead:
    return AccountRead(
        id=account.id,
        external_id=account.external_id,
        name=account.name,
        industry=account.industry,
        employees=account.employees,
        annual_revenue_amount=account.annual_revenue_amount,
        currency_code=account.currency_code,
        country=account.country,
        state=account.state,
        owner=_user_ref(account.owner_id, owner_name),
        parent_account_id=account.parent_account_id,
        custom_fields=account.custom_fields or {},
    )


def list_accounts(
    session: Session, *, viewer: User, filters: AccountFilters, page: PageRequest
) -> Page[AccountRead]:
    """One page of the accounts ``viewer`` may see, filtered and sorted."""
    conditions = _account_conditions(visibility_for(viewer), filters)
    total = session.scalar(select(func.count()).select_from(Account).where(*conditions)) or 0
    statement = (
        select(Account, User.full_name)
        .outerjoin(User, User.id == Account.owner_id)
        .where(*conditions)
        .order_by(*_order_by(filters.sort.value, _ACCOUNT_SORT_COLUMNS, Account.id))
        .offset(page.offset)
        .limit(page.page_size)
    )
    items = [_account_from_row(account, owner_name) for account, owner_name in session.execute(statement)]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


def get_account(session: Session, *, viewer: User, account_id: int) -> Account:
    """The account, if it exists and ``viewer`` may see it; otherwise ``NotFound``."""
    visible = session.scalar(
        select(Account).where(Account.id == account_id, _visible_accounts(visibility_for(viewer)))
    )
    if visible is None:
        raise NotFound("no such account", field="account_id", value=account_id)
    return visible


def account_detail(session: Session, *, viewer: User, account_id: int) -> AccountDetail:
    """An account with its contacts, the deals the viewer may see, and its pipeline summary."""
    account = get_account(session, viewer=viewer, account_id=account_id)
    visibility = visibility_for(viewer)
    owner_name = session.scalar(select(User.full_name).where(User.id == account.owner_id))
    parent_name = (
        session.scalar(select(Account.name).where(Account.id == account.parent_account_id))
        if account.parent_account_id
        else None
    )
    contacts = session.scalars(
        select(Contact).where(Contact.account_id == account.id).order_by(Contact.last_name, Contact.id)
    ).all()
    opportunities = list_opportunities(
        session,
        viewer=viewer,
        filters=OpportunityFilters(account_id=account.id, sort=OpportunitySort.CLOSE_DATE_DESC),
        page=PageRequest(page=1, page_size=500),
    ).items
    summary = _pipeline_summary(
        session,
        and_(Opportunity.account_id == account.id, visibility.owned_by_visible(Opportunity.owner_id)),
    )
    base = _account_from_row(account, owner_name)
    return AccountDetail(
        **base.model_dump(),
        parent_account_name=parent_name,
        summary=summary,
        contacts=[ContactRead.model_validate(contact) for contact in contacts],
        opportunities=opportunities,
    )


def _pipeline_summary(session: Session, condition: ColumnElement[bool]) -> PipelineSummary:
    is_open = Opportunity.is_closed.is_(False)
    is_won = Opportunity.is_won.is_(True)
    is_lost = and_(Opportunity.is_closed.is_(True), Opportunity.is_won.is_(False))
    # The database sums integer cents; typed as MoneyAmount, the sum is read back as a Decimal
    # in currency units with two places (the type's result processor divides by 100 once).
    row = session.execute(
        select(
            func.count().filter(is_open),
            type_coerce(func.coalesce(func.sum(case((is_open, Opportunity.amount))), 0), MoneyAmount()),
            func.count().filter(is_won),
            type_coerce(func.coalesce(func.sum(case((is_won, Opportunity.amount))), 0), MoneyAmount()),
            func.count().filter(is_lost),
        ).where(condition)
    ).one()
    return PipelineSummary(
        open_count=row[0],
        open_amount=row[1],
        won_count=row[2],
        won_amount=row[3],
        lost_count=row[4],
    )


def pipeline_summary(session: Session, *, viewer: User, period: Period) -> PipelineSummary:
    """Open deals closing in ``period`` and deals won or lost in it, within the viewer's visibility."""
    visibility = visibility_for(viewer)
    return _pipeline_summary(
        session,
        and_(
            visibility.owned_by_visible(Opportunity.owner_id),
            Opportunity.close_date >= period.start,
            Opportunity.close_date < period.end,
        ),
    )


# --- opportunities -----------------------------------------------------------------------------


def _opportunity_conditions(visibility: Visibility, filters: OpportunityFilters) -> list[ColumnElement[bool]]:
    conditions = [visibility.owned_by_visible(Opportunity.owner_id)]
    if filters.owner_id is not None:
        conditions.append(Opportunity.owner_id == filters.owner_id)
    if filters.account_id is not None:
        conditions.append(Opportunity.account_id == filters.account_id)
    if filters.stage:
        conditions.append(Opportunity.stage == filters.stage)
    if filters.status == OpportunityStatus.OPEN:
        conditions.append(Opportunity.is_closed.is_(False))
    elif filters.status == OpportunityStatus.WON:
        conditions.append(Opportunity.is_won.is_(True))
    elif filters.status == OpportunityStatus.LOST:
        conditions.append(and_(Opportunity.is_closed.is_(True), Opportunity.is_won.is_(False)))
    period = filters.period
    if period is not None:
        conditions.append(and_(Opportunity.close_date >= period.start, Opportunity.close_date < period.end))
    if filters.amount_min is not None:
        conditions.append(Opportunity.amount >= filters.amount_min)
    if filters.amount_max is not None:
        conditions.append(Opportunity.amount <= filters.amount_max)
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        conditions.append(Opportunity.name.ilike(pattern, escape="\\"))
    return conditions


def _opportunity_select() -> Select[Opportunity, str | None, str | None]:
    return (
        select(Opportunity, Account.name, User.full_name)
        .outerjoin(Account, Account.id == Opportunity.account_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
    )


def _opportunity_from_row(
    opportunity: Opportunity, account_name: str | None, owner_name: str | None
) -> OpportunityRead:
    return OpportunityRead(
        id=opportunity.id,
        external_id=opportunity.external_id,
        name=opportunity.name,
        account_id=opportunity.account_id,
        account_name=account_name,
        owner=_user_ref(opportunity.owner_id, owner_name),
        amount=opportunity.amount,
        currency_code=opportunity.currency_code,
        stage=opportunity.stage,
        probability=opportunity.probability,
        close_date=opportunity.close_date,
        created_at=opportunity.created_at,
        is_closed=opportunity.is_closed,
        is_won=opportunity.is_won,
        forecast_category=opportunity.forecast_category.value if opportunity.forecast_category else None,
        type=opportunity.type,
        lead_source=opportunity.lead_source,
        loss_reason=opportunity.loss_reason,
        primary_competitor=opportunity.primary_competitor,
        product=opportunity.product,
    )


def list_opportunities(
    session: Session, *, viewer: User, filters: OpportunityFilters, page: PageRequest
) -> Page[OpportunityRead]:
    """One page of the opportunities ``viewer`` may see, filtered and sorted."""
    conditions = _opportunity_conditions(visibility_for(viewer), filters)
    total = session.scalar(select(func.count()).select_from(Opportunity).where(*conditions)) or 0
    order = _order_by(filters.sort.value, _OPPORTUNITY_SORT_COLUMNS, Opportunity.id)
    # Page over ids first: the offset is walked in the sort column's index, and only the rows
    # of this page are joined and read in full (a deep page otherwise builds every skipped row).
    page_ids = (
        select(Opportunity.id).where(*conditions).order_by(*order).offset(page.offset).limit(page.page_size)
    ).subquery()
    statement = _opportunity_select().join(page_ids, page_ids.c.id == Opportunity.id).order_by(*order)
    items = [_opportunity_from_row(*row) for row in session.execute(statement)]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


def opportunity_stages(session: Session, *, viewer: User) -> list[str]:
    """The stage names in use among the deals ``viewer`` sees, in ladder order (by probability)."""
    visibility = visibility_for(viewer)
    statement = (
        select(Opportunity.stage, func.avg(Opportunity.probability))
        .where(visibility.owned_by_visible(Opportunity.owner_id))
        .group_by(Opportunity.stage)
    )
    rows = session.execute(statement).all()
    # Closed-lost stages have probability 0 but belong at the end of the ladder.
    return [stage for stage, _ in sorted(rows, key=lambda row: (_is_lost_stage(row[0]), row[1] or 0, row[0]))]


def _is_lost_stage(stage: str) -> bool:
    return "lost" in stage.lower()


def get_opportunity(session: Session, *, viewer: User, opportunity_id: int) -> Opportunity:
    """The opportunity, if it exists and ``viewer`` may see it; otherwise ``NotFound``."""
    visibility = visibility_for(viewer)
    opportunity = session.scalar(
        select(Opportunity).where(
            Opportunity.id == opportunity_id, visibility.owned_by_visible(Opportunity.owner_id)
        )
    )
    if opportunity is None:
        raise NotFound("no such opportunity", field="opportunity_id", value=opportunity_id)
    return opportunity


def opportunity_detail(session: Session, *, viewer: User, opportunity_id: int) -> OpportunityDetail:
    """An opportunity with its stage history, contact roles and latest activities."""
    opportunity = get_opportunity(session, viewer=viewer, opportunity_id=opportunity_id)
    row = session.execute(_opportunity_select().where(Opportunity.id == opportunity.id)).one()
    base = _opportunity_from_row(*row)
    roles = session.execute(
        select(ContactRole, Contact)
        .join(Contact, Contact.id == ContactRole.contact_id)
        .where(ContactRole.opportunity_id == opportunity.id)
        .order_by(ContactRole.is_primary.desc(), Contact.last_name)
    ).all()
    activity_count = session.scalar(
        select(func.count()).select_from(Activity).where(Activity.opportunity_id == opportunity.id)
    )
    return OpportunityDetail(
        **base.model_dump(),
        custom_fields=opportunity.custom_fields or {},
        history=stage_history(session, opportunity_id=opportunity.id),
        contact_roles=[
            ContactRoleRead(
                contact=ContactRead.model_validate(contact), role=role.role, is_primary=role.is_primary
            )
            for role, contact in roles
        ],
        recent_activities=_recent_activities(session, opportunity_id=opportunity.id),
        activity_count=activity_count or 0,
    )


def stage_history(session: Session, *, opportunity_id: int) -> list[StageChange]:
    """The opportunity's history, oldest first, each row naming the fields that changed."""
    changer = aliased(User)
    rows: Sequence[Row[OpportunityHistory, str | None]] = session.execute(
        select(OpportunityHistory, changer.full_name)
        .outerjoin(changer, changer.id == OpportunityHistory.changed_by_id)
        .where(OpportunityHistory.opportunity_id == opportunity_id)
        .order_by(OpportunityHistory.changed_at, OpportunityHistory.id)
    ).all()
    changes: list[StageChange] = []
    previous: OpportunityHistory | None = None
    for entry, changer_name in rows:
        changed = [
            name
            for name in _HISTORY_FIELDS
            if previous is None or getattr(previous, name) != getattr(entry, name)
        ]
        changes.append(
            StageChange(
                changed_at=entry.changed_at,
                stage=entry.stage,
                amount=entry.amount,
                close_date=entry.close_date,
                probability=entry.probability,
                forecast_category=entry.forecast_category.value if entry.forecast_category else None,
                changed_by=_user_ref(entry.changed_by_id, changer_name),
                changed_fields=changed,
            )
        )
        previous = entry
    return changes


def _recent_activities(session: Session, *, opportunity_id: int) -> list[ActivityRead]:
    rows = session.execute(
        select(Activity, User.full_name, Contact.first_name, Contact.last_name)
        .outerjoin(User, User.id == Activity.owner_id)
        .outerjoin(Contact, Contact.id == Activity.contact_id)
        .where(Activity.opportunity_id == opportunity_id)
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(RECENT_ACTIVITY_LIMIT)
    ).all()
    return [
        ActivityRead(
            id=activity.id,
            kind=activity.kind.value,
            direction=activity.direction.value,
            subject=activity.subject,
            occurred_at=activity.occurred_at,
            owner=_user_ref(activity.owner_id, owner_name),
            contact_name=" ".join(part for part in (first, last) if part) or None,
        )
        for activity, owner_name, first, last in rows
    ]


def update_opportunity(
    session: Session,
    *,
    viewer: User,
    opportunity_id: int,
    stage: str | None = None,
    amount: Decimal | None = None,
    close_date: dt.date | None = None,
    probability: int | None = None,
) -> Opportunity:
    """Change a deal's stage, amount, close date or probability.

    Appends a stage-history row when any tracked field changes and writes the change to the
    audit log. The viewer must be able to see the deal.
    """
    opportunity = get_opportunity(session, viewer=viewer, opportunity_id=opportunity_id)
    if amount is not None:
        if not amount.is_finite() or not Decimal(0) <= amount <= MAX_AMOUNT:
            raise ValidationFailed(f"amount must be between 0 and {MAX_AMOUNT}", field="amount", value=amount)
        # Round to cents as the column stores it, so the audit log records what is stored.
        amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if probability is not None and not 0 <= probability <= 100:
        raise ValidationFailed(
            "probability must be between 0 and 100", field="probability", value=probability
        )
    if stage is not None and not stage.strip():
        raise ValidationFailed("stage must not be empty", field="stage", value=stage)
    before = snapshot(opportunity, _OPPORTUNITY_AUDIT_FIELDS)
    if stage is not None:
        opportunity.stage = stage.strip()
        lowered = opportunity.stage.lower()
        opportunity.is_closed = lowered.startswith("closed")
        opportunity.is_won = opportunity.is_closed and "won" in lowered
    if amount is not None:
        opportunity.amount = amount
    if close_date is not None:
        opportunity.close_date = close_date
    if probability is not None:
        opportunity.probability = probability
    after = snapshot(opportunity, _OPPORTUNITY_AUDIT_FIELDS)
    if before == after:
        return opportunity
    session.add(
        OpportunityHistory(
            opportunity_id=opportunity.id,
            changed_at=utcnow(),
            changed_by_id=viewer.id,
            stage=opportunity.stage,
            amount=opportunity.amount,
            close_date=opportunity.close_date,
            probability=opportunity.probability,
            forecast_category=opportunity.forecast_category,
        )
    )
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="opportunity",
        object_id=opportunity.id,
        before=before,
        after=after,
    )
    return opportunity


def distinct_values(session: Session, *, viewer: User, column: str) -> list[str]:
    """Distinct non-empty values of an account column the viewer sees (for filter pickers)."""
    columns = {"industry": Account.industry, "country": Account.country}
    if column not in columns:
        raise ValidationFailed("no such account column", field="column", value=column)
    target = columns[column]
    statement = (
        select(target)
        .where(target.is_not(None), _visible_accounts(visibility_for(viewer)))
        .distinct()
        .order_by(target)
    )
    return [value for value in session.scalars(statement) if value]


def organisation_name(session: Session) -> str | None:
    """The name of the company at the root of the org-unit tree, if one is recorded."""
    return session.scalar(
        select(OrgUnit.name).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id).limit(1)
    )


def org_unit_path(session: Session, org_unit_id: int | None) -> list[OrgUnit]:
    """The chain of org units from the company down to ``org_unit_id``."""
    path: list[OrgUnit] = []
    current = session.get(OrgUnit, org_unit_id) if org_unit_id else None
    while current is not None and len(path) < 20:
        path.append(current)
        current = current.parent
    return list(reversed(path))


def _utc_month(session: Session, column: Any, *, is_datetime: bool) -> ColumnElement[Any]:
    """The first day of ``column``'s calendar month (UTC for a time), as a DATE in the store."""
    if session.get_bind().dialect.name == "postgresql":
        value = func.timezone("UTC", column) if is_datetime else column
        return func.cast(func.date_trunc("month", value), Date)
    # SQLite keeps a UTC time as text "YYYY-MM-DD ..." and a DATE as "YYYY-MM-DD".
    return func.substr(type_coerce(column, String), 1, 7).concat("-01")


def recount_activity_months(session: Session) -> None:
    """Count ``activity_month`` again from every activity; flush, never commit.

    The triggers keep it exact; this is for a load that set them aside (``DeferredIndexes``), where
    one grouped pass over the finished table costs less than the triggers' work per statement.
    """
    month = _utc_month(session, Activity.occurred_at, is_datetime=True)
    owner = func.coalesce(Activity.owner_id, 0)
    session.execute(delete(ActivityMonth))
    session.execute(
        insert(ActivityMonth).from_select(
            ["owner_key", "month", "kind", "activities"],
            select(owner, month, Activity.kind, func.count()).group_by(owner, month, Activity.kind),
        )
    )


def recount_opportunity_counts(session: Session) -> None:
    """Count ``opportunity_month`` and ``open_opportunity_stage`` again from every deal; flush,
    never commit. For a load that set their triggers aside (``DeferredIndexes``)."""
    owner = func.coalesce(Opportunity.owner_id, 0)
    cents = func.coalesce(type_coerce(Opportunity.amount, BigInteger), 0)
    zero = literal(0, BigInteger)
    created = select(
        owner.label("owner_key"),
        _utc_month(session, Opportunity.created_at, is_datetime=True).label("month"),
        literal(1, BigInteger).label("created"),
        cents.label("created_cents"),
        zero.label("open_closing"),
        zero.label("open_closing_cents"),
        zero.label("open_weighted_cents_percent"),
    )
    closing = select(
        owner,
        _utc_month(session, Opportunity.close_date, is_datetime=False),
        zero,
        zero,
        literal(1, BigInteger),
        cents,
        cents * func.coalesce(Opportunity.probability, 0),
    ).where(Opportunity.is_closed.is_(False), Opportunity.close_date.is_not(None))
    deltas = union_all(created, closing).subquery()
    figures = [
        "created",
        "created_cents",
        "open_closing",
        "open_closing_cents",
        "open_weighted_cents_percent",
    ]
    session.execute(delete(OpportunityMonth))
    session.execute(
        insert(OpportunityMonth).from_select(
            ["owner_key", "month", *figures],
            select(
                deltas.c.owner_key, deltas.c.month, *[func.sum(deltas.c[name]) for name in figures]
            ).group_by(deltas.c.owner_key, deltas.c.month),
        )
    )
    session.execute(delete(OpenOpportunityStage))
    session.execute(
        insert(OpenOpportunityStage).from_select(
            ["owner_key", "stage", "open_deals", "probability_total", "with_probability"],
            select(
                owner,
                Opportunity.stage,
                func.count(),
                func.coalesce(func.sum(Opportunity.probability), 0),
                func.count(Opportunity.probability),
            )
            .where(Opportunity.is_closed.is_(False))
            .group_by(owner, Opportunity.stage),
        )
    )
