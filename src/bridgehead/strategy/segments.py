"""Segments: create, change and delete them (planners and admins), evaluate their rules set-wise, preview.

Evaluation never walks accounts in Python: for each segment one ``DELETE`` and one
``INSERT INTO segment_member SELECT ... FROM account WHERE <rule>`` run inside the database, and
after an import only for the accounts it changed.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    ClauseElement,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    Table,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    not_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint
from sqlalchemy.sql import visitors

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import require_role, visibility_for
from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.sql import OuterFirstJoin
from bridgehead.common.types import MoneyAmount, utcnow
from bridgehead.connectors.models import ImportRun
from bridgehead.connectors.report import ImportReport
from bridgehead.crm.models import Account, Opportunity
from bridgehead.crm.schemas import AccountFilters, AccountRead, UserRef
from bridgehead.crm.service import account_list_criteria
from bridgehead.db import analyze_scratch, sqlite_page_cache
from bridgehead.errors import Conflict, NotFound, ValidationFailed
from bridgehead.strategy.models import PipelineDefinition, Priority, Segment, SegmentMember, SegmentPriority
from bridgehead.strategy.rules import check_rule, compile_rule, describe_rule, reads_only_account_row
from bridgehead.strategy.segment_schemas import (
    OverlapRead,
    RulePreview,
    SampleAccount,
    SegmentCreate,
    SegmentRead,
    SegmentUpdate,
)

EDITOR_ROLES = (Role.PLANNER, Role.ADMIN)
SAMPLE_SIZE = 10
WON_LOOKBACK_DAYS = 365
_AUDIT_FIELDS = ("name", "description", "stance", "rule", "is_active")
ProgressCallback = Callable[[str, int, int], None]


def require_editor(actor: User) -> None:
    """Only planners and admins change segments, ICP criteria and pipeline definitions."""
    require_role(actor, *EDITOR_ROLES)


def can_edit(user: User) -> bool:
    """Whether ``user`` may change segments (pages show edit controls only then)."""
    return user.role in EDITOR_ROLES


def matching_account_ids(rule: dict[str, Any]) -> Any:
    """``SELECT account.id WHERE <rule>`` (validated), for use as a subquery."""
    return select(Account.id).where(compile_rule(rule))


# --- reading -----------------------------------------------------------------------------------


def get_segment(session: Session, *, segment_id: int) -> Segment:
    """The segment, or ``NotFound``."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("no such segment", field="segment_id", value=segment_id)
    return segment


def _priority_ids(session: Session, segment_ids: Sequence[int]) -> dict[int, list[int]]:
    links: dict[int, list[int]] = {segment_id: [] for segment_id in segment_ids}
    rows = session.execute(
        select(SegmentPriority.segment_id, SegmentPriority.priority_id)
        .where(SegmentPriority.segment_id.in_(list(segment_ids)))
        .order_by(SegmentPriority.priority_id)
    )
    for segment_id, priority_id in rows:
        links[segment_id].append(priority_id)
    return links


def _read(segment: Segment, priority_ids: list[int]) -> SegmentRead:
    return SegmentRead(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        stance=segment.stance,
        rule=segment.rule,
        rule_text=describe_rule(segment.rule),
        priority_ids=priority_ids,
        is_active=segment.is_active,
        member_count=segment.member_count,
        evaluated_at=segment.evaluated_at,
    )


def read_segment(session: Session, *, segment_id: int) -> SegmentRead:
    """One segment with its linked priorities."""
    segment = get_segment(session, segment_id=segment_id)
    return _read(segment, _priority_ids(session, [segment.id])[segment.id])


def list_segments(session: Session) -> list[SegmentRead]:
    """Every segment, active first, by name."""
    segments = session.scalars(select(Segment).order_by(Segment.is_active.desc(), Segment.name)).all()
    links = _priority_ids(session, [segment.id for segment in segments])
    return [_read(segment, links[segment.id]) for segment in segments]


def overlap_matrix(session: Session) -> dict[tuple[int, int], int]:
    """Accounts shared by each pair of segments (both orders), from the stored members."""
    other = SegmentMember.__table__.alias("other_member")
    member = SegmentMember.__table__
    rows = session.execute(
        select(member.c.segment_id, other.c.segment_id, func.count())
        .join(other, other.c.account_id == member.c.account_id)
        .where(member.c.segment_id < other.c.segment_id)
        .group_by(member.c.segment_id, other.c.segment_id)
    )
    matrix: dict[tuple[int, int], int] = {}
    for first, second, shared in rows:
        matrix[(first, second)] = shared
        matrix[(second, first)] = shared
    return matrix


def list_members(session: Session, *, viewer: User, segment_id: int, page: PageRequest) -> Page[AccountRead]:
    """One page of a segment's members that ``viewer`` may see, by name."""
    get_segment(session, segment_id=segment_id)
    criteria = account_list_criteria(viewer, AccountFilters())
    conditions = [
        *criteria.conditions,
        Account.id.in_(select(SegmentMember.account_id).where(SegmentMember.segment_id == segment_id)),
    ]
    total = session.scalar(select(func.count()).select_from(Account).where(*conditions)) or 0
    rows = session.execute(
        select(Account, User.full_name)
        .outerjoin(User, User.id == Account.owner_id)
        .where(*conditions)
        .order_by(Account.name, Account.id)
        .offset(page.offset)
        .limit(page.page_size)
    )
    items = [
        AccountRead(
            id=account.id,
            external_id=account.external_id,
            name=account.name,
            industry=account.industry,
            employees=account.employees,
            annual_revenue_amount=account.annual_revenue_amount,
            currency_code=account.currency_code,
            country=account.country,
            state=account.state,
            owner=UserRef(id=account.owner_id, full_name=owner or "") if account.owner_id else None,
            parent_account_id=account.parent_account_id,
            custom_fields=account.custom_fields or {},
        )
        for account, owner in rows
    ]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


def custom_field_keys(session: Session, *, limit: int = 100, sample: int = 5000) -> list[str]:
    """The custom-field keys imports have stored, read from the latest ``sample`` accounts.

    The editor asks on every change of a condition's field; a sample keeps that fast on large books
    (a key used only by older accounts can still be typed in the JSON view).
    """
    if session.get_bind().dialect.name == "postgresql":
        statement = text(
            "SELECT DISTINCT key FROM (SELECT custom_fields FROM account ORDER BY id DESC LIMIT :sample) AS recent, "
            "json_object_keys(recent.custom_fields) AS key "
            "WHERE json_typeof(recent.custom_fields) = 'object' ORDER BY key LIMIT :limit"
        )
    else:
        statement = text(
            "SELECT DISTINCT entry.key FROM (SELECT custom_fields FROM account ORDER BY id DESC LIMIT :sample) "
            "AS recent, json_each(recent.custom_fields) AS entry "
            "WHERE json_type(recent.custom_fields) = 'object' ORDER BY entry.key LIMIT :limit"
        )
    return [str(key) for key in session.scalars(statement, {"limit": limit, "sample": sample})]


# --- preview -----------------------------------------------------------------------------------


def preview_rule(
    session: Session,
    *,
    viewer: User,
    rule: dict[str, Any],
    exclude_segment_id: int | None = None,
    today: dt.date | None = None,
) -> RulePreview:
    """What ``rule`` matches now, computed in SQL and stored nowhere.

    Account counts and overlaps cover the whole organisation (as segment sizes do); the pipeline
    figures and the sample cover what ``viewer`` may see.
    """
    condition = compile_rule(rule)
    matched = select(Account.id).where(condition)
    visibility = visibility_for(viewer)
    since = (today or dt.date.today()) - dt.timedelta(days=WON_LOOKBACK_DAYS)
    matched_count = session.scalar(select(func.count()).select_from(Account).where(condition)) or 0
    total = session.scalar(select(func.count()).select_from(Account)) or 0
    is_open = Opportunity.is_closed.is_(False)
    won_recently = Opportunity.is_won.is_(True) & (Opportunity.close_date >= since)
    pipeline = session.execute(
        select(
            func.count().filter(is_open),
            type_coerce(func.coalesce(func.sum(case((is_open, Opportunity.amount))), 0), MoneyAmount()),
            func.count().filter(won_recently),
            type_coerce(func.coalesce(func.sum(case((won_recently, Opportunity.amount))), 0), MoneyAmount()),
        ).where(Opportunity.account_id.in_(matched), visibility.owned_by_visible(Opportunity.owner_id))
    ).one()
    shared = dict(
        session.execute(
            select(SegmentMember.segment_id, func.count())
            .where(SegmentMember.account_id.in_(matched))
            .group_by(SegmentMember.segment_id)
        ).all()
    )
    overlaps = [
        OverlapRead(
            segment_id=segment.id,
            segment_name=segment.name,
            stance=segment.stance,
            shared_accounts=shared.get(segment.id, 0),
        )
        for segment in session.scalars(
            select(Segment).where(Segment.is_active.is_(True)).order_by(Segment.name)
        )
        if segment.id != exclude_segment_id
    ]
    visible = account_list_criteria(viewer, AccountFilters()).conditions
    sample = [
        SampleAccount(
            id=row.id, name=row.name, industry=row.industry, employees=row.employees, country=row.country
        )
        for row in session.execute(
            select(Account.id, Account.name, Account.industry, Account.employees, Account.country)
            .where(condition, *visible)
            .order_by(Account.name, Account.id)
            .limit(SAMPLE_SIZE)
        )
    ]
    return RulePreview(
        matched_accounts=matched_count,
        total_accounts=total,
        open_count=pipeline[0],
        open_amount=pipeline[1],
        won_count=pipeline[2],
        won_amount=pipeline[3],
        won_since=since,
        overlaps=overlaps,
        sample=sample,
        rule_text=describe_rule(rule),
    )


# --- evaluation --------------------------------------------------------------------------------

# 64 MiB: the member table and its account index of a million-account book stay in memory while
# they are written (SQLite's default is 2 MiB). A per-connection memory setting, not durability.
_BULK_CACHE_KIB = 65536
# Segments whose first members are computed together in one pass over the accounts: one bit each
# of a mask that stays a 32-bit integer on both databases.
_PASS_SEGMENTS = 30
# A first evaluation into an empty member table of a book at least this large loads the members
# without the table's account index (on PostgreSQL also its keys) and builds them afterwards.
BULK_LOAD_MIN_ACCOUNTS = 50_000
_scope_metadata = MetaData()
# The columns rules read from the account row (a rule on won deals or owners is never scoped).
_SCOPED_COLUMNS = (
    "id",
    "name",
    "industry",
    "employees",
    "annual_revenue_amount",
    "country",
    "state",
    "owner_id",
    "parent_account_id",
    "custom_fields",
)
_account = typing.cast(Table, Account.__table__)
# A copy of the accounts a partial evaluation covers. Rules are evaluated on the copy, so the
# statements read those few rows whatever plan the database would choose for the account table
# (PostgreSQL cannot estimate a rule's selectivity and would scan all of it).
_SCOPED_ACCOUNT = Table(
    "strategy_scoped_account",
    _scope_metadata,
    *(
        Column(name, _account.c[name].type, primary_key=name == "id", autoincrement=False)
        for name in _SCOPED_COLUMNS
    ),
    prefixes=["TEMPORARY"],
)
# A shared scan's mask per account, kept for a first load on SQLite (see ``_first_members_together``).
_PASS_MASK = Table(
    "strategy_pass_mask",
    _scope_metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("mask", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
# Above this share of all accounts a partial evaluation costs more than a full one.
_SCOPE_SHARE_LIMIT = 0.2
_Element = TypeVar("_Element", bound=ClauseElement)


@contextmanager
def bulk_write(session: Session) -> Iterator[None]:
    """Run a large set-wise write with a page cache to match (SQLite), restoring it afterwards."""
    # Scratch tables (the scope copy, the segment masks) live in the temporary database.
    with sqlite_page_cache(session, _BULK_CACHE_KIB, temp_too=True):
        yield


@contextmanager
def account_scope(session: Session, account_ids: Select[Any]) -> Iterator[Table | None]:
    """A temporary copy of the accounts ``account_ids`` selects, for evaluating rules on those only.

    Yields None when they are so many that a full evaluation is cheaper. The copy is dropped on
    success; on an error the transaction's rollback removes it with everything else.
    """
    connection = session.connection()
    _SCOPED_ACCOUNT.drop(connection, checkfirst=True)
    _SCOPED_ACCOUNT.create(connection)
    copied = select(*(_account.c[name] for name in _SCOPED_COLUMNS)).where(_account.c.id.in_(account_ids))
    session.execute(insert(_SCOPED_ACCOUNT).from_select(list(_SCOPED_COLUMNS), copied))
    scoped = session.scalar(select(func.count()).select_from(_SCOPED_ACCOUNT)) or 0
    total = session.scalar(select(func.count()).select_from(_account)) or 0
    # Without statistics PostgreSQL would plan for a large copy and scan every member.
    analyze_scratch(session, _SCOPED_ACCOUNT)
    yield _SCOPED_ACCOUNT if scoped <= _SCOPE_SHARE_LIMIT * total else None
    _SCOPED_ACCOUNT.drop(connection)


def on_scope(clause: _Element, scope: Table) -> _Element:
    """``clause`` (a rule's condition, or a query of accounts) reading the scope's copy instead."""

    def replace(element: visitors.ExternallyTraversible, **_: Any) -> visitors.ExternallyTraversible | None:
        if isinstance(element, Column) and element.table is _account and element.name in scope.c:
            replacement: visitors.ExternallyTraversible = scope.c[element.name]
            return replacement
        return None

    traversible: visitors.ExternallyTraversible = clause
    return typing.cast(_Element, visitors.replacement_traverse(traversible, {}, replace))


def _refresh_members(session: Session, segment: Segment, scope: Table | None, *, empty: bool = False) -> int:
    """Bring one segment's stored members in line with its rule; return its member count.

    With ``scope`` (an ``account_scope`` copy), only those accounts are looked at; the rule must
    read the account row alone. ``empty`` says the caller knows the segment has no members.
    """
    member = typing.cast(Table, SegmentMember.__table__)
    matched = compile_rule(segment.rule)
    if scope is not None:
        in_scope = on_scope(matched, scope)
        no_longer = select(scope.c.id).where(not_(func.coalesce(in_scope, false())))
        session.execute(
            delete(member).where(member.c.segment_id == segment.id, member.c.account_id.in_(no_longer))
        )
        already = (
            select(member.c.account_id)
            .where(member.c.segment_id == segment.id, member.c.account_id == scope.c.id)
            .exists()
        )
        newly = select(literal(segment.id, Integer), scope.c.id).where(in_scope, ~already)
        has_members = None
    else:
        newly = select(literal(segment.id, Integer), Account.id).where(matched)
        has_members = (
            None
            if empty
            else session.scalar(select(member.c.account_id).where(member.c.segment_id == segment.id).limit(1))
        )
        if has_members is not None:
            # Only the difference is written: members the rule no longer matches go, accounts it
            # newly matches come; members that stay are checked through the primary key.
            still_matches = select(Account.id).where(Account.id == member.c.account_id, matched).exists()
            session.execute(delete(member).where(member.c.segment_id == segment.id, ~still_matches))
            already = (
                select(member.c.account_id)
                .where(member.c.segment_id == segment.id, member.c.account_id == Account.id)
                .exists()
            )
            newly = newly.where(~already)
    result = session.execute(
        insert(member)
        .from_select(["segment_id", "account_id"], newly)
        .execution_options(preserve_rowcount=True)
    )
    inserted = getattr(result, "rowcount", -1)
    if scope is None and has_members is None and isinstance(inserted, int) and inserted >= 0:
        return inserted  # a first evaluation: the segment had no member before this INSERT
    return (
        session.scalar(select(func.count()).select_from(member).where(member.c.segment_id == segment.id)) or 0
    )


def _first_members_together(
    session: Session, segments: Sequence[Segment], *, in_key_order: bool = False
) -> dict[int, int]:
    """Store the first members of segments that have none, whose rules read the account row alone.

    One scan of the accounts evaluates every rule of a pass (up to ``_PASS_SEGMENTS``) into a bit
    mask per account, so each account row (and on SQLite its custom fields, parsed once per row for
    all rules) is read once instead of once per segment. The mask is joined to the pass's
    (segment, bit) pairs, so the memberships are written account by account: the account index
    grows at its end (and PostgreSQL's foreign-key checks read the accounts in order). With
    ``in_key_order`` (a SQLite bulk load, the account index set aside) the masks are kept in a
    temporary table and written segment by segment instead, in primary-key order: the table then
    grows at its end, and each segment's count is its INSERT's row count. The members are exactly
    those of one INSERT ... SELECT per rule. Returns the member count of each segment.
    """
    member = typing.cast(Table, SegmentMember.__table__)
    counts: dict[int, int] = {}
    for start in range(0, len(segments), _PASS_SEGMENTS):
        batch = segments[start : start + _PASS_SEGMENTS]
        mask: ColumnElement[int] = literal(0, Integer)
        for bit, segment in enumerate(batch):
            matched = case(
                (compile_rule(segment.rule), literal(1 << bit, Integer)), else_=literal(0, Integer)
            )
            mask = mask + matched
        if in_key_order:
            counts.update(_members_by_segment(session, batch, select(Account.id, mask)))
            continue
        # OFFSET 0 keeps the databases from merging the subquery into the join, which would
        # evaluate the rules once per account and segment instead of once per account.
        flagged = select(Account.id.label("account_id"), mask.label("mask")).offset(0).subquery("flagged")
        bits = union_all(
            *(
                select(
                    literal(segment.id, Integer).label("segment_id"), literal(1 << bit, Integer).label("bit")
                )
                for bit, segment in enumerate(batch)
            )
        ).subquery("pass_bit")
        pairs = select(bits.c.segment_id, flagged.c.account_id).select_from(
            OuterFirstJoin(flagged, bits, flagged.c.mask.bitwise_and(bits.c.bit) != 0)
        )
        session.execute(insert(member).from_select(["segment_id", "account_id"], pairs))
        counted = session.execute(
            select(member.c.segment_id, func.count())
            .where(member.c.segment_id.in_([segment.id for segment in batch]))
            .group_by(member.c.segment_id)
        )
        found = {int(segment_id): int(count) for segment_id, count in counted}
        counts.update({segment.id: found.get(segment.id, 0) for segment in batch})
    return counts


def _members_by_segment(
    session: Session, batch: Sequence[Segment], masks: Select[int, int]
) -> dict[int, int]:
    """Keep ``masks`` (account id, bit mask) in a temporary table and insert each segment's members
    from it in account order; return each segment's count (its INSERT's row count: SQLite only,
    where the count is always reported)."""
    member = typing.cast(Table, SegmentMember.__table__)
    connection = session.connection()
    _PASS_MASK.drop(connection, checkfirst=True)
    _PASS_MASK.create(connection)
    session.execute(insert(_PASS_MASK).from_select(["account_id", "mask"], masks))
    counts: dict[int, int] = {}
    for bit, segment in enumerate(batch):
        members = select(literal(segment.id, Integer), _PASS_MASK.c.account_id).where(
            _PASS_MASK.c.mask.bitwise_and(1 << bit) != 0
        )
        result = session.execute(insert(member).from_select(["segment_id", "account_id"], members))
        counts[segment.id] = int(typing.cast(CursorResult[Any], result).rowcount)
    _PASS_MASK.drop(connection)
    return counts


def _is_bulk_load(session: Session) -> bool:
    """Whether this is a first evaluation of a large book (the member table empty)."""
    member = typing.cast(Table, SegmentMember.__table__)
    if session.scalar(select(member.c.segment_id).limit(1)) is not None:
        return False
    sampled = select(_account.c.id).limit(BULK_LOAD_MIN_ACCOUNTS).subquery()
    accounts = session.scalar(select(func.count()).select_from(sampled)) or 0
    return accounts >= BULK_LOAD_MIN_ACCOUNTS


@contextmanager
def _loading_members(session: Session, bulk: bool) -> Iterator[None]:
    """With ``bulk``, load the member table without its account index (and on PostgreSQL its keys).

    PostgreSQL checks a foreign key per inserted row with a trigger that also locks the account
    row, and memberships written account by account land all over the primary key's B-tree. For
    a first load of millions of memberships the primary key, index and foreign keys are dropped
    and added again in the same transaction: the key and index built once, sorted, from the
    loaded rows, the foreign keys checked by one set-wise query each. SQLite cannot drop a primary
    key (and declares no foreign keys on this table: see ``SegmentMember``): there only the account
    index is dropped and built again, and the shared scan writes the
    memberships in primary-key order (``_first_members_together``). Other sessions touching
    memberships or accounts wait for the transaction.
    """
    if not bulk:
        yield
        return
    member = typing.cast(Table, SegmentMember.__table__)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    foreign_keys = (
        sorted(member.foreign_key_constraints, key=lambda constraint: str(constraint.name))
        if postgres
        else []
    )
    indexes = sorted(member.indexes, key=lambda index: str(index.name))
    for constraint in foreign_keys:
        connection.execute(DropConstraint(constraint))
    for index in indexes:
        index.drop(connection)
    if postgres:
        connection.execute(DropConstraint(member.primary_key))
    yield
    if postgres:
        connection.execute(AddConstraint(member.primary_key, isolate_from_table=False))
    for index in indexes:
        index.create(connection)
    for constraint in foreign_keys:
        connection.execute(AddConstraint(constraint, isolate_from_table=False))


def evaluate_segments(
    session: Session,
    *,
    segment_ids: Sequence[int] | None = None,
    progress: ProgressCallback | None = None,
    scope: Table | None = None,
) -> dict[int, int]:
    """Recompute the members of the given segments (default: every active one); return members by id.

    Inside the database: a first evaluation is one INSERT ... SELECT per segment, and first
    evaluations of several segments whose rules read the account row alone share one scan of the
    accounts (``_first_members_together``); the first load into an empty member table of a large
    book goes in before the table's account index, on PostgreSQL also before its keys
    (``_loading_members``), and on SQLite segment by segment in primary-key order.
    Later evaluations DELETE the members the rule no longer matches and INSERT the accounts it
    newly matches, so only the difference is written. ``scope`` (an ``account_scope`` table, e.g.
    of the accounts an import changed) limits that to those accounts for rules that read the
    account row alone; rules on won deals or owners are re-checked for every account. The result
    equals a full evaluation as long as no account outside the scope changed. The caller commits.
    """
    statement = select(Segment).order_by(Segment.id)
    if segment_ids is None:
        statement = statement.where(Segment.is_active.is_(True))
    else:
        statement = statement.where(Segment.id.in_(list(segment_ids)))
    segments = session.scalars(statement).all()
    counts: dict[int, int] = {}
    member = typing.cast(Table, SegmentMember.__table__)
    together: list[Segment] = []
    with_members: set[int] = set()
    if scope is None:
        with_members = set(
            session.scalars(
                select(Segment.id).where(
                    Segment.id.in_([segment.id for segment in segments]),
                    select(member.c.account_id).where(member.c.segment_id == Segment.id).exists(),
                )
            )
        )
        together = [
            segment
            for segment in segments
            if segment.id not in with_members and reads_only_account_row(segment.rule)
        ]
        if len(together) < 2:
            together = []
    done = 0

    def evaluated(segment: Segment) -> None:
        nonlocal done
        segment.member_count = counts[segment.id]
        segment.evaluated_at = utcnow()
        done += 1
        if progress is not None:
            progress("segments", done, len(segments))

    bulk = bool(together) and _is_bulk_load(session)
    in_key_order = bulk and session.get_bind().dialect.name == "sqlite"
    with bulk_write(session), _loading_members(session, bulk):
        if together:
            counts.update(_first_members_together(session, together, in_key_order=in_key_order))
            for segment in together:
                evaluated(segment)
        for segment in segments:
            if segment.id in counts:
                continue
            partial = scope if scope is not None and reads_only_account_row(segment.rule) else None
            empty = scope is None and segment.id not in with_members
            counts[segment.id] = _refresh_members(session, segment, partial, empty=empty)
            evaluated(segment)
    session.flush()
    return {segment.id: counts[segment.id] for segment in segments}


# --- changes -----------------------------------------------------------------------------------


def _check_priorities(session: Session, priority_ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(priority_ids))
    found = set(session.scalars(select(Priority.id).where(Priority.id.in_(wanted))))
    for priority_id in wanted:
        if priority_id not in found:
            raise ValidationFailed("no such priority", field="priority_ids", value=priority_id)
    return wanted


def _check_name_free(session: Session, name: str, segment_id: int | None) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise ValidationFailed("a segment needs a name", field="name", value=name)
    clash = session.scalar(select(Segment.id).where(func.lower(Segment.name) == cleaned.lower()))
    if clash is not None and clash != segment_id:
        raise Conflict("a segment with this name exists", field="name", value=cleaned)
    return cleaned


def _audit_state(segment: Segment, priority_ids: list[int]) -> dict[str, Any]:
    state = {name: getattr(segment, name) for name in _AUDIT_FIELDS}
    state["priority_ids"] = priority_ids
    return state


def _set_priorities(session: Session, segment_id: int, priority_ids: list[int]) -> None:
    session.execute(delete(SegmentPriority).where(SegmentPriority.segment_id == segment_id))
    if priority_ids:
        session.execute(
            insert(SegmentPriority),
            [{"segment_id": segment_id, "priority_id": priority_id} for priority_id in priority_ids],
        )


def create_segment(session: Session, *, actor: User, data: SegmentCreate) -> SegmentRead:
    """Create a segment (planners, admins), evaluate it, and record the change."""
    require_editor(actor)
    rule = check_rule(data.rule, path="rule")
    name = _check_name_free(session, data.name, None)
    priority_ids = _check_priorities(session, data.priority_ids)
    segment = Segment(
        name=name,
        description=data.description,
        stance=data.stance,
        rule=rule,
        is_active=data.is_active,
        member_count=0,
    )
    session.add(segment)
    session.flush()
    _set_priorities(session, segment.id, priority_ids)
    if segment.is_active:
        evaluate_segments(session, segment_ids=[segment.id])
    record_change(
        session,
        actor_id=actor.id,
        action="create",
        object_type="segment",
        object_id=segment.id,
        before=None,
        after=_audit_state(segment, priority_ids),
    )
    return _read(segment, priority_ids)


def update_segment(session: Session, *, actor: User, segment_id: int, data: SegmentUpdate) -> SegmentRead:
    """Change a segment (planners, admins); re-evaluate it when its rule or active flag changed."""
    require_editor(actor)
    segment = get_segment(session, segment_id=segment_id)
    old_priorities = _priority_ids(session, [segment.id])[segment.id]
    before = _audit_state(segment, old_priorities)
    changes = data.model_dump(exclude_unset=True)
    # Validate everything before touching the row, so a refused change stores nothing.
    rule = check_rule(changes["rule"], path="rule") if changes.get("rule") is not None else None
    name = _check_name_free(session, changes["name"], segment.id) if changes.get("name") is not None else None
    priority_ids = (
        _check_priorities(session, changes["priority_ids"])
        if changes.get("priority_ids") is not None
        else old_priorities
    )
    if name is not None:
        segment.name = name
    if rule is not None:
        segment.rule = rule
    for key in ("description", "stance", "is_active"):
        if changes.get(key) is not None:
            setattr(segment, key, changes[key])
    if priority_ids != old_priorities:
        _set_priorities(session, segment.id, priority_ids)
    session.flush()
    if segment.is_active:
        evaluate_segments(session, segment_ids=[segment.id])
    else:
        session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
        segment.member_count = 0
        session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="update",
        object_type="segment",
        object_id=segment.id,
        before=before,
        after=_audit_state(segment, priority_ids),
    )
    return _read(segment, priority_ids)


def delete_segment(session: Session, *, actor: User, segment_id: int) -> None:
    """Delete a segment (planners, admins) unless a pipeline definition still counts by it."""
    require_editor(actor)
    segment = get_segment(session, segment_id=segment_id)
    users = session.scalars(
        select(PipelineDefinition.name).where(PipelineDefinition.segment_id == segment.id)
    ).all()
    if users:
        # Deleting would silently widen those definitions to every account (segment_id → NULL).
        raise Conflict(
            "pipeline definitions count by this segment; change them first",
            field="segment_id",
            value=segment.id,
            pipeline_definitions=", ".join(users),
        )
    before = _audit_state(segment, _priority_ids(session, [segment.id])[segment.id])
    session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    session.execute(delete(SegmentPriority).where(SegmentPriority.segment_id == segment.id))
    session.delete(segment)
    session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="delete",
        object_type="segment",
        object_id=segment_id,
        before=before,
        after=None,
    )


def after_import(session: Session, report: ImportReport) -> None:
    """After-import step: refresh segment membership and ICP fit for what the import changed.

    Imports stamp ``updated_at`` on every account they insert or change, so only accounts updated
    since the run started are re-evaluated (rules on won deals or owners are re-checked in full).
    Without a stored run (a start time to compare with) everything is re-evaluated.
    """
    from bridgehead.strategy.icp import score_accounts

    started = (
        session.scalar(select(ImportRun.started_at).where(ImportRun.id == report.run_id))
        if report.run_id is not None
        else None
    )
    if started is None:
        evaluate_segments(session)
        score_accounts(session)
        return
    with account_scope(session, select(Account.id).where(Account.updated_at >= started)) as scope:
        evaluate_segments(session, scope=scope)
        score_accounts(session, scope=scope)
