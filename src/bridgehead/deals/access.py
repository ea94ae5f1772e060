"""Who may read and who may change a deal's execution records (enforced here, not in the pages)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import visibility_for
from bridgehead.crm.models import Opportunity
from bridgehead.crm.service import get_opportunity
from bridgehead.errors import PermissionDenied, ValidationFailed


def deal_for_read(session: Session, *, viewer: User, opportunity_id: int) -> Opportunity:
    """The deal if ``viewer`` may see it; ``NotFound`` otherwise (we do not say it exists)."""
    return get_opportunity(session, viewer=viewer, opportunity_id=opportunity_id)


def can_edit(session: Session, *, viewer: User, opportunity: Opportunity) -> bool:
    """The owning rep edits their deal; a manager edits the deals of their reporting line."""
    if viewer.role == Role.REP:
        return opportunity.owner_id == viewer.id
    if viewer.role == Role.MANAGER:
        return visibility_for(viewer).may_see_owner(session, opportunity.owner_id)
    return False


def can_override(session: Session, *, viewer: User, opportunity: Opportunity) -> bool:
    """Only a manager of the owner's line may move a deal past unmet stage requirements."""
    return viewer.role == Role.MANAGER and can_edit(session, viewer=viewer, opportunity=opportunity)


def deal_for_edit(session: Session, *, viewer: User, opportunity_id: int) -> Opportunity:
    """The deal if ``viewer`` may change it: ``NotFound`` outside visibility, ``PermissionDenied`` for readers."""
    opportunity = deal_for_read(session, viewer=viewer, opportunity_id=opportunity_id)
    if not can_edit(session, viewer=viewer, opportunity=opportunity):
        raise PermissionDenied(
            "only the deal's owner or a manager of their team may change it", role=viewer.role.value
        )
    return opportunity


def check_text(value: str, *, field: str, max_length: int) -> str:
    """Trimmed text within ``max_length``; NUL characters (which PostgreSQL cannot store) are refused."""
    if "\x00" in value:
        raise ValidationFailed("text must not contain NUL characters", field=field, value=repr(value[:40]))
    cleaned = value.strip()
    if len(cleaned) > max_length:
        raise ValidationFailed(
            f"{field} must have at most {max_length:,} characters (got {len(cleaned):,})",
            field=field,
            value=f"{len(cleaned)} characters",
        )
    return cleaned
