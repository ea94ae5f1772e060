"""SQL building blocks shared by the domains."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, Integer, Select, column, func, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Join
from sqlalchemy.sql.visitors import InternalTraversal

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def distinct_by_seeks(indexed: Any, *conditions: ColumnElement[bool]) -> Select[Any]:
    """The distinct non-null values of ``indexed``, in order, read one index seek per value.

    A "loose index scan": a recursive query asks the index that starts with ``indexed`` for the
    smallest value, then for the smallest value above it, and so on. A plain ``SELECT DISTINCT``
    reads every row (a quarter of a million deals for six products); this reads as many index
    entries as there are values. ``indexed`` must lead an index; ``conditions`` must be equalities
    on the index's next columns (or none), else every seek becomes a scan.
    """
    first = select(func.min(indexed).label("value")).where(indexed.is_not(None), *conditions)
    seen = first.cte("seen_value", recursive=True)
    following = (
        select(func.min(indexed)).where(indexed > seen.c.value, *conditions).correlate(seen).scalar_subquery()
    )
    seen = seen.union_all(select(following).where(seen.c.value.is_not(None)))
    return select(seen.c.value).where(seen.c.value.is_not(None)).order_by(seen.c.value)


def integer_rows(name: str, names: Sequence[str], rows: Iterable[Sequence[int]]) -> CTE:
    """A common table expression of literal integer rows (ids shipped to the database as a table).

    Rendered as literal SQL rather than one bound parameter per value: a few thousand parameters
    cost SQLAlchemy more to compile than the query costs the database to run. Every value passes
    through ``int``, so nothing but digits reaches the statement. ``rows`` must not be empty.
    """
    for identifier in (name, *names):
        if not _IDENTIFIER.fullmatch(identifier):
            raise ValueError(f"not a plain SQL identifier: {identifier!r}")
    rendered = ", ".join("(" + ", ".join(str(int(value)) for value in row) + ")" for row in rows)
    if not rendered:
        raise ValueError(f"{name}: no rows")
    labels = ", ".join(f"column{position} AS {label}" for position, label in enumerate(names, start=1))
    # Identifiers are checked above and values are ints: no text from outside reaches the SQL.
    statement = f"SELECT {labels} FROM (VALUES {rendered}) AS {name}_rows"  # noqa: S608
    textual = text(statement).columns(*(column(label, Integer) for label in names))
    return textual.cte(name)


class OuterFirstJoin(Join):
    """An inner join whose left side is the outer loop: SQLite's ``CROSS JOIN ... ON``.

    SQLite picks the loop order by its own cost guesses, which go wrong on scratch tables and on
    a selective-looking index: the segment masks were scanned once per segment instead of once,
    and the gap detectors walked open deals in amount order (an index on is_closed, amount), so
    every lookup that followed landed on a random page. PostgreSQL plans the join itself (a plain
    JOIN).
    """

    inherit_cache = True


@compiles(OuterFirstJoin, "sqlite")
def _outer_first_join_sqlite(element: OuterFirstJoin, compiler: SQLCompiler, **kw: Any) -> str:
    kw.pop("asfrom", None)
    from_linter = kw.get("from_linter")
    if from_linter is not None:  # the two sides are joined (no cartesian-product warning)
        from_linter.edges.update(itertools.product(element.left._from_objects, element.right._from_objects))
    left = element.left._compiler_dispatch(compiler, asfrom=True, **kw)
    right = element.right._compiler_dispatch(compiler, asfrom=True, **kw)
    onclause = element.onclause._compiler_dispatch(compiler, **kw) if element.onclause is not None else "1"
    return f"{left} CROSS JOIN {right} ON {onclause}"


class Unindexed(ColumnElement[Any]):
    """A column SQLite may not search through an index (``+column``); the column itself elsewhere.

    For a filter that keeps nearly every row: SQLite would walk the index and fetch each row from
    a random page, where reading the table in order is faster (the board's priority masks over a
    whole organisation: 1.85 s through the owner index, 1.2 s in table order, 250,000 deals).
    """

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _unindexed(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return str(element.column._compiler_dispatch(compiler, **kw))


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + str(element.column._compiler_dispatch(compiler, **kw))
