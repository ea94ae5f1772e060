"""SQL building blocks shared by the detectors: the hit row, subject keys and JSON evidence built in SQL.

Every detector is one SELECT producing the same columns (``HIT_COLUMNS``), so the scan can copy
its rows into ``gap_signal`` with ``INSERT … SELECT`` and never loads a deal into Python. The few
functions that differ between SQLite and PostgreSQL (JSON objects, day differences) are chosen
here by dialect name and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Integer,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import CompoundSelect, Select, UnaryExpression

from bridgehead.common.types import UTCDateTime
from bridgehead.crm.models import Account, Opportunity
from bridgehead.deals.compliance import process_condition
from bridgehead.deals.models import ProcessStage
from bridgehead.deals.process import ProcessContext, normalise_stage_name
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.rules import EffectiveRule

HIT_COLUMNS = (
    "subject_key",
    "opportunity_id",
    "account_id",
    "owner_id",
    "amount_at_risk",
    "evidence",
)
# A detector's inner rows as a CTE with this prefix are computed once. As a plain subquery both
# databases may inline them, and every mention of a correlated column (the last activity, the
# engaged stakeholders, a segment) in the evidence and the WHERE would run its subquery again
# (five times per deal for the stale deal detector on SQLite).
MATERIALIZED = "MATERIALIZED"
Part = str | int | ColumnElement[Any]


@dataclass(frozen=True)
class DetectContext:
    """What every detector needs: the rule, the processes, the time of the scan and the scope.

    ``deal_scope`` is a condition over ``Opportunity``; ``account_scope`` a subquery of account
    ids (``None``: every account). A full scan passes ``true()`` and ``None``.
    ``scope_deal_ids``: a scoped scan's deal ids (a SELECT for ``IN``; ``None`` in a full scan),
    for a detector to narrow activities or history to them before it groups them.
    """

    dialect: str
    now: dt.datetime
    rule: EffectiveRule
    contexts: Sequence[ProcessContext]
    deal_scope: ColumnElement[bool]
    account_scope: Select[Any] | CompoundSelect[Any] | None
    scope_deal_ids: Select[Any] | None = None

    @property
    def today(self) -> dt.date:
        """The scan's date (UTC)."""
        return self.now.date()

    def moment(self, value: dt.datetime) -> ColumnElement[dt.datetime]:
        """A datetime bound so both databases compare it with stored timestamps."""
        return literal(value, UTCDateTime())


@dataclass(frozen=True)
class Detection:
    """A detector's SELECT of hits, and whether its subjects are deals or accounts."""

    kind: GapKind
    rows: Select[Any]
    subject: str  # "opportunity" or "account"


def text_of(part: Part) -> ColumnElement[str]:
    """A piece of text in SQL (a key, a label): literals are bound (typed, for PostgreSQL), columns cast."""
    if isinstance(part, str):
        return cast(literal(part), String)
    if isinstance(part, int):
        return cast(literal(str(part)), String)
    return cast(part, String)


def subject_key(subject: str, subject_id: ColumnElement[Any]) -> ColumnElement[str]:
    """A signal's subject key, ``opportunity:123`` or ``account:45`` (``||`` on both databases).

    The explanation a person reads is not built here: it is written from the evidence when the
    signal is read (``gaps.explain``).
    """
    return text_of(f"{subject}:") + text_of(subject_id)


def subject_keys_of(
    deal_ids: Select[Any], account_ids: Select[Any] | CompoundSelect[Any] | None
) -> CompoundSelect[Any]:
    """The subject keys of the deals ``deal_ids`` and the accounts ``account_ids`` (SELECTs of ids;
    ``None``: every account), for matching signals on the open-signal index."""
    deals = deal_ids.subquery()
    accounts = (account_ids if account_ids is not None else select(Account.id)).subquery()
    return union_all(
        select(subject_key("opportunity", deals.c[0])), select(subject_key("account", accounts.c[0]))
    )


def json_value(value: Part | bool | None) -> ColumnElement[Any]:
    """A JSON object value: columns as they are, Python literals bound with an explicit type."""
    if value is None:
        return null()
    if isinstance(value, bool):
        return literal(value)
    if isinstance(value, int):
        return cast(literal(value), Integer)
    if isinstance(value, str):
        return cast(literal(value), String)
    return value


def json_object(dialect: str, pairs: Mapping[str, Any]) -> ColumnElement[Any]:
    """A JSON object built in SQL (``json_object`` on SQLite, text put together on PostgreSQL)."""
    if dialect == "postgresql":
        return _postgres_json_object(pairs)
    arguments: list[ColumnElement[Any]] = []
    for key, value in pairs.items():
        # Keys are fixed identifiers of this module, never user input.
        arguments.append(literal_column(f"'{key}'"))
        arguments.append(json_value(value))
    builder = func.json_build_object if dialect == "postgresql" else func.json_object
    return builder(*arguments)


def _postgres_json_object(pairs: Mapping[str, Any]) -> ColumnElement[Any]:
    """A JSON object on PostgreSQL: the keys and Python literals written here as JSON text, each
    column's value rendered by ``to_json`` (as ``json_build_object`` renders it; ``null`` for NULL),
    joined with ``||`` and cast to ``json``.

    ``json_build_object`` looks up how to render each argument's type again on every call: for the
    seven pairs of a single-threaded deal's evidence it took 1.6 us a row against 0.9 us this way,
    cast included (about 1 s of CPU over the 1.4 million signals of a first scan at 1,000,000
    deals). The text differs only in spacing (no blanks around ``:`` and ``,``).
    """
    pieces: list[ColumnElement[Any]] = []
    written = "{"
    for position, (key, value) in enumerate(pairs.items()):
        written += ("," if position else "") + json.dumps(key) + ":"
        if value is None or isinstance(value, bool | int | float | str):
            written += json.dumps(value)
            continue
        pieces.append(literal(written, Text()))
        pieces.append(func.coalesce(cast(func.to_json(value), Text), literal("null", Text())))
        written = ""
    pieces.append(literal(written + "}", Text()))
    joined = pieces[0]
    for piece in pieces[1:]:
        joined = joined.op("||")(piece)
    return cast(joined, JSON)


def elapsed(dialect: str, later: Any, earlier: Any, *, unit_seconds: int = 86400) -> ColumnElement[int]:
    """Whole units (days by default, hours with 3600) from ``earlier`` to ``later``, truncated."""
    if dialect == "postgresql":
        # date_part gives double precision; EXTRACT gives numeric since PostgreSQL 14, whose
        # division and floor cost twice as much (whole days of 1,000,000 deals: 0.14-0.15 s against
        # 0.29-0.36 s). A double holds seconds to the microsecond for spans of centuries: the
        # truncation is the same.
        interval = cast(later, UTCDateTime()) - cast(earlier, UTCDateTime())
        seconds = func.date_part(literal_column("'epoch'"), interval)
        return cast(func.floor(seconds / unit_seconds), Integer)
    # CAST truncates (SQLite builds without the math functions have no floor()); julianday's
    # floating point puts exactly 25 hours at 24.99999…, so a millisecond is added first.
    units = (func.julianday(later) - func.julianday(earlier)) * (86400 / unit_seconds)
    return cast(units + 0.001 / unit_seconds, Integer)


def stage_name_column() -> ColumnElement[str]:
    """The deal's CRM stage as the processes compare it."""
    return func.lower(func.trim(Opportunity.stage))


def _names_of(stage: ProcessStage) -> list[str]:
    return sorted(
        {normalise_stage_name(stage.name)} | {normalise_stage_name(n) for n in stage.crm_stage_names}
    )


def stage_case(
    contexts: Sequence[ProcessContext], pick: Callable[[ProcessStage], Any | None]
) -> ColumnElement[Any]:
    """One CASE over ``Opportunity``: ``pick(stage)`` for the process stage the deal is in, else NULL.

    Deals map to stages as ``deals.compliance`` maps them (the process by deal type, the stage by
    its name or a CRM alias); stages for which ``pick`` returns None are left out, so
    ``stage_case(...) IS NOT NULL`` selects exactly the deals the detector cares about.
    """
    stage_name = stage_name_column()
    branches: list[tuple[ColumnElement[bool], Any]] = []
    for context in contexts:
        in_process = process_condition(context, list(contexts))
        for stage in context.stages:
            value = pick(stage)
            if value is None:
                continue
            if isinstance(value, ColumnElement):
                bound = value
            elif isinstance(value, str):
                bound = text_of(value)
            else:
                bound = cast(literal(value), BigInteger)
            branches.append((and_(in_process, stage_name.in_(_names_of(stage))), bound))
    if not branches:
        return null()
    return case(*branches, else_=null())


def deal_hit_columns(
    context: DetectContext, source: Any, evidence: Mapping[str, Any]
) -> list[ColumnElement[Any]]:
    """The hit columns for a deal subject, from a subquery ``source`` with id, account_id, owner_id, amount."""
    return [
        subject_key("opportunity", source.c.id).label("subject_key"),
        source.c.id.label("opportunity_id"),
        # A deal's signal names no account: the deal does (``GapSignal.account_id``).
        cast(null(), BigInteger).label("account_id"),
        source.c.owner_id.label("owner_id"),
        func.coalesce(source.c.amount, 0).label("amount_at_risk"),
        json_object(context.dialect, evidence).label("evidence"),
    ]


def open_deals(context: DetectContext) -> list[ColumnElement[bool]]:
    """Open deals within the scan's scope.

    On SQLite the open test is written ``(+ is_closed) IS 0``, which no index can answer, so
    the walk over the deals is never driven by the ``(is_closed, close_date)`` index: through it
    the deals came in close-date order, each row fetched from a random page and then sorted
    back into id order (close_date_past at 1,000,000 deals, 78 % open: 6.9 s; walking the table
    in rowid order reads it once, 0.2 s). A scope's own conditions keep their indexes.
    """
    if context.dialect == "sqlite":
        unindexed = UnaryExpression(
            Opportunity.__table__.c.is_closed, operator=operators.custom_op("+"), type_=Boolean()
        )
        return [unindexed.is_(False), context.deal_scope]
    return [Opportunity.is_closed.is_(False), context.deal_scope]


def in_deal_order(context: DetectContext, statement: Select[Any], deal_id: Any) -> Select[Any]:
    """On SQLite, ``statement`` ordered by deal id, so the planner walks the deal table in rowid order.

    Driven by an index on ``is_closed``, ``close_date`` or ``created_at`` instead, the deals come in
    random id order, and every per-deal lookup (the last activity, the deal's stage) lands on a
    random page: at 1,000,000 deals the stale deal detector took 9 s of CPU
    that way and 1 s in id order. ``LIMIT -1`` (no limit) keeps SQLite from dropping the ORDER BY
    of a subquery or CTE as irrelevant. PostgreSQL plans its own way and gets the statement unchanged.
    """
    return statement.order_by(deal_id).limit(-1) if context.dialect == "sqlite" else statement


def deal_columns() -> list[Any]:
    """The deal columns every deal detector carries into its hit."""
    return [Opportunity.id, Opportunity.account_id, Opportunity.owner_id, Opportunity.amount]


def join_label_list(dialect: str, label: ColumnElement[str], order: ColumnElement[Any]) -> ColumnElement[str]:
    """An aggregate joining ``label`` with ", " in ``order`` (``group_concat`` / ``string_agg``)."""
    if dialect == "postgresql":
        return func.string_agg(label, aggregate_order_by(text_of(", "), order))
    # SQLite's group_concat keeps the order rows arrive in; the detectors feed them by position.
    return func.group_concat(label, ", ")
