"""``bridgehead metrics``: the headline table (or a table by slice) in the terminal."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bridgehead.intelligence.metrics import service
from bridgehead.intelligence.schemas import Headline, MetricQuery, MetricValue, SlicedMetrics
from bridgehead.intelligence.slices import Dimension

console = Console()


def _format(metric: MetricValue) -> str:
    if not metric.available:
        return "unavailable"
    value = metric.value
    if value is None:
        return "—"
    if metric.unit == "ratio":
        return f"{float(value) * 100:.1f} %"
    if metric.unit == "USD":
        return f"${Decimal(value):,.0f}"
    if metric.unit == "USD/day":
        return f"${Decimal(value):,.0f} / day"
    if metric.unit == "days":
        return f"{float(value):g} days"
    if metric.unit == "x":
        return f"{float(value):.2f}x"
    return f"{value:,} {metric.unit}"


def headline_table(headline: Headline) -> Table:
    """The headline metrics as a Rich table."""
    table = Table(title=f"Metrics, {headline.period}", title_justify="left")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    table.add_column("How it is computed", overflow="fold")
    for metric in headline.metrics:
        table.add_row(metric.label, _format(metric), metric.note)
    return table


def sliced_table(result: SlicedMetrics) -> Table:
    """The main metrics per group as a Rich table."""
    table = Table(title=f"Metrics by {result.by.value}, {result.period}", title_justify="left")
    for name in (
        "Group",
        "Win rate",
        "Won",
        "Closed",
        "Won ($)",
        "Avg deal ($)",
        "Cycle won (d)",
        "Created ($)",
        "Open ($)",
    ):
        table.add_column(name, justify="left" if name == "Group" else "right")
    for row in result.rows:
        table.add_row(
            row.label,
            "—" if row.win_rate is None else f"{row.win_rate * 100:.1f} %",
            f"{row.won:,}",
            f"{row.closed:,}",
            f"{row.won_amount:,.0f}",
            "—" if row.average_deal_size is None else f"{row.average_deal_size:,.0f}",
            "—" if row.median_cycle_won_days is None else f"{row.median_cycle_won_days:g}",
            f"{row.pipeline_created_amount:,.0f}",
            f"{row.open_amount:,.0f}",
        )
    return table


def metrics_command(
    period: Annotated[
        str | None, typer.Option(help="2026, 2026-Q1 or 2026-03 (default: this quarter).")
    ] = None,
    by: Annotated[
        Dimension, typer.Option(help="Break the main metrics down by this dimension.")
    ] = Dimension.ALL,
    org_unit_id: Annotated[
        int | None, typer.Option(help="Only this org unit and the units below it.")
    ] = None,
    rep_id: Annotated[int | None, typer.Option(help="Only this rep's deals.")] = None,
    segment_id: Annotated[int | None, typer.Option(help="Only accounts in this segment.")] = None,
    product: Annotated[str | None, typer.Option(help="Only deals for this product.")] = None,
    priority_id: Annotated[int | None, typer.Option(help="Only deals counting toward this priority.")] = None,
    target: Annotated[str | None, typer.Option(help="Target amount to compute coverage against.")] = None,
) -> None:
    """Print the headline metrics (or, with --by, the main metrics per group) for a period."""
    from bridgehead.cli import _clean_failures, _fail, _session
    from bridgehead.config import get_settings

    with _clean_failures():
        try:
            query = MetricQuery(
                period=period,
                org_unit_id=org_unit_id,
                rep_id=rep_id,
                segment_id=segment_id,
                product=product,
                priority_id=priority_id,
                target=Decimal(target) if target is not None else None,
            )
        except (ValueError, ArithmeticError) as exc:
            _fail(f"invalid option: {str(exc).splitlines()[0] if str(exc) else exc}", 2)
        with _session(get_settings()) as session:
            filters = service.filters_from_query(query)
            if by == Dimension.ALL:
                console.print(headline_table(service.headline(session, viewer=None, filters=filters)))
            else:
                console.print(
                    sliced_table(service.sliced_metrics(session, viewer=None, filters=filters, by=by))
                )
