"""Metric results as flat tables: the CSV downloads of every metric endpoint and chart."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from bridgehead.connectors.service import neutralise_formula
from bridgehead.intelligence.schemas import (
    CycleMetrics,
    CycleRow,
    Funnel,
    Headline,
    SlicedMetrics,
    Trend,
    Waterfall,
    WinLoss,
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # A name such as "=HYPERLINK(...)" must reach a spreadsheet as text, never as a formula.
        return neutralise_formula(value)
    return str(value.value if hasattr(value, "value") else value)


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A CSV document with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _rows(items: Sequence[BaseModel], prefix: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [{**(prefix or {}), **item.model_dump()} for item in items]


def flatten(result: BaseModel) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of a metric result, ready for ``to_csv``."""
    if isinstance(result, Headline):
        rows = _rows(result.metrics, {"period": result.period})
        return ["period", "key", "label", "value", "unit", "available", "note"], rows
    if isinstance(result, SlicedMetrics):
        rows = _rows(result.rows, {"period": result.period, "by": result.by.value})
        columns = ["period", "by", *type(result.rows[0]).model_fields] if result.rows else ["period", "by"]
        return columns, rows
    if isinstance(result, CycleMetrics):
        rows = _rows(result.rows, {"period": result.period, "by": result.by.value})
        return ["period", "by", *CycleRow.model_fields], rows
    if isinstance(result, Trend):
        rows = _rows(result.points, {"metric": result.metric.value, "unit": result.unit})
        return ["metric", "unit", "period", "label", "value"], rows
    if isinstance(result, Funnel):
        return ["period", "stage", "reached", "conversion_to_next"], _rows(
            result.steps, {"period": result.period}
        )
    if isinstance(result, Waterfall):
        rows = _rows(result.bars, {"from_date": result.from_date, "to_date": result.to_date})
        return ["from_date", "to_date", "label", "amount", "start", "end", "deals"], rows
    if isinstance(result, WinLoss):
        rows = (
            _rows(result.by_reason, {"breakdown": "reason"})
            + _rows(result.by_competitor, {"breakdown": "competitor"})
            + _rows(result.by_segment, {"breakdown": "segment"})
        )
        return ["breakdown", "label", "won", "lost", "win_rate", "won_amount", "lost_amount"], rows
    raise TypeError(f"no table for {type(result).__name__}")
