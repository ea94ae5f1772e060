"""Pages of the CRM domain: home, account and opportunity lists and details."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bridgehead.auth.models import Role
from bridgehead.auth.service import visible_users
from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import MAX_ID, Period
from bridgehead.crm import service
from bridgehead.crm.schemas import (
    AccountQuery,
    OpportunityFilters,
    OpportunityQuery,
    OpportunitySort,
    OpportunityStatus,
)
from bridgehead.web.deps import PageUser, SessionDep
from bridgehead.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/")
def home(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The signed-in user's book this quarter: open pipeline, won, and the next deals to close.

    Executives and admins start at the three-gap board instead: whether the strategy is executed.
    """
    if user.role in (Role.EXECUTIVE, Role.ADMIN):
        return RedirectResponse("/board", status_code=303)
    quarter = Period.containing(dt.date.today())
    summary = service.pipeline_summary(session, viewer=user, period=quarter)
    closing = service.list_opportunities(
        session,
        viewer=user,
        filters=OpportunityFilters(
            status=OpportunityStatus.OPEN, close_quarter=quarter.label, sort=OpportunitySort.CLOSE_DATE
        ),
        page=PageRequest(page=1, page_size=10),
    )
    return render(request, "crm/home.html", {"quarter": quarter, "summary": summary, "closing": closing})


@router.get("/accounts")
def accounts_page(
    request: Request, query: Annotated[AccountQuery, Query()], user: PageUser, session: SessionDep
) -> Response:
    """The account list with filters; htmx asks only for the results table."""
    results = service.list_accounts(session, viewer=user, filters=query.filters(), page=query.page_request())
    context: dict[str, Any] = {"results": results, "query": query}
    if is_htmx(request):
        return render(request, "crm/_account_results.html", context)
    context.update(
        {
            "owners": visible_users(session, viewer=user),
            "industries": service.distinct_values(session, viewer=user, column="industry"),
            "countries": service.distinct_values(session, viewer=user, column="country"),
        }
    )
    return render(request, "crm/accounts.html", context)


@router.get("/accounts/{account_id}")
def account_page(request: Request, account_id: ObjectId, user: PageUser, session: SessionDep) -> Response:
    """One account: facts, pipeline, contacts and the deals the viewer may see."""
    account = service.account_detail(session, viewer=user, account_id=account_id)
    return render(request, "crm/account.html", {"account": account})


@router.get("/opportunities")
def opportunities_page(
    request: Request, query: Annotated[OpportunityQuery, Query()], user: PageUser, session: SessionDep
) -> Response:
    """The opportunity list with filters; htmx asks only for the results table."""
    results = service.list_opportunities(
        session, viewer=user, filters=query.filters(), page=query.page_request()
    )
    context: dict[str, Any] = {"results": results, "query": query}
    if is_htmx(request):
        return render(request, "crm/_opportunity_results.html", context)
    context.update(
        {
            "owners": visible_users(session, viewer=user),
            "stages": service.opportunity_stages(session, viewer=user),
            "statuses": [status.value for status in OpportunityStatus],
        }
    )
    return render(request, "crm/opportunities.html", context)


@router.get("/opportunities/{opportunity_id}")
def opportunity_page(
    request: Request, opportunity_id: ObjectId, user: PageUser, session: SessionDep
) -> Response:
    """One opportunity with its stage-history timeline, buying committee and activities."""
    opportunity = service.opportunity_detail(session, viewer=user, opportunity_id=opportunity_id)
    return render(request, "crm/opportunity.html", {"opportunity": opportunity})
