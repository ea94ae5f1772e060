"""Per-connection scratch tables of a scan: the hits of one detector, each deal's stage, stage requirements.

Mapping a deal to its process stage is a CASE over the deal's type and CRM stage name; evaluated
once per scan into ``gap_deal_stage`` (on a connection that runs a detector reading it:
``ScanScratch``) it becomes a plain indexed join for every such detector. The
stages' required dimensions and fields (JSON lists in ``process_stage``) are unrolled into
``gap_stage_requirement`` rows so the detectors can join and group instead of branching per stage.
The tables are TEMPORARY and outside the application's metadata: no migration, no other session
sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import CompoundSelect, Select, TableClause
from sqlalchemy.sql.util import ClauseAdapter

from bridgehead.crm.models import Opportunity
from bridgehead.db import analyze_scratch
from bridgehead.deals.process import REQUIRED_FIELD_LABELS, ProcessContext
from bridgehead.deals.qualification import STATUS_RANK, framework_dimensions
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.gaps.sqltools import stage_case, subject_keys_of

_metadata = MetaData()


def hit_columns(*, evidence_type: Any = JSON) -> list[Column[Any]]:
    """New column objects for a table of detector hits (``sqltools.HIT_COLUMNS``, in that order).

    The subject key is null in a matched hit table's rows that name an open signal no hit found
    again (``scan.fill_matched``).
    """
    return [
        Column("subject_key", String(120)),
        Column("opportunity_id", BigInteger),
        Column("account_id", BigInteger),
        Column("owner_id", BigInteger),
        Column("amount_at_risk", BigInteger),
        Column("evidence", evidence_type),
    ]


hits = Table(
    "gap_scan_hit",
    _metadata,
    *hit_columns(),
    # The open signal of the same kind and subject the hit matched (null: a new gap), and whether
    # its owner, money, severity or evidence differ from the hit's: both found by one join when
    # the hits are written, so the steps after it never compare subject keys again.
    Column("signal_id", BigInteger),
    Column("changed", Boolean, nullable=False),
    Index("ix_gap_scan_hit_signal_id", "signal_id"),
    prefixes=["TEMPORARY"],
)
# The matched hit table's columns in order: ``HIT_COLUMNS``, ``signal_id``, ``changed``.
MATCHED_COLUMNS = tuple(column.name for column in hits.columns)

# Each distinct (deal type, CRM stage) of the deals a scan covers, with the process stage it maps to.
stage_pair = Table(
    "gap_stage_pair",
    _metadata,
    Column("type", String(100)),
    Column("stage", String(100), nullable=False),
    Column("stage_id", BigInteger, nullable=False),
    Index("ix_gap_stage_pair_stage", "stage", "type"),
    prefixes=["TEMPORARY"],
)

deal_stage = Table(
    "gap_deal_stage",
    _metadata,
    Column("opportunity_id", BigInteger, primary_key=True),
    Column("stage_id", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)

stage_requirement = Table(
    "gap_stage_requirement",
    _metadata,
    Column("stage_id", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),  # "dimension" or "field"
    Column("position", Integer, nullable=False),
    Column("dimension_id", BigInteger),
    Column("field", String(40)),
    Column("label", String(120), nullable=False),
    Column("minimum_rank", Integer),
    Column("required_count", Integer, nullable=False),
    Index("ix_gap_stage_requirement_stage_id", "stage_id", "kind"),
    prefixes=["TEMPORARY"],
)


# The kinds whose detectors read ``gap_deal_stage`` and ``gap_stage_requirement`` (``detect_deals``;
# all but the handoff): a connection fills them the first time it runs one (``ScanScratch``).
STAGED_KINDS = frozenset(
    {
        GapKind.SINGLE_THREADED,
        GapKind.NO_ECONOMIC_BUYER,
        GapKind.QUALIFICATION_INCOMPLETE,
        GapKind.MISSING_FIELDS,
        GapKind.NO_ACTION_PLAN,
        GapKind.ACTION_PLAN_OVERDUE,
    }
)

# A scoped scan's deals and accounts (after an import: those it wrote), evaluated once per scan.
scope_deal = Table(
    "gap_scope_deal",
    _metadata,
    Column("opportunity_id", BigInteger, primary_key=True),
    prefixes=["TEMPORARY"],
)
scope_account = Table(
    "gap_scope_account", _metadata, Column("account_id", BigInteger, primary_key=True), prefixes=["TEMPORARY"]
)
# The subject keys of both, for matching the open signals in scope on the open-signal index (in
# the signal table's collation on PostgreSQL).
scope_subject = Table(
    "gap_scope_subject",
    _metadata,
    Column(
        "subject_key", String(120).with_variant(String(120, collation="C"), "postgresql"), primary_key=True
    ),
    prefixes=["TEMPORARY"],
)
_TABLES = (hits, stage_pair, deal_stage, stage_requirement, scope_deal, scope_account, scope_subject)


def _requirement_rows(session: Session, contexts: Sequence[ProcessContext]) -> list[dict[str, Any]]:
    """One row per required dimension and required field of every open stage (configuration, not deals)."""
    rows: list[dict[str, Any]] = []
    for context in contexts:
        dimensions = {d.key: d for d in framework_dimensions(session, context.framework.id)}
        for stage in context.stages:
            if stage.is_closed:
                continue
            required = [dimensions[key] for key in stage.required_dimensions if key in dimensions]
            for position, dimension in enumerate(required):
                rows.append(
                    {
                        "stage_id": stage.id,
                        "kind": "dimension",
                        "position": position,
                        "dimension_id": dimension.id,
                        "field": None,
                        "label": dimension.name,
                        "minimum_rank": STATUS_RANK[stage.minimum_status],
                        "required_count": len(required),
                    }
                )
            fields = [name for name in stage.required_fields if getattr(Opportunity, name, None) is not None]
            for position, name in enumerate(fields):
                rows.append(
                    {
                        "stage_id": stage.id,
                        "kind": "field",
                        "position": position,
                        "dimension_id": None,
                        "field": name,
                        "label": REQUIRED_FIELD_LABELS.get(name, name),
                        "minimum_rank": None,
                        "required_count": len(fields),
                    }
                )
    return rows


class ScanScratch:
    """A scan's scratch tables on one connection, with the deal stages filled when first needed.

    Creating the tables costs nothing; filling the deal stages (``fill_stages``) maps every open
    or won deal to its process stage, about 0.5 s at 1,000,000 deals on either database. Only the
    detectors that read those tables need it (``STAGED_KINDS``, ``prepare_for``): a connection
    that runs none of them, such as a full scan's own connection while its helper takes the
    staged kinds, never fills them.

    A scoped scan's deals and accounts are evaluated once, into ``gap_scope_deal`` and
    ``gap_scope_account`` (and their subject keys into ``gap_scope_subject``); ``deal_scope`` and
    ``account_scope`` then name them by id, for every detector. (Passed on as conditions, each detector evaluated the scope again, and an import's
    "written since the run started" has no index: every detector read all the deals, and at
    1,000,000 deals PostgreSQL planned one of them as a loop over every inbound activity for each
    deal in scope: 5.3 of the 7.6 s a scan took after 1,000 deals were imported, 459 s after
    100,000.)
    """

    def __init__(
        self,
        session: Session,
        contexts: Sequence[ProcessContext],
        deals: ColumnElement[bool] | None = None,
        accounts: Select[Any] | CompoundSelect[Any] | None = None,
    ) -> None:
        """Create this connection's scratch tables; with ``deals`` (a condition over ``Opportunity``:
        a scoped scan) and ``accounts`` (a SELECT of account ids; None: every account), hold their
        ids (``deal_ids``, the conditions ``deal_scope`` and ``account_scope`` naming them, and
        ``subject_keys``, the subjects of both). The deal stages are not filled yet."""
        self._session = session
        self._contexts = contexts
        self._stages_filled = False
        connection = session.connection()
        for table in _TABLES:
            table.create(connection, checkfirst=True)
            empty(session, table)
        self.deal_scope: ColumnElement[bool] = true()
        self.account_scope: Select[Any] | None = None
        self.deal_ids: Select[Any] | None = None
        self.subject_keys: Select[Any] | None = None
        if deals is None:
            return
        session.execute(
            insert(scope_deal).from_select(["opportunity_id"], select(Opportunity.id).where(deals))
        )
        self.deal_ids = select(scope_deal.c.opportunity_id)
        self.deal_scope = Opportunity.id.in_(self.deal_ids)
        if accounts is not None:
            held = accounts.subquery()
            session.execute(
                insert(scope_account).from_select(
                    ["account_id"], select(held.c[0]).where(held.c[0].is_not(None)).distinct()
                )
            )
            self.account_scope = select(scope_account.c.account_id)
        subjects = subject_keys_of(self.deal_ids, self.account_scope)
        session.execute(insert(scope_subject).from_select(["subject_key"], subjects))
        self.subject_keys = select(scope_subject.c.subject_key)
        analyze_scratch(session, scope_deal, scope_account, scope_subject)

    def prepare_for(self, kind: GapKind) -> None:
        """Fill the deal stages before ``kind``'s detector runs here, if it reads them."""
        if kind in STAGED_KINDS:
            self.fill_stages()

    def fill_stages(self) -> None:
        """Fill the deal stages and stage requirements, once per scan on this connection."""
        if not self._stages_filled:
            _fill_stages(self._session, self._contexts, self.deal_scope)
            self._stages_filled = True


def _fill_stages(
    session: Session, contexts: Sequence[ProcessContext], deal_scope: ColumnElement[bool]
) -> None:
    """Fill the deal stages (of the deals in ``deal_scope``) and the stage requirements."""
    # The stage CASE (a dozen lower(trim(…)) IN (…) branches) runs once per distinct (type, stage)
    # pair, not once per deal: a million deals carry a handful of pairs. OFFSET 0 keeps SQLite from
    # pushing the outer "maps to a stage" test down into the DISTINCT, which would run the CASE per
    # deal (2.0 s instead of 0.14 s at 1,000,000 deals).
    covered = (or_(Opportunity.is_closed.is_(False), Opportunity.is_won.is_(True)), deal_scope)
    pairs = select(Opportunity.type, Opportunity.stage).where(*covered).distinct().offset(0).subquery()
    stage_id = ClauseAdapter(pairs).traverse(
        stage_case(contexts, lambda stage: None if stage.is_closed and not stage.is_won else stage.id)
    )
    session.execute(
        insert(stage_pair).from_select(
            ["type", "stage", "stage_id"],
            select(pairs.c.type, pairs.c.stage, stage_id).where(
                pairs.c.stage.is_not(None), stage_id.is_not(None)
            ),
        )
    )
    session.execute(
        insert(deal_stage).from_select(
            ["opportunity_id", "stage_id"],
            select(Opportunity.id, stage_pair.c.stage_id)
            .join(
                stage_pair,
                and_(
                    stage_pair.c.stage == Opportunity.stage,
                    stage_pair.c.type.is_not_distinct_from(Opportunity.type),
                ),
            )
            .where(*covered),
        )
    )
    rows = _requirement_rows(session, contexts)
    if rows:
        session.execute(insert(stage_requirement), rows)
    # Without statistics PostgreSQL guesses one row per requirement kind and plans nested loops
    # with a scan of ``qualification_entry`` per deal and requirement.
    analyze_scratch(session, stage_pair, deal_stage, stage_requirement)


def clear(session: Session) -> None:
    """Empty the scratch tables (they stay defined for the connection's next scan)."""
    for table in _TABLES:
        empty(session, table)


def empty(session: Session, table: TableClause) -> None:
    """Empty a scratch table: TRUNCATE on PostgreSQL, where a DELETE of a detector's 290,000 hits
    took 0.1-0.2 s (a re-scan empties the hits once per kind), DELETE elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"TRUNCATE {table.name}"))
    else:
        session.execute(delete(table))
