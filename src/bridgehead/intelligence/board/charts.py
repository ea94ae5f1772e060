"""The board's charts as Vega-Lite specs (Altair): a sparkline per cell and the trend of a drill-down.

The specs travel inside the page (a JSON script element) so the board draws without a request per
chart; the numbers are the API's.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from bridgehead.intelligence.board.schemas import GapPoint

SPARK_WIDTH = 180
SPARK_HEIGHT = 36


def _rows(points: list[GapPoint]) -> list[dict[str, Any]]:
    return [
        {"period": point.period, "gap": None if point.value is None else round(point.value, 1)}
        for point in points
    ]


def _ceiling(points: list[GapPoint]) -> float:
    # From 0 to a little above the highest value (at least 20 points, at most 100), so a drift of
    # a few points shows without turning noise on a near-zero gap into a mountain.
    highest = max((point.value for point in points if point.value is not None), default=0.0)
    return min(100.0, max(20.0, highest * 1.15))


def sparkline(points: list[GapPoint], title: str) -> dict[str, Any]:
    """A small line of the gap over the periods, no axes, a tooltip per point."""
    base = alt.Chart(alt.Data(values=_rows(points)))  # type: ignore[no-untyped-call]
    x = alt.X("period:O", axis=None, sort=None)
    y = alt.Y("gap:Q", axis=None, scale=alt.Scale(domain=[0, _ceiling(points)]))
    tooltip = [alt.Tooltip("period:O", title="Period"), alt.Tooltip("gap:Q", title="Gap (0-100)")]
    line = base.mark_line(color="#475569").encode(x=x, y=y)
    dots = base.mark_point(filled=True, size=22, color="#0f172a").encode(x=x, y=y, tooltip=tooltip)
    chart = (
        alt.layer(line, dots)
        .properties(width=SPARK_WIDTH, height=SPARK_HEIGHT, description=title)
        .configure_view(stroke=None)
    )
    spec: dict[str, Any] = chart.to_dict(validate=False)
    spec["padding"] = 2
    return spec


def trend_chart(points: list[GapPoint], title: str) -> dict[str, Any]:
    """The gap over the periods with axes and units, for the drill-down page."""
    base = alt.Chart(alt.Data(values=_rows(points)), title=title)  # type: ignore[no-untyped-call]
    x = alt.X("period:O", title="Period", sort=None)
    y = alt.Y("gap:Q", title="Gap (0-100, higher is worse)", scale=alt.Scale(domain=[0, 100]))
    chart = alt.layer(
        base.mark_line(color="#475569").encode(x=x, y=y),
        base.mark_point(filled=True, size=50, color="#0f172a").encode(
            x=x, y=y, tooltip=[alt.Tooltip("period:O"), alt.Tooltip("gap:Q", title="Gap")]
        ),
    ).properties(width=520, height=220)
    spec: dict[str, Any] = chart.to_dict(validate=False)
    return spec
