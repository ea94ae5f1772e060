"""Charts as Vega-Lite specs built with Altair, each with a title, units and the table it draws.

The same ``ChartData`` feeds the page (the spec, rendered in the browser by the vendored vega),
the PNG/SVG export (vl-convert, on the server) and the CSV download (its rows).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import altair as alt
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.intelligence import analysis
from bridgehead.intelligence.metrics import service
from bridgehead.intelligence.schemas import ChartQuery, TrendMetric
from bridgehead.intelligence.slices import Dimension

WIDTH = 520
HEIGHT = 260
_TREND_TITLES = {
    TrendMetric.WIN_RATE: ("Win rate", "Win rate (%)"),
    TrendMetric.WON_AMOUNT: ("Won (bookings)", "Won (USD)"),
    TrendMetric.AVERAGE_DEAL_SIZE: ("Average deal size", "Average won deal (USD)"),
    TrendMetric.MEDIAN_CYCLE_DAYS: ("Median sales cycle, won deals", "Median cycle (days)"),
    TrendMetric.PIPELINE_CREATED: ("Pipeline created", "Pipeline created (USD)"),
    TrendMetric.ACTIVITIES: ("Activities", "Activities (count)"),
    TrendMetric.QUOTA_ATTAINMENT: ("Quota attainment (bookings)", "Attainment (%)"),
}
_PERCENT_METRICS = frozenset({TrendMetric.WIN_RATE, TrendMetric.QUOTA_ATTAINMENT})
_DIMENSION_TITLES = {
    Dimension.ALL: "overall",
    Dimension.OFFICE: "office",
    Dimension.TEAM: "team",
    Dimension.MANAGER: "manager",
    Dimension.REP: "rep",
    Dimension.SEGMENT: "segment",
    Dimension.PRODUCT: "product",
    Dimension.PRIORITY: "priority",
}


class ChartName(enum.StrEnum):
    """The charts the product draws."""

    WIN_RATE = "win-rate"
    TREND = "trend"
    FUNNEL = "funnel"
    WATERFALL = "waterfall"
    WIN_LOSS = "win-loss"


@dataclass(frozen=True)
class ChartData:
    """A chart: its Vega-Lite spec, and the columns and rows it draws (for CSV)."""

    name: ChartName
    title: str
    spec: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]


def _plain(value: Any) -> Any:
    # Charts draw numbers; the exact Decimal stays in the API and CSV.
    return float(value) if isinstance(value, Decimal) else value


def _data(rows: list[dict[str, Any]]) -> Any:
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _spec(chart: alt.Chart | alt.LayerChart) -> dict[str, Any]:
    spec: dict[str, Any] = chart.properties(width=WIDTH, height=HEIGHT).to_dict(validate=False)
    return spec


def _win_rate(session: Session, viewer: User | None, query: ChartQuery) -> ChartData:
    filters = service.filters_from_query(query)
    table = service.sliced_metrics(session, viewer=viewer, filters=filters, by=query.by)
    rows = [
        {"group": row.label, "win_rate": row.win_rate, "won": row.won, "closed": row.closed}
        for row in table.rows
        if row.closed
    ]
    title = f"Win rate by {_DIMENSION_TITLES[query.by]}, {filters.period.label}"
    chart = (
        alt.Chart(_data(rows), title=title)
        .mark_bar(color="#1f5fbf")
        .encode(
            x=alt.X(
                "win_rate:Q", title="Win rate (%)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
            ),
            y=alt.Y("group:N", title=None, sort="-x"),
            tooltip=[
                alt.Tooltip("group:N", title=_DIMENSION_TITLES[query.by].capitalize()),
                alt.Tooltip("win_rate:Q", title="Win rate", format=".1%"),
                alt.Tooltip("won:Q", title="Won (deals)"),
                alt.Tooltip("closed:Q", title="Closed (deals)"),
            ],
        )
    )
    return ChartData(ChartName.WIN_RATE, title, _spec(chart), ["group", "win_rate", "won", "closed"], rows)


def _trend(session: Session, viewer: User | None, query: ChartQuery) -> ChartData:
    filters = service.filters_from_query(query)
    by = query.by
    result = service.trend(
        session,
        viewer=viewer,
        filters=filters,
        metric=query.metric,
        grain=query.grain,
        count=query.periods,
        by=by,
    )
    name, axis_title = _TREND_TITLES[query.metric]
    rows = [{"period": p.period, "group": p.label, "value": _plain(p.value)} for p in result.points]
    title = f"{name} by {query.grain.value}" + (
        "" if by == Dimension.ALL else f" and {_DIMENSION_TITLES[by]}"
    )
    axis = alt.Axis(format="%") if query.metric in _PERCENT_METRICS else alt.Axis(format="~s")
    encoding: dict[str, Any] = {
        "x": alt.X("period:O", title=query.grain.value.capitalize(), sort=result.periods),
        "y": alt.Y("value:Q", title=axis_title, axis=axis),
        "tooltip": [
            alt.Tooltip("period:O", title="Period"),
            alt.Tooltip("group:N", title="Group"),
            alt.Tooltip(
                "value:Q", title=axis_title, format=".1%" if query.metric in _PERCENT_METRICS else ",.0f"
            ),
        ],
    }
    if by != Dimension.ALL:
        encoding["color"] = alt.Color("group:N", title=_DIMENSION_TITLES[by].capitalize())
    chart = alt.Chart(_data(rows), title=title).mark_line(point=True).encode(**encoding)
    return ChartData(ChartName.TREND, title, _spec(chart), ["period", "group", "value"], rows)


def _funnel(session: Session, viewer: User | None, query: ChartQuery) -> ChartData:
    filters = service.filters_from_query(query)
    result = analysis.funnel(session, viewer=viewer, filters=filters)
    rows = [
        {
            "order": index,
            "stage": step.stage,
            "reached": step.reached,
            "conversion_to_next": step.conversion_to_next,
        }
        for index, step in enumerate(result.steps)
    ]
    title = f"Stage funnel, deals created in {filters.period.label}"
    chart = (
        alt.Chart(_data(rows), title=title)
        .mark_bar(color="#1f5fbf")
        .encode(
            x=alt.X("reached:Q", title="Deals that reached the stage (count)"),
            y=alt.Y("stage:N", title=None, sort=alt.EncodingSortField(field="order", order="ascending")),
            tooltip=[
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip("reached:Q", title="Reached (deals)"),
                alt.Tooltip("conversion_to_next:Q", title="Converted to next", format=".1%"),
            ],
        )
    )
    return ChartData(
        ChartName.FUNNEL, title, _spec(chart), ["order", "stage", "reached", "conversion_to_next"], rows
    )


def _waterfall(session: Session, viewer: User | None, query: ChartQuery) -> ChartData:
    filters = service.filters_from_query(query)
    result = analysis.pipeline_waterfall(
        session,
        viewer=viewer,
        filters=filters,
        from_date=query.from_date,
        to_date=query.to_date,
        close_period=query.close_period,
    )
    rows = []
    for index, bar in enumerate(result.bars):
        kind = "total" if bar.label in {"Start", "End"} else ("increase" if bar.amount >= 0 else "decrease")
        rows.append(
            {
                "order": index,
                "step": bar.label,
                "amount": _plain(bar.amount),
                "from": _plain(bar.start),
                "to": _plain(bar.end),
                "deals": bar.deals,
                "kind": kind,
            }
        )
    title = f"Pipeline waterfall, {result.from_date.isoformat()} to {result.to_date.isoformat()}"
    chart = (
        alt.Chart(_data(rows), title=title)
        .mark_bar()
        .encode(
            x=alt.X(
                "step:N",
                title=None,
                sort=alt.EncodingSortField(field="order", order="ascending"),
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("from:Q", title="Open pipeline (USD)", axis=alt.Axis(format="~s")),
            y2="to:Q",
            color=alt.Color(
                "kind:N",
                title="Movement",
                scale=alt.Scale(
                    domain=["total", "increase", "decrease"], range=["#5b6678", "#13795b", "#b42318"]
                ),
            ),
            tooltip=[
                alt.Tooltip("step:N", title="Step"),
                alt.Tooltip("amount:Q", title="Change (USD)", format=",.0f"),
                alt.Tooltip("deals:Q", title="Deals"),
            ],
        )
    )
    columns = ["order", "step", "amount", "from", "to", "deals", "kind"]
    return ChartData(ChartName.WATERFALL, title, _spec(chart), columns, rows)


def _win_loss(session: Session, viewer: User | None, query: ChartQuery) -> ChartData:
    filters = service.filters_from_query(query)
    result = analysis.win_loss(session, viewer=viewer, filters=filters)
    rows = [
        {"reason": row.label, "lost": row.lost, "lost_amount": _plain(row.lost_amount)}
        for row in result.by_reason
    ]
    title = f"Lost deals by reason, {filters.period.label}"
    chart = (
        alt.Chart(_data(rows), title=title)
        .mark_bar(color="#b42318")
        .encode(
            x=alt.X("lost:Q", title="Lost deals (count)"),
            y=alt.Y("reason:N", title=None, sort="-x"),
            tooltip=[
                alt.Tooltip("reason:N", title="Reason"),
                alt.Tooltip("lost:Q", title="Lost (deals)"),
                alt.Tooltip("lost_amount:Q", title="Lost (USD)", format=",.0f"),
            ],
        )
    )
    return ChartData(ChartName.WIN_LOSS, title, _spec(chart), ["reason", "lost", "lost_amount"], rows)


_BUILDERS: dict[ChartName, Callable[[Session, User | None, ChartQuery], ChartData]] = {
    ChartName.WIN_RATE: _win_rate,
    ChartName.TREND: _trend,
    ChartName.FUNNEL: _funnel,
    ChartName.WATERFALL: _waterfall,
    ChartName.WIN_LOSS: _win_loss,
}


def build_chart(session: Session, *, viewer: User | None, name: ChartName, query: ChartQuery) -> ChartData:
    """The chart ``name`` for ``query``, within what ``viewer`` may see."""
    return _BUILDERS[name](session, viewer, query)


def render_image(spec: dict[str, Any], image_format: str) -> bytes:
    """A Vega-Lite spec drawn on the server as PNG or SVG (vl-convert; no browser, no network)."""
    import vl_convert

    if image_format == "svg":
        return str(vl_convert.vegalite_to_svg(spec, vl_version="6.4")).encode()
    return bytes(vl_convert.vegalite_to_png(spec, vl_version="6.4", scale=2))
