"""Insights pages: metrics, win/loss, funnel and waterfall; charts load from the metrics API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from bridgehead.auth.models import User
from bridgehead.errors import ValidationFailed
from bridgehead.intelligence import analysis
from bridgehead.intelligence.metrics import service
from bridgehead.intelligence.schemas import ChartQuery, TrendMetric
from bridgehead.intelligence.slices import Dimension
from bridgehead.web.deps import PageUser, SessionDep
from bridgehead.web.templating import render

router = APIRouter(prefix="/insights", include_in_schema=False)
PageQuery = Annotated[ChartQuery, Query()]


def _page(
    request: Request,
    template: str,
    query: ChartQuery,
    user: User,
    session: SessionDep,
    compute: Callable[[], dict[str, Any]],
) -> Response:
    """Render an insights page; a filter naming something unknown shows its message on the page (422)."""
    context: dict[str, Any] = {
        "query": query,
        "options": analysis.filter_options(session, viewer=user),
        "dimensions": [dimension.value for dimension in Dimension],
        "trend_metrics": [metric.value for metric in TrendMetric],
        "error": None,
    }
    try:
        context.update(compute())
    except ValidationFailed as exc:
        context["error"] = f"{exc.message} ({exc.context.get('field')}: {exc.context.get('value')})"
        return render(request, template, context, status_code=422)
    return render(request, template, context)


@router.get("/metrics")
def metrics_page(request: Request, query: PageQuery, user: PageUser, session: SessionDep) -> Response:
    """The headline table, the table by the chosen slice, and charts."""

    def compute() -> dict[str, Any]:
        filters = service.filters_from_query(query)
        headline, sliced = service.headline_and_slices(session, viewer=user, filters=filters, by=query.by)
        return {"headline": headline, "sliced": sliced}

    return _page(request, "intelligence/metrics.html", query, user, session, compute)


@router.get("/win-loss")
def win_loss_page(request: Request, query: PageQuery, user: PageUser, session: SessionDep) -> Response:
    """Losses by reason, competitor and segment; no decision apart from competitive losses."""

    def compute() -> dict[str, Any]:
        filters = service.filters_from_query(query)
        return {"result": analysis.win_loss(session, viewer=user, filters=filters)}

    return _page(request, "intelligence/win_loss.html", query, user, session, compute)


@router.get("/funnel")
def funnel_page(request: Request, query: PageQuery, user: PageUser, session: SessionDep) -> Response:
    """Stage conversion of the deals created in the period."""

    def compute() -> dict[str, Any]:
        filters = service.filters_from_query(query)
        return {"result": analysis.funnel(session, viewer=user, filters=filters)}

    return _page(request, "intelligence/funnel.html", query, user, session, compute)


@router.get("/waterfall")
def waterfall_page(request: Request, query: PageQuery, user: PageUser, session: SessionDep) -> Response:
    """How the open pipeline moved between two dates."""

    def compute() -> dict[str, Any]:
        filters = service.filters_from_query(query)
        result = analysis.pipeline_waterfall(
            session,
            viewer=user,
            filters=filters,
            from_date=query.from_date,
            to_date=query.to_date,
            close_period=query.close_period,
        )
        return {"result": result}

    return _page(request, "intelligence/waterfall.html", query, user, session, compute)
