"""JSON endpoints of the metrics engine under ``/api/v1/metrics``; ``format=csv`` gives the same table as CSV."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from starlette.responses import Response

from bridgehead.intelligence import analysis, charts, tables
from bridgehead.intelligence.metrics import service
from bridgehead.intelligence.schemas import (
    ChartQuery,
    CycleMetrics,
    FilterOptions,
    Funnel,
    Headline,
    MetricQuery,
    OutputFormat,
    SlicedMetrics,
    SlicedQuery,
    Trend,
    TrendQuery,
    Waterfall,
    WaterfallQuery,
    WinLoss,
)
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(prefix="/metrics", tags=["metrics"])
_CSV: dict[str, Any] = {"text/csv": {}}
_IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def _answer(result: BaseModel, output: OutputFormat, name: str) -> Any:
    if output == OutputFormat.JSON:
        return result
    columns, rows = tables.flatten(result)
    return Response(
        tables.to_csv(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/summary", response_model=Headline, responses={200: {"content": _CSV}})
def summary(query: Annotated[MetricQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """The headline table: every metric for the period and filters (unavailable ones say why)."""
    result = service.headline(session, viewer=user, filters=service.filters_from_query(query))
    return _answer(result, query.format, "metrics-summary")


@router.get("/win-rate", response_model=SlicedMetrics, responses={200: {"content": _CSV}})
def win_rate(query: Annotated[SlicedQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """Win rate and the main metrics per office, team, manager, rep, segment, product or priority."""
    result = service.sliced_metrics(
        session, viewer=user, filters=service.filters_from_query(query), by=query.by
    )
    return _answer(result, query.format, f"win-rate-by-{query.by.value}")


@router.get("/cycle", response_model=CycleMetrics, responses={200: {"content": _CSV}})
def cycle(query: Annotated[SlicedQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """Median sales cycle in days (close date - created date) for won and lost deals, per group."""
    result = service.cycle_metrics(
        session, viewer=user, filters=service.filters_from_query(query), by=query.by
    )
    return _answer(result, query.format, f"sales-cycle-by-{query.by.value}")


@router.get("/trend", response_model=Trend, responses={200: {"content": _CSV}})
def trend(query: Annotated[TrendQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """A metric over consecutive periods ending with ``period``, optionally per group."""
    result = service.trend(
        session,
        viewer=user,
        filters=service.filters_from_query(query),
        metric=query.metric,
        grain=query.grain,
        count=query.periods,
        by=query.by,
    )
    return _answer(result, query.format, f"trend-{query.metric.value}")


@router.get("/funnel", response_model=Funnel, responses={200: {"content": _CSV}})
def funnel(query: Annotated[MetricQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """Stage conversion of the deals created in the period, from stage history."""
    result = analysis.funnel(session, viewer=user, filters=service.filters_from_query(query))
    return _answer(result, query.format, "funnel")


@router.get("/win-loss", response_model=WinLoss, responses={200: {"content": _CSV}})
def win_loss(query: Annotated[MetricQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """Closed deals by loss reason, competitor and segment; no decision apart from competitive losses."""
    result = analysis.win_loss(session, viewer=user, filters=service.filters_from_query(query))
    return _answer(result, query.format, "win-loss")


@router.get("/waterfall", response_model=Waterfall, responses={200: {"content": _CSV}})
def waterfall(query: Annotated[WaterfallQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """How the open pipeline moved between two dates (default: the last seven days)."""
    result = analysis.pipeline_waterfall(
        session,
        viewer=user,
        filters=service.filters_from_query(query),
        from_date=query.from_date,
        to_date=query.to_date,
        close_period=query.close_period,
    )
    return _answer(result, query.format, "pipeline-waterfall")


@router.get("/options")
def options(user: ApiUser, session: SessionDep) -> FilterOptions:
    """What the filters can be set to, within what the caller may see."""
    return analysis.filter_options(session, viewer=user)


# The downloads of a chart: its spec, an image drawn on the server, or its data.
CHART_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "image/png": {}, "image/svg+xml": {}, "text/csv": {}}}
}
ChartExtension = Annotated[str, Path(pattern="^(json|png|svg|csv)$")]


def chart_file(
    spec: dict[str, Any], columns: list[str], rows: list[dict[str, Any]], name: str, extension: str
) -> Response:
    """A chart as its Vega-Lite spec (json), an image drawn on the server (png, svg), or its data
    (csv), downloaded as ``name.extension``."""
    filename = f"{name}.{extension}"
    if extension == "json":
        return Response(json.dumps(spec), media_type="application/json")
    if extension == "csv":
        return Response(
            tables.to_csv(columns, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(
        charts.render_image(spec, extension),
        media_type=_IMAGE_TYPES[extension],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/charts/{name}.{extension}", responses=CHART_RESPONSES)
def chart(
    name: Annotated[charts.ChartName, Path()],
    extension: ChartExtension,
    query: Annotated[ChartQuery, Query()],
    user: ApiUser,
    session: SessionDep,
) -> Response:
    """A chart as its Vega-Lite spec (json), an image drawn on the server (png, svg), or its data (csv)."""
    data = charts.build_chart(session, viewer=user, name=name, query=query)
    return chart_file(data.spec, data.columns, data.rows, name.value, extension)
