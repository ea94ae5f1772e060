"""Bulk inserts for the demo loader: column arrays in, rows written chunk by chunk, progress reported.

Two paths. Small tables (org units, users, accounts) go through SQLAlchemy Core with the column
types' own conversion, which validates money and times. The large tables (contacts, opportunities,
stage history, contact roles, activities) go in with values already in the form the column types
store, because the typed path was measured too slow for them on this 2-core machine: inserting
100,000 activity rows took 3.3 s through Core executemany against 1.6 s through the driver's
executemany on SQLite, and 6.8 s through Core against 1.9 s through COPY on PostgreSQL. The
difference is per-row Python work (parameter dicts, bind processors): ~17 µs a row on SQLite and
~49 µs on PostgreSQL, which at ``--scale 10`` (3.9 million rows in those tables) would add more
than a minute on SQLite and over three minutes on PostgreSQL.

The raw forms match ``bridgehead.common.types``: money as integer cents; on SQLite, datetimes as
naive UTC text in SQLAlchemy's storage format (so comparisons in SQL keep working) and dates as
``YYYY-MM-DD``; on PostgreSQL, timestamps with an explicit ``+00`` zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import column, insert, table, text
from sqlalchemy.orm import Session

from bridgehead.db import Base, sqlite_page_cache

ProgressCallback = Callable[[str, int, int], None]
IntArray = npt.NDArray[np.int64]

CHUNK_ROWS = 20_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def to_datetime(seconds: int) -> dt.datetime:
    """A timezone-aware UTC datetime from seconds since the epoch."""
    return EPOCH + dt.timedelta(seconds=int(seconds))


def to_date(days: int) -> dt.date:
    """A date from days since the epoch."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + int(days))


def date_to_days(day: dt.date) -> int:
    """Days since the epoch of ``day``."""
    return day.toordinal() - _EPOCH_ORDINAL


class Column:
    """A column of values for a raw insert, converted to driver values one chunk at a time."""

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """Driver values for rows ``start`` to ``stop``."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Ints(Column):
    """Integers; with ``zero_is_null`` a 0 becomes NULL (ids start at 1, so 0 marks "no reference")."""

    data: IntArray
    zero_is_null: bool = False

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """Python ints, or None for zeros when asked."""
        chunk: list[int] = self.data[start:stop].tolist()
        if not self.zero_is_null:
            return chunk
        return [value or None for value in chunk]


@dataclass(frozen=True, slots=True)
class Bools(Column):
    """Booleans."""

    data: npt.NDArray[np.bool_]

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """Python bools."""
        chunk: list[bool] = self.data[start:stop].tolist()
        return chunk


@dataclass(frozen=True, slots=True)
class Timestamps(Column):
    """Points in time as seconds since the epoch (UTC)."""

    seconds: IntArray

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """Text in the storage format of the dialect, or aware datetimes for other drivers."""
        chunk = self.seconds[start:stop]
        if dialect not in ("sqlite", "postgresql"):
            return [to_datetime(value) for value in chunk.tolist()]
        iso: list[str] = np.datetime_as_string(chunk.astype("datetime64[s]"), unit="s").tolist()
        if dialect == "sqlite":
            return [f"{value[:10]} {value[11:]}.000000" for value in iso]
        return [f"{value[:10]} {value[11:]}+00" for value in iso]


@dataclass(frozen=True, slots=True)
class Dates(Column):
    """Calendar dates as days since the epoch."""

    days: IntArray

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """ISO text for SQLite and COPY, date objects for other drivers."""
        chunk = self.days[start:stop]
        if dialect not in ("sqlite", "postgresql"):
            return [to_date(value) for value in chunk.tolist()]
        iso: list[str] = np.datetime_as_string(chunk.astype("datetime64[D]"), unit="D").tolist()
        return iso


@dataclass(frozen=True, slots=True)
class Codes(Column):
    """Labels looked up by code; a negative code is NULL."""

    codes: IntArray
    labels: Sequence[str | None]

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """The label of each code."""
        labels = self.labels
        return [labels[code] if code >= 0 else None for code in self.codes[start:stop].tolist()]


@dataclass(frozen=True, slots=True)
class Computed(Column):
    """Values made on demand per chunk, so millions of strings never sit in memory at once."""

    make: Callable[[int, int], list[Any]]

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """Whatever ``make`` returns for the range."""
        return self.make(start, stop)


@dataclass(frozen=True, slots=True)
class Constant(Column):
    """The same value in every row."""

    value: Any

    def values(self, start: int, stop: int, dialect: str) -> list[Any]:
        """``value`` repeated."""
        return [self.value] * (stop - start)


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK_ROWS):
        yield start, min(total, start + CHUNK_ROWS)


@dataclass
class BulkWriter:
    """Writes the demo's tables into the session's transaction; never commits."""

    session: Session
    progress: ProgressCallback | None = None

    @property
    def dialect(self) -> str:
        """The name of the database dialect, e.g. ``sqlite`` or ``postgresql``."""
        return self.session.get_bind().dialect.name

    def report(self, label: str, done: int, total: int) -> None:
        """Pass progress on to the caller's callback, if any."""
        if self.progress is not None:
            self.progress(label, done, total)

    def insert_typed(self, table_name: str, rows: list[dict[str, Any]], label: str) -> None:
        """Insert ORM-typed values (Decimal money, aware datetimes) through SQLAlchemy Core."""
        model_table = Base.metadata.tables[table_name]
        connection = self.session.connection()
        self.report(label, 0, len(rows))
        for start, stop in _chunks(len(rows)):
            connection.execute(insert(model_table), rows[start:stop])
            self.report(label, stop, len(rows))

    def insert_raw(self, table_name: str, columns: dict[str, Column], total: int, label: str) -> None:
        """Insert ``total`` rows given as columns of storage-form values, by the fastest path."""
        dialect = self.dialect
        names = list(columns)
        connection = self.session.connection()
        quote = connection.dialect.identifier_preparer.quote
        column_list = ", ".join(quote(name) for name in names)
        self.report(label, 0, total)
        if dialect == "postgresql" and connection.dialect.driver == "psycopg":
            raw_connection: Any = connection.connection.dbapi_connection
            with raw_connection.cursor() as cursor:
                statement = f"COPY {quote(table_name)} ({column_list}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for start, stop in _chunks(total):
                        for row in self._rows(columns, start, stop, dialect):
                            copy.write_row(row)
                        if stop < total:
                            self.report(label, stop, total)
            # The server checks keys and builds indexes as COPY ends: only then is the step done.
            self.report(label, total, total)
            return
        if dialect == "sqlite":
            placeholders = ", ".join("?" for _ in names)
            statement = f"INSERT INTO {quote(table_name)} ({column_list}) VALUES ({placeholders})"  # noqa: S608
            for start, stop in _chunks(total):
                connection.exec_driver_sql(statement, self._rows(columns, start, stop, dialect))
                self.report(label, stop, total)
            return
        # Any other database: Core on an untyped table, so the storage-form values pass unchanged.
        untyped = table(table_name, *(column(name) for name in names))
        for start, stop in _chunks(total):
            rows = [dict(zip(names, row, strict=True)) for row in self._rows(columns, start, stop, dialect)]
            connection.execute(insert(untyped), rows)
            self.report(label, stop, total)

    @staticmethod
    def _rows(columns: dict[str, Column], start: int, stop: int, dialect: str) -> list[tuple[Any, ...]]:
        return list(zip(*(col.values(start, stop, dialect) for col in columns.values()), strict=True))

    @contextmanager
    def large_cache(self) -> Iterator[None]:
        """On SQLite, give the connection a large page cache for the duration of the load.

        The default 2 MiB cache makes every index insert of a multi-million-row load page in and
        out; measured at 200,000 activities, a 256 MiB cache cut the insert time by about a third.
        The previous size is restored afterwards, so the pooled connection is left as it was.
        """
        with sqlite_page_cache(self.session):
            yield

    def reset_sequences(self, max_ids: dict[str, int]) -> None:
        """After explicit ids, move PostgreSQL's id sequences past them so later inserts do not collide."""
        if self.dialect != "postgresql":
            return
        connection = self.session.connection()
        quote = connection.dialect.identifier_preparer.quote
        for table_name, max_id in max_ids.items():
            if max_id < 1:
                continue
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence(:table_name, 'id'), :max_id)"),
                {"table_name": quote(table_name), "max_id": max_id},
            )
