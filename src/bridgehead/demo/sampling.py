"""Vectorised sampling helpers shared by the demo generators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bridgehead.common.types import Period
from bridgehead.demo.writer import date_to_days

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAY = 86_400


def apportion(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder), each ≥ ``minimum``."""
    parts = len(weights)
    spare = total - minimum * parts
    if spare < 0:
        raise ValueError(f"cannot give {parts} parts at least {minimum} out of {total}")
    share = np.asarray(weights, dtype=np.float64)
    exact = spare * share / share.sum()
    counts = np.floor(exact).astype(np.int64)
    # Stable order on ties keeps the split deterministic.
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: spare - int(counts.sum())]] += 1
    return [int(count) + minimum for count in counts]


def choose_by_group(rng: np.random.Generator, groups: IntArray, table: Sequence[Sequence[float]]) -> IntArray:
    """For each element, a category drawn from the weight row of its group (``table[group]``)."""
    cumulative = np.cumsum(np.asarray(table, dtype=np.float64), axis=1)
    cumulative /= cumulative[:, -1:]
    draws = rng.random(len(groups))
    chosen: IntArray = np.minimum((draws[:, None] > cumulative[groups]).sum(axis=1), cumulative.shape[1] - 1)
    return chosen.astype(np.int64)


def sigmoid(values: FloatArray) -> FloatArray:
    """The logistic function."""
    result: FloatArray = 1.0 / (1.0 + np.exp(-values))
    return result


def group_starts(group_of_row: IntArray, groups: int) -> IntArray:
    """For rows sorted by group, the index of each group's first row (``groups + 1`` entries)."""
    counts = np.bincount(group_of_row, minlength=groups)
    starts = np.zeros(groups + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


def rank_in_group(group_of_row: IntArray, starts: IntArray) -> IntArray:
    """For rows sorted by group, each row's position inside its group (0, 1, 2, …)."""
    return np.arange(len(group_of_row), dtype=np.int64) - starts[group_of_row]


def off_weekend(seconds: IntArray, low: IntArray | int) -> IntArray:
    """Move times that fall on a Saturday or Sunday back to the Friday before, but not before ``low``."""
    weekday = (seconds // DAY + 3) % 7  # 1970-01-01 was a Thursday; 0 is Monday
    shift = np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0)) * DAY
    moved: IntArray = np.maximum(seconds - shift, low)
    return moved


def working_hour(rng: np.random.Generator, size: int) -> IntArray:
    """Seconds into a day between 08:00 and 18:00 (UTC stands in for the local business day)."""
    return rng.integers(8 * 3600, 18 * 3600, size=size, dtype=np.int64)


@dataclass(frozen=True)
class Timeline:
    """The eight quarters the demo covers, ending at ``as_of``; every time stays before ``as_of``."""

    as_of: dt.date
    quarters: tuple[Period, ...]

    @classmethod
    def ending(cls, as_of: dt.date, count: int = 8) -> Timeline:
        """The ``count`` calendar quarters up to and including the one containing ``as_of``."""
        periods = [Period.containing(as_of)]
        while len(periods) < count:
            periods.insert(0, periods[0].previous())
        return cls(as_of, tuple(periods))

    @property
    def start_day(self) -> int:
        """First day of the window, in days since the epoch."""
        return date_to_days(self.quarters[0].start)

    @property
    def as_of_day(self) -> int:
        """``as_of`` in days since the epoch."""
        return date_to_days(self.as_of)

    @property
    def end_seconds(self) -> int:
        """Midnight at the start of ``as_of``: every generated time is strictly before it."""
        return self.as_of_day * DAY

    @property
    def next_quarter_end_day(self) -> int:
        """The last day of the quarter after the current one, in days since the epoch."""
        return date_to_days(self.quarters[-1].next().end) - 1

    def quarter_bounds(self) -> list[tuple[int, int]]:
        """Each quarter as ``[start, stop)`` in seconds, the current one cut at ``as_of``."""
        bounds = []
        for period in self.quarters:
            start = date_to_days(period.start) * DAY
            stop = min(date_to_days(period.end) * DAY, self.end_seconds)
            bounds.append((start, stop))
        return bounds
