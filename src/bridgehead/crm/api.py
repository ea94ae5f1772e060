"""JSON endpoints of the CRM domain: accounts and opportunities, within the caller's visibility."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from bridgehead.common.pagination import Page
from bridgehead.common.types import MAX_ID
from bridgehead.crm import service
from bridgehead.crm.schemas import (
    AccountDetail,
    AccountQuery,
    AccountRead,
    OpportunityDetail,
    OpportunityQuery,
    OpportunityRead,
    StageChange,
)
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["crm"])
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/accounts")
def list_accounts(
    query: Annotated[AccountQuery, Query()], user: ApiUser, session: SessionDep
) -> Page[AccountRead]:
    """Accounts the caller may see, filtered, sorted and paginated."""
    return service.list_accounts(session, viewer=user, filters=query.filters(), page=query.page_request())


@router.get("/accounts/{account_id}")
def read_account(account_id: ObjectId, user: ApiUser, session: SessionDep) -> AccountDetail:
    """One account with its contacts, visible deals and pipeline summary (404 if not visible)."""
    return service.account_detail(session, viewer=user, account_id=account_id)


@router.get("/opportunities")
def list_opportunities(
    query: Annotated[OpportunityQuery, Query()], user: ApiUser, session: SessionDep
) -> Page[OpportunityRead]:
    """Opportunities the caller may see, filtered by owner, stage, status, close quarter and amount."""
    return service.list_opportunities(
        session, viewer=user, filters=query.filters(), page=query.page_request()
    )


@router.get("/opportunities/{opportunity_id}")
def read_opportunity(opportunity_id: ObjectId, user: ApiUser, session: SessionDep) -> OpportunityDetail:
    """One opportunity with its stage history, contact roles and latest activities (404 if not visible)."""
    return service.opportunity_detail(session, viewer=user, opportunity_id=opportunity_id)


@router.get("/opportunities/{opportunity_id}/history")
def read_opportunity_history(
    opportunity_id: ObjectId, user: ApiUser, session: SessionDep
) -> list[StageChange]:
    """The opportunity's stage history, oldest first."""
    opportunity = service.get_opportunity(session, viewer=user, opportunity_id=opportunity_id)
    return service.stage_history(session, opportunity_id=opportunity.id)
