"""The import engine: parse and validate rows, stage them, resolve references and upsert, set-wise.

Every source (Salesforce, HubSpot, a CSV mapping) hands the engine batches of rows already named
in Bridgehead's field names (``entities.py``). For each batch the engine:

1. parses every cell (a row with any bad cell is rejected, naming file, line, field, value, reason);
2. streams the good rows into a temporary staging table (COPY on PostgreSQL);
3. rejects duplicate ids and references to records that do not exist, in SQL;
4. updates the records whose values changed and inserts the new ones, in two statements;
5. resolves references of an entity to itself (parent account, manager) once all rows are in.

The caller owns the transaction: it commits, or rolls back for ``--dry-run`` and for an
all-or-nothing import that rejected anything (``ImportFailed``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import (
    JSON,
    Table,
    Text,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bridgehead.audit.service import record_change
from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.connectors.deferred_indexes import DeferredIndexes
from bridgehead.connectors.entities import EntitySpec, Kind
from bridgehead.connectors.files import RowProblem
from bridgehead.connectors.key_index import KeyIndexes
from bridgehead.connectors.models import ImportRun, QuarantinedRow
from bridgehead.connectors.parsing import field_parser, placeholder_email
from bridgehead.connectors.report import (
    EntityBatch,
    EntityCounts,
    ImportFailed,
    ImportOptions,
    ImportReport,
    Policy,
    ProgressCallback,
    SourceRow,
)
from bridgehead.connectors.staging import Stage, stage_name
from bridgehead.db import sqlite_page_cache


def import_page_cache(session: Session) -> AbstractContextManager[None]:
    """On SQLite, a 256 MB page cache for the block, then the size it had (nests).

    Large imports walk indexes far bigger than SQLite's default 2 MB cache, and so do the
    after-import steps over the records just written (about a third less CPU for stage
    compliance after a first import with the cache kept).
    """
    return sqlite_page_cache(session)


def run_import(
    session: Session,
    *,
    source: str,
    location: str,
    batches: Iterable[EntityBatch],
    options: ImportOptions,
    actor_id: int | None = None,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import ``batches`` in order; raise ``ImportFailed`` if the policy is all-or-nothing and any
    row was rejected (the caller then rolls back). Returns the report otherwise."""
    report = ImportReport(source=source, location=location, policy=options.policy, dry_run=options.dry_run)
    run = ImportRun(
        source=source,
        location=location[:1000],
        policy=options.policy,
        status="running",
        actor_id=actor_id,
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    report.run_id = run.id
    now = utcnow()
    # A refused or failed import is rolled back by the caller, and the dropped indexes with it.
    deferred = DeferredIndexes(session)
    key_indexes = KeyIndexes()
    with import_page_cache(session):
        for batch in batches:
            # This batch may look up any other table's records by id.
            deferred.restore_unique_keys_except(batch.entity.table.name)
            counts = report.counts.setdefault(batch.entity.name, EntityCounts())
            _import_batch(
                session, batch, options, report, counts, run.id, now, progress, deferred, key_indexes
            )
            # The batch wrote its table: a later batch referencing it reads its keys again.
            key_indexes.forget(batch.entity.table.name)
        if progress and deferred.dropped:
            progress("rebuilding indexes", 0, None)
        deferred.rebuild()
    report.rejected_rows = sum(counts.rejected for counts in report.counts.values())
    if not report.ok and options.policy == "all_or_nothing":
        report.status = "failed"
        raise ImportFailed(report)
    report.status = "dry_run" if options.dry_run else "committed"
    run.status = report.status
    run.finished_at = utcnow()
    run.counts = {name: vars(counts) for name, counts in report.counts.items()}
    run.rejected_rows = report.rejected_rows
    session.flush()
    record_change(
        session,
        actor_id=actor_id,
        action="import",
        object_type="import_run",
        object_id=run.id,
        before=None,
        after={
            "source": source,
            "location": location,
            "counts": run.counts,
            "rejected": report.rejected_rows,
        },
        source="import",
    )
    return report


def _import_batch(
    session: Session,
    batch: EntityBatch,
    options: ImportOptions,
    report: ImportReport,
    counts: EntityCounts,
    run_id: int,
    now: dt.datetime,
    progress: ProgressCallback | None,
    deferred: DeferredIndexes,
    key_indexes: KeyIndexes,
) -> None:
    keep_cells = options.policy == "quarantine"
    stage = Stage(session, batch, keep_cells)
    quarantined: list[QuarantinedRow] = []

    def reject(
        line: int, field_name: str | None, value: str | None, reason: str, cells: dict[str, str] | None
    ) -> None:
        report.add_problem(RowProblem(batch.file, line, field_name, value, reason), options.max_kept_problems)
        if keep_cells:
            quarantined.append(
                QuarantinedRow(
                    import_run_id=run_id,
                    file=batch.file,
                    line=line,
                    field=field_name,
                    value=value,
                    reason=reason,
                    cells=cells,
                )
            )

    parsers = {spec.name: field_parser(spec, options) for spec in stage.specs}
    stage_names = {spec.name: stage_name(spec) for spec in stage.specs}
    required = [spec.name for spec in batch.entity.fields if spec.required and spec.name in batch.fields]
    missing_required = [
        spec.name for spec in batch.entity.fields if spec.required and spec.name not in batch.fields
    ]
    is_user = batch.entity.name == "user"
    label = f"{batch.entity.label} ({batch.file})"

    def parsed_rows() -> Iterator[dict[str, Any]]:
        seen = 0
        for row in batch.rows:
            seen += 1
            if progress and seen % 10_000 == 0:
                progress(label, seen, None)
            row_ok = True
            record: dict[str, Any] = {"_line": row.line}
            external_id = row.external_id.strip()
            if not external_id:
                reject(row.line, "id", row.external_id, "the record has no id", row.cells)
                counts.rejected += 1
                continue
            if len(external_id) > 64:
                reject(row.line, "id", external_id, "id longer than 64 characters", row.cells)
                counts.rejected += 1
                continue
            record["_ext"] = external_id
            for name, text in row.values.items():
                try:
                    value = parsers[name](text)
                except ValueError as exc:
                    reject(row.line, name, text, str(exc), row.cells)
                    row_ok = False
                    continue
                record[stage_names[name]] = value
            for name in required:
                if record.get(name) is None and row_ok:
                    reject(row.line, name, "", "required but empty", row.cells)
                    row_ok = False
            for name in missing_required:
                if row_ok:
                    reject(row.line, name, None, "required but the file has no such column", row.cells)
                    row_ok = False
            if not row_ok:
                counts.rejected += 1
                continue
            if is_user and record.get("email") is None:
                record["email"] = placeholder_email(external_id)
            if stage.has_custom:
                custom = {key: value for key, value in (row.custom or {}).items() if value != ""}
                record["custom_fields"] = json.dumps(custom, sort_keys=True, ensure_ascii=False)
            if keep_cells:
                record["_cells"] = json.dumps(row.cells or {}, ensure_ascii=False)
            yield record
        if progress:
            progress(label, seen, seen)

    if batch.chunks is not None:
        from bridgehead.connectors.columnar import stage_columns

        stage_columns(
            stage,
            batch.chunks,
            options=options,
            reject=reject,
            counts=counts,
            label=label,
            keep_cells=keep_cells,
            progress=progress,
            key_indexes=key_indexes,
        )
        stage.analyze()
    else:
        stage.load(parsed_rows(), options.batch_size)
    if batch.early_problems:
        for problem in batch.early_problems():
            reject(problem.line, problem.field, problem.value, problem.reason, problem.cells)
            counts.rejected += 1
    _reject_duplicates(session, stage, counts, reject)
    if is_user:
        _link_users_by_email(session, stage)
        _reject_unique_collisions(session, stage, counts, reject)
    _resolve_references(session, stage, counts, reject, self_refs=False)
    valid_rows = (
        session.scalar(
            select(func.count()).select_from(stage.table).where(stage.table.c._rejected.is_(False))
        )
        or 0
    )
    deferred.set_aside_for(batch.entity.table, valid_rows)
    _upsert(session, stage, counts, now, valid_rows)
    # Self references below look records up by id; without them the key may stay aside while
    # the next file into the same table goes in.
    if any(spec.ref_entity == batch.entity.name for spec in stage.refs):
        deferred.restore_unique_keys(batch.entity.table.name)
    _resolve_references(session, stage, counts, reject, self_refs=True)
    if quarantined and not options.dry_run:
        session.add_all(quarantined)
    session.flush()
    stage.drop()


RejectFn = Callable[[int, str | None, str | None, str, dict[str, str] | None], None]


def _cells_of(stage: Stage, value: Any) -> dict[str, str] | None:
    if "_cells" not in stage.table.c or value is None:
        return None
    loaded: dict[str, str] = json.loads(value)
    return loaded


def _mark_rejected(session: Session, stage: Stage, condition: ColumnElement[bool]) -> None:
    session.execute(update(stage.table).where(condition).values(_rejected=True))


def _reject_duplicates(session: Session, stage: Stage, counts: EntityCounts, reject: RejectFn) -> None:
    table = stage.table
    # One pass over the stage's id index answers the usual case, a file without duplicate ids.
    if session.scalar(select(table.c._ext).group_by(table.c._ext).having(func.count() > 1).limit(1)) is None:
        return
    first = (
        select(table.c._ext, func.min(table.c._line).label("first_line")).group_by(table.c._ext).subquery()
    )
    cells_column = table.c._cells if "_cells" in table.c else literal(None)
    duplicates = session.execute(
        select(table.c._line, table.c._ext, first.c.first_line, cells_column)
        .join(first, first.c._ext == table.c._ext)
        .where(table.c._line != first.c.first_line)
    ).all()
    for line, external_id, first_line, cells in duplicates:
        reject(
            line,
            "id",
            external_id,
            f"the same id appears first at line {first_line}",
            _cells_of(stage, cells),
        )
        counts.rejected += 1
    if duplicates:
        _mark_rejected(
            session,
            stage,
            table.c._line.not_in(select(func.min(table.c._line)).group_by(table.c._ext).scalar_subquery()),
        )


def _link_users_by_email(session: Session, stage: Stage) -> None:
    """A user added by hand and the same person in the CRM export become one record."""
    if "email" not in stage.table.c:
        return
    target = stage.batch.entity.table
    match = (
        select(stage.table.c._ext)
        .where(stage.table.c.email == target.c.email, stage.table.c._rejected.is_(False))
        .limit(1)
        .scalar_subquery()
    )
    session.execute(
        update(target)
        .where(target.c.external_id.is_(None), exists().where(stage.table.c.email == target.c.email))
        .values(external_id=match)
    )


def _reject_unique_collisions(session: Session, stage: Stage, counts: EntityCounts, reject: RejectFn) -> None:
    target = stage.batch.entity.table
    table = stage.table
    for column in stage.batch.entity.unique_columns:
        if column not in table.c:
            continue
        cells_column = table.c._cells if "_cells" in table.c else literal(None)
        other_record = exists().where(
            target.c[column] == table.c[column],
            or_(target.c.external_id.is_(None), target.c.external_id != table.c._ext),
        )
        first_in_file = select(func.min(table.c._line)).group_by(table.c[column]).scalar_subquery()
        clashes = session.execute(
            select(table.c._line, table.c[column], cells_column).where(
                table.c._rejected.is_(False),
                table.c[column].is_not(None),
                or_(other_record, table.c._line.not_in(first_in_file)),
            )
        ).all()
        for line, value, cells in clashes:
            reject(line, column, value, f"another record already has this {column}", _cells_of(stage, cells))
            counts.rejected += 1
        if clashes:
            _mark_rejected(session, stage, table.c._line.in_([line for line, _, _ in clashes]))


def _resolve_references(
    session: Session, stage: Stage, counts: EntityCounts, reject: RejectFn, *, self_refs: bool
) -> None:
    from bridgehead.connectors.entities import ENTITIES

    table = stage.table
    own = stage.batch.entity.name
    specs = [spec for spec in stage.refs if (spec.ref_entity == own) == self_refs]
    if specs and not (stage.references_resolved and not self_refs):
        # Every reference in one pass: each UPDATE rewrites the whole stage (a new row version per
        # row on PostgreSQL), so one per reference cost 4x on activities.
        lookups = {
            f"{spec.name}_id": select(ENTITIES[str(spec.ref_entity)].table.c.id)
            .where(ENTITIES[str(spec.ref_entity)].table.c.external_id == table.c[f"{spec.name}_ext"])
            .scalar_subquery()
            for spec in specs
        }
        session.execute(update(table).values(lookups))
    for spec in specs:
        assert spec.ref_entity is not None
        ext_column = table.c[f"{spec.name}_ext"]
        id_column = table.c[f"{spec.name}_id"]
        cells_column = table.c._cells if "_cells" in table.c else literal(None)
        unknown = session.execute(
            select(table.c._line, ext_column, cells_column).where(
                table.c._rejected.is_(False), ext_column.is_not(None), id_column.is_(None)
            )
        ).all()
        for line, value, cells in unknown:
            reason = f"no {ENTITIES[spec.ref_entity].label[:-1] if spec.ref_entity != 'opportunity' else 'opportunity'} with id {value!r}"
            if self_refs:
                reason += " (imported without this link)"
            reject(line, spec.name, value, reason, _cells_of(stage, cells))
        if not self_refs:
            if unknown:
                counts.rejected += len(unknown)
                _mark_rejected(session, stage, and_(ext_column.is_not(None), id_column.is_(None)))
            continue
        target = stage.batch.entity.table
        session.execute(
            update(target)
            .where(
                target.c.external_id == table.c._ext,
                table.c._rejected.is_(False),
                target.c[spec.column].is_distinct_from(id_column),
            )
            .values({spec.column: id_column})
        )


def _upsert(session: Session, stage: Stage, counts: EntityCounts, now: dt.datetime, valid_rows: int) -> None:
    entity = stage.batch.entity
    target = entity.table
    table = stage.table
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for spec in stage.specs:
        if spec.kind == Kind.REF:
            if spec.ref_entity != entity.name:
                pairs.append((spec.column, table.c[f"{spec.name}_id"]))
        else:
            pairs.append((spec.column, table.c[stage_name(spec)]))
    if stage.has_custom:
        pairs.append(("custom_fields", table.c.custom_fields))
    valid = table.c._rejected.is_(False)
    dialect = session.get_bind().dialect.name

    updated = 0
    # No stage row can match a stored record when the table holds no ids (a first import), nor
    # when every stage id sorts outside the stored ones: Salesforce's events after its tasks
    # (every event id starts 00U, every task id 00T). Then the UPDATE, which would match nothing,
    # and the per-row "already stored?" lookup are skipped.
    may_match = _may_match_stored(session, table, target)
    if not entity.append_only and pairs and may_match:
        # An empty cell for a column that cannot be empty keeps what is stored.
        kept = [
            (
                column,
                value
                if target.c[column].nullable or isinstance(target.c[column].type, JSON)
                else func.coalesce(value, target.c[column]),
            )
            for column, value in pairs
        ]
        differs = or_(*(_distinct(target.c[column], value) for column, value in kept))
        values: dict[str, Any] = {
            column: _as_target(target, column, value, dialect) for column, value in kept
        }
        if "updated_at" in target.c:
            values["updated_at"] = literal(now, UTCDateTime())
        result = session.execute(
            update(target)
            .where(target.c.external_id == table.c._ext, valid, differs)
            .values(values)
            .execution_options(preserve_rowcount=True)
        )
        updated = _rowcount(result)

    provided = {column for column, _ in pairs}
    insert_columns = ["external_id", *(column for column, _ in pairs)]
    select_values: list[Any] = [
        table.c._ext,
        *(_as_target(target, column, value, dialect) for column, value in pairs),
    ]
    if entity.name == "user" and "email" not in provided:
        insert_columns.append("email")
        select_values.append(table.c.email)
        provided = provided | {"email"}
    for column, default in _insert_defaults(entity, provided, now, dialect).items():
        insert_columns.append(column)
        select_values.append(default)
    # A column the file carries may still be empty on a row; new records then take the default.
    defaults = _insert_defaults(entity, set(), now, dialect)
    for index, column in enumerate(insert_columns):
        if column in provided and column in defaults and not target.c[column].nullable:
            select_values[index] = func.coalesce(select_values[index], defaults[column])
    new_rows = select(*select_values).where(valid)
    if may_match:
        # Otherwise every valid stage row is new (duplicate ids were rejected above).
        new_rows = new_rows.where(~exists().where(target.c.external_id == table.c._ext))
    result = session.execute(
        insert(target).from_select(insert_columns, new_rows).execution_options(preserve_rowcount=True)
    )
    created = _rowcount(result)
    counts.created += created
    counts.updated += updated
    counts.unchanged += valid_rows - created - updated


def _may_match_stored(session: Session, stage: Table, target: Table) -> bool:
    """Whether an id in ``stage`` may equal a stored id of ``target``: the table holds ids and
    some stage id lies between the lowest and the highest of them.

    The bounds are two index seeks (one query each would keep SQLite's min/max seek; one
    ``min(), max()`` would make it scan). The comparison runs in the database, in the columns'
    own collation, the one the equality join uses (a deterministic one: equal there means the
    same text). The stage is read until its first id inside the bounds (at once on a re-import),
    and to its end only when the answer pays (through its id index on SQLite).
    """
    lowest, highest = session.execute(
        select(
            select(func.min(target.c.external_id)).scalar_subquery(),
            select(func.max(target.c.external_id)).scalar_subquery(),
        )
    ).one()
    if lowest is None:
        return False
    inside = select(literal(1)).select_from(stage).where(stage.c._ext.between(lowest, highest)).limit(1)
    return session.scalar(inside) is not None


def _rowcount(result: Any) -> int:
    """Rows an UPDATE or INSERT ... SELECT touched (``preserve_rowcount`` keeps it on every driver)."""
    count: int = result.rowcount
    return max(count, 0)


def _as_target(target: Table, column: str, value: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if isinstance(target.c[column].type, JSON):
        # SQLite keeps JSON as text (a CAST there would turn it into a number); PostgreSQL needs one.
        return type_coerce(value, JSON) if dialect == "sqlite" else cast(value, JSON)
    return value


def _distinct(current: ColumnElement[Any], new: ColumnElement[Any]) -> ColumnElement[bool]:
    if isinstance(current.type, JSON):
        # PostgreSQL's json type has no equality; compare the canonical text instead.
        return cast(current, Text).is_distinct_from(new)
    return current.is_distinct_from(new)


def _insert_defaults(
    entity: EntitySpec, provided: set[str], now: dt.datetime, dialect: str
) -> dict[str, ColumnElement[Any]]:
    target = entity.table
    defaults: dict[str, ColumnElement[Any]] = {}
    for column in target.c:
        name = column.name
        if name in provided or name in {"id", "external_id"}:
            continue
        if name in entity.insert_defaults:
            defaults[name] = literal(entity.insert_defaults[name])
        elif name in {"created_at", "updated_at"}:
            defaults[name] = literal(now, UTCDateTime())
        elif name == "custom_fields":
            defaults[name] = _as_target(target, name, literal("{}"), dialect)
    return defaults


# The report types live in report.py; importers and callers may keep importing them from here.
__all__ = [
    "EntityBatch",
    "EntityCounts",
    "ImportFailed",
    "ImportOptions",
    "ImportReport",
    "Policy",
    "ProgressCallback",
    "SourceRow",
    "run_import",
]
