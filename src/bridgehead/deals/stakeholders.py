"""The buying committee of a deal: stakeholders from the account's contacts, engagement and coverage."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import User
from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.crm.models import Activity, Contact, ContactRole, Opportunity
from bridgehead.deals.access import check_text, deal_for_edit
from bridgehead.deals.models import Influence, Stakeholder, StakeholderRole, Stance
from bridgehead.deals.orgchart import layout_org_chart
from bridgehead.deals.schemas import MAX_TEXT_LENGTH, Coverage, StakeholderMap, StakeholderRead
from bridgehead.errors import NotFound, ValidationFailed

# A stakeholder counts as engaged when an activity with them falls in this window.
ENGAGEMENT_WINDOW_DAYS = 90
_AUDIT_FIELDS = ["contact_id", "role", "stance", "influence", "reports_to_contact_id", "plan"]

# Salesforce OpportunityContactRole names (and the demo's) onto stakeholder roles, most decisive first.
CRM_ROLE_MAP: dict[str, tuple[StakeholderRole, Influence]] = {
    "economic buyer": (StakeholderRole.ECONOMIC_BUYER, Influence.HIGH),
    "decision maker": (StakeholderRole.ECONOMIC_BUYER, Influence.HIGH),
    "executive sponsor": (StakeholderRole.CHAMPION, Influence.HIGH),
    "champion": (StakeholderRole.CHAMPION, Influence.HIGH),
    "technical buyer": (StakeholderRole.TECHNICAL_EVALUATOR, Influence.MEDIUM),
    "evaluator": (StakeholderRole.TECHNICAL_EVALUATOR, Influence.MEDIUM),
    "procurement": (StakeholderRole.PROCUREMENT, Influence.MEDIUM),
    "influencer": (StakeholderRole.INFLUENCER, Influence.MEDIUM),
    "business user": (StakeholderRole.USER, Influence.LOW),
    "other": (StakeholderRole.INFLUENCER, Influence.LOW),
}

E = TypeVar("E", bound=enum.StrEnum)


def _parse(enum_class: type[E], value: str, field: str) -> E:
    try:
        return enum_class(value.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in enum_class)
        raise ValidationFailed(f"unknown {field}; use one of {valid}", field=field, value=value) from None


def check_role(value: str) -> StakeholderRole:
    """Parse a stakeholder role or raise ``ValidationFailed`` listing the valid ones."""
    return _parse(StakeholderRole, value, "role")


def check_stance(value: str) -> Stance:
    """Parse a stance or raise ``ValidationFailed`` listing the valid ones."""
    return _parse(Stance, value, "stance")


def check_influence(value: str) -> Influence:
    """Parse an influence level or raise ``ValidationFailed`` listing the valid ones."""
    return _parse(Influence, value, "influence")


def _check_plan(plan: str) -> str:
    if len(plan) > MAX_TEXT_LENGTH:
        raise ValidationFailed(
            f"plan must have at most {MAX_TEXT_LENGTH} characters", field="plan", value=len(plan)
        )
    return check_text(plan, field="plan", max_length=MAX_TEXT_LENGTH)


def _check_account_contact(
    session: Session, opportunity: Opportunity, contact_id: int, field: str
) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or opportunity.account_id is None or contact.account_id != opportunity.account_id:
        raise ValidationFailed("the contact must belong to the deal's account", field=field, value=contact_id)
    return contact


def add_stakeholder(
    session: Session,
    *,
    viewer: User,
    opportunity_id: int,
    contact_id: int,
    role: str,
    stance: str = "neutral",
    influence: str = "medium",
    reports_to_contact_id: int | None = None,
    plan: str = "",
) -> Stakeholder:
    """Put a contact of the deal's account on the map (owner or their manager; audited)."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    values = {
        "role": check_role(role),
        "stance": check_stance(stance),
        "influence": check_influence(influence),
        "plan": _check_plan(plan),
    }
    _check_account_contact(session, opportunity, contact_id, "contact_id")
    if reports_to_contact_id is not None:
        _check_account_contact(session, opportunity, reports_to_contact_id, "reports_to_contact_id")
    duplicate = session.scalar(
        select(Stakeholder.id).where(
            Stakeholder.opportunity_id == opportunity.id, Stakeholder.contact_id == contact_id
        )
    )
    if duplicate is not None:
        raise ValidationFailed("this contact is already on the map", field="contact_id", value=contact_id)
    stakeholder = Stakeholder(
        opportunity_id=opportunity.id,
        contact_id=contact_id,
        reports_to_contact_id=reports_to_contact_id,
        **values,
    )
    session.add(stakeholder)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="create",
        object_type="stakeholder",
        object_id=stakeholder.id,
        before=None,
        after={"opportunity_id": opportunity.id, **snapshot(stakeholder, _AUDIT_FIELDS)},
    )
    return stakeholder


def _stakeholder_of(session: Session, opportunity: Opportunity, stakeholder_id: int) -> Stakeholder:
    stakeholder = session.get(Stakeholder, stakeholder_id)
    if stakeholder is None or stakeholder.opportunity_id != opportunity.id:
        raise NotFound("no such stakeholder on this deal", field="stakeholder_id", value=stakeholder_id)
    return stakeholder


def update_stakeholder(
    session: Session, *, viewer: User, opportunity_id: int, stakeholder_id: int, changes: dict[str, Any]
) -> Stakeholder:
    """Change role, stance, influence, reports-to line or plan; validated before anything changes."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    stakeholder = _stakeholder_of(session, opportunity, stakeholder_id)
    parsed: dict[str, Any] = {}
    if changes.get("role") is not None:
        parsed["role"] = check_role(changes["role"])
    if changes.get("stance") is not None:
        parsed["stance"] = check_stance(changes["stance"])
    if changes.get("influence") is not None:
        parsed["influence"] = check_influence(changes["influence"])
    if changes.get("plan") is not None:
        parsed["plan"] = _check_plan(changes["plan"])
    if "reports_to_contact_id" in changes:
        manager_id = changes["reports_to_contact_id"]
        if manager_id is not None:
            _check_account_contact(session, opportunity, manager_id, "reports_to_contact_id")
            if manager_id == stakeholder.contact_id:
                raise ValidationFailed(
                    "a person cannot report to themselves", field="reports_to_contact_id", value=manager_id
                )
        parsed["reports_to_contact_id"] = manager_id
    before = snapshot(stakeholder, _AUDIT_FIELDS)
    for name, value in parsed.items():
        setattr(stakeholder, name, value)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="update",
        object_type="stakeholder",
        object_id=stakeholder.id,
        before=before,
        after=snapshot(stakeholder, _AUDIT_FIELDS),
    )
    return stakeholder


def remove_stakeholder(session: Session, *, viewer: User, opportunity_id: int, stakeholder_id: int) -> None:
    """Take a stakeholder off the map (audited)."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    stakeholder = _stakeholder_of(session, opportunity, stakeholder_id)
    before = snapshot(stakeholder, _AUDIT_FIELDS)
    session.delete(stakeholder)
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="delete",
        object_type="stakeholder",
        object_id=stakeholder_id,
        before=before,
        after=None,
    )


def reference_date(opportunity: Opportunity) -> dt.date:
    """Engagement is judged at the close date of a closed deal, today for an open one."""
    today = dt.date.today()
    if opportunity.is_closed and opportunity.close_date is not None:
        return min(opportunity.close_date, today)
    return today


def stakeholder_map(session: Session, *, opportunity: Opportunity) -> StakeholderMap:
    """The deal's stakeholders with their last engagement (one grouped query), coverage and org chart."""
    last_touch = (
        select(Activity.contact_id, func.max(Activity.occurred_at).label("last_at"))
        .where(
            Activity.contact_id.in_(
                select(Stakeholder.contact_id).where(Stakeholder.opportunity_id == opportunity.id)
            ),
            Activity.occurred_at
            < dt.datetime.combine(reference_date(opportunity) + dt.timedelta(days=1), dt.time(), dt.UTC),
        )
        .group_by(Activity.contact_id)
        .subquery()
    )
    rows = session.execute(
        select(Stakeholder, Contact, last_touch.c.last_at)
        .join(Contact, Contact.id == Stakeholder.contact_id)
        .outerjoin(last_touch, last_touch.c.contact_id == Stakeholder.contact_id)
        .where(Stakeholder.opportunity_id == opportunity.id)
        .order_by(Stakeholder.id)
    ).all()
    since = dt.datetime.combine(
        reference_date(opportunity) - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS), dt.time(), dt.UTC
    )
    items: list[StakeholderRead] = []
    for stakeholder, contact, last_at in rows:
        last = _as_utc(last_at)
        items.append(
            StakeholderRead(
                id=stakeholder.id,
                contact_id=contact.id,
                name=contact.full_name,
                title=contact.title,
                role=stakeholder.role.value,
                stance=stakeholder.stance.value,
                influence=stakeholder.influence.value,
                reports_to_contact_id=stakeholder.reports_to_contact_id or contact.reports_to_id,
                plan=stakeholder.plan,
                source=stakeholder.source,
                last_engaged_at=last,
                engaged=last is not None and last >= since,
            )
        )
    return StakeholderMap(stakeholders=items, coverage=coverage_of(items), chart=layout_org_chart(items))


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns an aggregate of a datetime column as text
        value = dt.datetime.fromisoformat(value)
    moment: dt.datetime = value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def coverage_of(items: list[StakeholderRead]) -> Coverage:
    """Coverage of a committee: engaged count, the economic buyer's engagement, blockers without a plan."""
    economic = [item for item in items if item.role == StakeholderRole.ECONOMIC_BUYER.value]
    engaged = sum(1 for item in items if item.engaged)
    return Coverage(
        stakeholders=len(items),
        engaged=engaged,
        economic_buyer_on_map=bool(economic),
        economic_buyer_engaged=any(item.engaged for item in economic),
        blockers_without_plan=sum(
            1
            for item in items
            if (item.role == StakeholderRole.BLOCKER.value or item.stance == Stance.OPPONENT.value)
            and not item.plan
        ),
        single_threaded=engaged <= 1,
    )


def engaged_condition(person: Any, cutoff: dt.datetime) -> ColumnElement[bool]:
    """SQL: an (aliased) stakeholder counts as engaged: activity since ``cutoff`` on an open deal, any on a closed one.

    The one set-wise definition of "engaged", shared by stage compliance and the gap detectors.
    """
    return engaged_when(
        Opportunity.is_closed, recent_activity(person.contact_id, cutoff), any_activity(person.contact_id)
    )


def recent_activity(contact_id: Any, cutoff: dt.datetime) -> ColumnElement[bool]:
    """SQL: the contact has an activity since ``cutoff`` (engages them on an open deal)."""
    return exists().where(
        Activity.contact_id == contact_id, Activity.occurred_at >= literal(cutoff, UTCDateTime())
    )


def any_activity(contact_id: Any) -> ColumnElement[bool]:
    """SQL: the contact has any recorded activity (engages them on a closed deal)."""
    return exists().where(Activity.contact_id == contact_id)


def engaged_when(is_closed: Any, recent: Any, ever: Any) -> ColumnElement[bool]:
    """SQL: engaged, given whether the deal is closed and the contact's recent and any activity.

    Stage compliance evaluates the two activity facts once per contact and combines them here,
    so "engaged" keeps one definition.
    """
    return or_(and_(is_closed.is_(False), recent), and_(is_closed.is_(True), ever))


def refresh_from_contact_roles(session: Session, *, deals: ColumnElement[bool] | None = None) -> int:
    """Add CRM contact roles to stakeholder maps, set-wise: one INSERT … SELECT, no loop per deal.

    A contact with several roles on a deal takes the most decisive one; contacts already on a
    map are left as people set them. ``deals``, a condition over ``Opportunity``, narrows the
    deals; it filters the deal row the roles are joined to already (as a list of deal ids, SQLite
    walked the roles deal by deal through the list: 3.7 s instead of 1.0 s for 1,000,000 roles).
    Returns how many stakeholders were added.
    """
    names = list(CRM_ROLE_MAP)
    rank = case(
        {name: position for position, name in enumerate(names)},
        value=func.lower(func.trim(ContactRole.role)),
        else_=len(names) - 1,
    )
    best = (
        select(ContactRole.opportunity_id, ContactRole.contact_id, func.min(rank).label("rank"))
        .join(Opportunity, Opportunity.id == ContactRole.opportunity_id)
        .join(Contact, Contact.id == ContactRole.contact_id)
        .where(Contact.account_id == Opportunity.account_id)
        .group_by(ContactRole.opportunity_id, ContactRole.contact_id)
    )
    if deals is not None:
        best = best.where(deals)
    best_roles = best.subquery()
    role_of = case(
        {position: CRM_ROLE_MAP[name][0].value for position, name in enumerate(names)},
        value=best_roles.c.rank,
    )
    influence_of = case(
        {position: CRM_ROLE_MAP[name][1].value for position, name in enumerate(names)},
        value=best_roles.c.rank,
    )
    now = utcnow()
    rows = select(
        best_roles.c.opportunity_id,
        best_roles.c.contact_id,
        role_of,
        literal(Stance.NEUTRAL.value),
        influence_of,
        literal(""),
        literal("crm"),
        literal(now, Stakeholder.created_at.type),
        literal(now, Stakeholder.updated_at.type),
    ).where(
        ~exists().where(
            and_(
                Stakeholder.opportunity_id == best_roles.c.opportunity_id,
                Stakeholder.contact_id == best_roles.c.contact_id,
            )
        )
    )
    before = session.scalar(select(func.count()).select_from(Stakeholder)) or 0
    session.execute(
        insert(Stakeholder).from_select(
            [
                "opportunity_id",
                "contact_id",
                "role",
                "stance",
                "influence",
                "plan",
                "source",
                "created_at",
                "updated_at",
            ],
            rows,
        )
    )
    session.flush()
    # Counted, not read from rowcount: drivers disagree on INSERT … SELECT row counts.
    return (session.scalar(select(func.count()).select_from(Stakeholder)) or 0) - before


def contacts_available(session: Session, *, opportunity_id: int, account_id: int | None) -> list[Contact]:
    """The account's contacts not yet on the deal's map (for the add-stakeholder picker)."""
    if account_id is None:
        return []
    on_map = select(Stakeholder.contact_id).where(Stakeholder.opportunity_id == opportunity_id)
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.account_id == account_id, Contact.id.not_in(on_map))
            .order_by(Contact.last_name, Contact.id)
            .limit(500)
        )
    )
