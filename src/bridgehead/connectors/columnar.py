"""Parsing and staging column-wise: the engine's step 1-2 for sources that give ``ColumnChunk``s.

For each chunk every field's column is checked as a whole (``vectorised.py``); the cells a
column check does not accept go through the row-wise parser (``parsing.field_parser``), which
returns their value or the reason they are refused. Rows are then rejected exactly as the
row-wise path rejects them (same problems, same order per row: field by field, then required
fields), and the good rows go to the staging table as one Arrow table per chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray

from bridgehead.connectors.entities import EntitySpec, FieldSpec
from bridgehead.connectors.key_index import KeyIndex, KeyIndexes
from bridgehead.connectors.parsing import field_parser
from bridgehead.connectors.prefetch import prefetched
from bridgehead.connectors.report import ColumnChunk, EntityCounts, ImportOptions, ProgressCallback
from bridgehead.connectors.staging import Stage, stage_name
from bridgehead.connectors.vectorised import Checked, column_checker, stage_form, stage_type

RejectFn = Callable[[int, str | None, str | None, str, dict[str, str] | None], None]
# (row position, order within the row, field, value, reason)
_Problem = tuple[int, int, str | None, str | None, str]


def parse_column(
    column: pa.Array,
    *,
    checker: Callable[[pa.Array], Checked],
    parser: Callable[[str], Any],
    spec: FieldSpec,
    skip: NDArray[np.bool_] | None = None,
) -> tuple[pa.Array, dict[int, str]]:
    """One field's column in stage form, and the reason for each cell that is refused.

    ``checker`` decides the ordinary cells at once; each remaining one goes to ``parser`` (the
    row-wise parser), whose value or ``ValueError`` is the answer. Cells under ``skip`` (rows
    already rejected) are not parsed.
    """
    checked = checker(column)
    values = checked.values.cast(stage_type(spec))
    unsure = checked.unsure if skip is None else checked.unsure & ~skip
    errors: dict[int, str] = {}
    fixed_rows: list[int] = []
    fixed_values: list[Any] = []
    for position in np.flatnonzero(unsure):
        row = int(position)
        try:
            value = parser(column[row].as_py())
        except ValueError as exc:
            errors[row] = str(exc)
            continue
        fixed_rows.append(row)
        fixed_values.append(stage_form(spec, value))
    if fixed_rows:
        mask = np.zeros(len(column), dtype=np.bool_)
        mask[fixed_rows] = True
        values = pc.replace_with_mask(values, pa.array(mask), pa.array(fixed_values, type=stage_type(spec)))
    return values, errors


@dataclass
class _CheckedChunk:
    """A chunk's refused cells (in report order) and its good rows in stage form, references not
    yet resolved."""

    chunk: ColumnChunk
    problems: list[_Problem]
    rejected: int
    columns: dict[str, pa.Array]


@dataclass
class _ChunkChecks:
    """Everything needed to check a chunk without the database (so it may run in another thread)."""

    fields: Sequence[str]
    specs: dict[str, FieldSpec]
    checkers: dict[str, Callable[[pa.Array], Checked]]
    parsers: dict[str, Callable[[str], Any]]
    required: list[str]
    missing_required: list[str]
    custom_fields: bool
    keep_cells: bool

    def check(self, chunk: ColumnChunk) -> _CheckedChunk:
        """Parse every column of ``chunk``, list its refused cells and keep its good rows."""
        fields, specs = self.fields, self.specs
        size = len(chunk)
        problems: list[_Problem] = []
        ids: pa.Array = chunk.external_ids
        ext_length = pc.utf8_length(ids).to_numpy(zero_copy_only=False)
        bad = (ext_length == 0) | (ext_length > 64)
        for missing in np.flatnonzero(bad):
            text = ids[int(missing)].as_py()
            reason = "the record has no id" if not text else "id longer than 64 characters"
            problems.append((int(missing), 0, "id", text, reason))
        staged: dict[str, pa.Array] = {}
        field_bad = np.zeros(size, dtype=np.bool_)
        for order, name in enumerate(fields, start=1):
            column = chunk.values[name]
            values, errors = parse_column(
                column, checker=self.checkers[name], parser=self.parsers[name], spec=specs[name], skip=bad
            )
            for row, reason in errors.items():
                problems.append((row, order, name, column[row].as_py(), reason))
                field_bad[row] = True
            staged[name] = values
        row_ok = ~(bad | field_bad)
        late = len(fields) + 1
        for name in self.required:
            empty = row_ok & np.asarray(staged[name].is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
            for position in np.flatnonzero(empty):
                problems.append((int(position), late, name, "", "required but empty"))
            row_ok &= ~empty
        for name in self.missing_required[:1]:
            for position in np.flatnonzero(row_ok):
                problems.append(
                    (int(position), late + 1, name, None, "required but the file has no such column")
                )
            row_ok[:] = False
        problems.sort(key=lambda problem: (problem[0], problem[1]))
        good = pa.array(np.flatnonzero(row_ok), pa.int64())
        columns: dict[str, pa.Array] = {
            "_line": pa.array(chunk.lines, pa.int64()).take(good),
            "_ext": ids.take(good),
            "_rejected": pa.array(np.zeros(len(good), dtype=np.bool_)),
        }
        for name in fields:
            columns[stage_name(specs[name])] = staged[name].take(good)
        if self.custom_fields and chunk.custom_json is not None:
            columns["custom_fields"] = chunk.custom_json.take(good)
        if self.keep_cells:
            cells = [
                json.dumps(chunk.cells(int(position)), ensure_ascii=False) for position in good.to_numpy()
            ]
            columns["_cells"] = pa.array(cells, pa.string())
        return _CheckedChunk(chunk, problems, int(size - row_ok.sum()), columns)


class _ReferenceIds:
    """External id → id of every record of one entity (``key_index.KeyIndex``), read when first
    needed: by then the referenced entity's rows of this import are stored.

    Resolving references while staging spares a pass that rewrites the whole stage (on
    PostgreSQL a new version of every row); ids not found stay empty and the engine reports them.
    """

    def __init__(self, stage: Stage, entity: str, indexes: KeyIndexes) -> None:
        from bridgehead.connectors.entities import ENTITIES

        self.stage = stage
        self.table = ENTITIES[entity].table
        self.indexes = indexes
        self.index: KeyIndex | None = None

    def lookup(self, external_ids: pa.Array) -> pa.Array:
        """The id of each external id (null where none is stored, or where the cell was empty)."""
        if self.index is None:
            self.index = self.indexes.get(self.stage.session.connection(), self.table)
        return self.index.lookup(external_ids)


def stage_columns(
    stage: Stage,
    chunks: Iterable[ColumnChunk],
    *,
    options: ImportOptions,
    reject: RejectFn,
    counts: EntityCounts,
    label: str,
    keep_cells: bool,
    progress: ProgressCallback | None,
    key_indexes: KeyIndexes | None = None,
) -> None:
    """Parse every chunk column-wise, reject its bad rows, and load the good ones into ``stage``.

    ``key_indexes`` are the import's indexes of referenced records (kept between batches)."""
    entity: EntitySpec = stage.batch.entity
    fields = stage.batch.fields
    specs = {spec.name: spec for spec in stage.specs}
    checkers = {name: column_checker(specs[name], options) for name in fields}
    parsers = {name: field_parser(specs[name], options) for name in fields}
    required = [spec.name for spec in entity.fields if spec.required and spec.name in fields]
    missing_required = [spec.name for spec in entity.fields if spec.required and spec.name not in fields]
    indexes = key_indexes if key_indexes is not None else KeyIndexes()
    references = {
        spec.name: _ReferenceIds(stage, str(spec.ref_entity), indexes)
        for spec in stage.refs
        if spec.ref_entity != entity.name
    }
    stage.references_resolved = True
    checks = _ChunkChecks(
        fields, specs, checkers, parsers, required, missing_required, stage.has_custom, keep_cells
    )
    seen = 0
    # Checked in the read-ahead thread (Arrow releases the GIL) while this one writes the chunk
    # before; references are looked up here, where the session's connection is used.
    for checked in prefetched(checks.check(chunk) for chunk in chunks):
        chunk = checked.chunk
        seen += len(chunk)
        for row, _, field_name, value, reason in checked.problems:
            reject(int(chunk.lines[row]), field_name, value, reason, chunk.cells(row))
        counts.rejected += checked.rejected
        columns = checked.columns
        for name in fields:
            if name in references:
                columns[f"{name}_id"] = references[name].lookup(columns[stage_name(specs[name])])
        stage.load_arrow(pa.table(columns))
        if progress:
            progress(label, seen, None)
    if progress:
        progress(label, seen, seen)
    # Arrow's allocator keeps freed blocks for reuse; the next file's blocks are allocated anew,
    # and the after-import steps use none, so hand them back (tens of MiB per large file).
    pa.default_memory_pool().release_unused()
