"""External id → id of every stored record of one entity, compact enough for a million records.

The column-wise loader resolves each block's references while staging it (``columnar.py``). It
used to read every (external id, id) pair as Python rows and look each block up with Arrow's
``index_in``, which builds a hash table of all the keys again for every block: about 240 MiB
of Python objects to read a million opportunities, and a quarter of a second per block.

Here the keys are read in slices straight into fixed-width byte strings (numpy ``S<n>``, 18
bytes for a Salesforce id), sorted once, and each block is looked up with a binary search:
26 MiB for a million records, a few tens of milliseconds per block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numpy.typing import NDArray
from sqlalchemy import Connection, Table, select

# Rows read from the database at a time: bounds the Python objects alive while reading.
READ_SLICE = 50_000


def _fixed_width(texts: pa.Array, width: int) -> NDArray[Any]:
    """``texts`` (no nulls, none longer than ``width`` bytes) as numpy ``S<width>``.

    When every text is exactly ``width`` bytes (ids of one system), the array's data buffer is
    viewed as is; otherwise each text is copied (numpy pads with NUL bytes).
    """
    size = len(texts)
    if not size:
        return np.zeros(0, dtype=f"S{max(width, 1)}")
    lengths = pc.binary_length(texts)
    if pc.min(lengths).as_py() == width == pc.max(lengths).as_py():
        whole = pa.concat_arrays([texts]) if texts.offset else texts
        offsets = np.frombuffer(whole.buffers()[1], dtype=np.int32)[: size + 1]
        data = np.frombuffer(whole.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[0] + width * size]
        return data.view(f"S{width}").copy()
    return np.asarray(texts.cast(pa.binary()).to_numpy(zero_copy_only=False), dtype=f"S{width}")


class KeyIndex:
    """The ids of ``table``'s records by external id, sorted for binary search."""

    def __init__(self, connection: Connection, table: Table) -> None:
        query = select(table.c.external_id, table.c.id).where(table.c.external_id.is_not(None))
        keys: list[pa.Array] = []
        ids: list[NDArray[np.int64]] = []
        # The driver's own cursor: two plain columns need none of SQLAlchemy's row processing,
        # which cost three times the fetch itself.
        cursor = connection.execute(query).cursor
        while rows := cursor.fetchmany(READ_SLICE):
            keys.append(pa.array([row[0] for row in rows], pa.string()))
            ids.append(np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows)))
        all_keys = pa.concat_arrays(keys) if keys else pa.array([], pa.string())
        del keys
        # A NUL byte would be taken for numpy's padding: such keys (never an id in practice) keep
        # Arrow's exact hash lookup instead.
        self._exact: tuple[pa.Array, pa.Array] | None = None
        all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        if len(all_keys) and pc.any(pc.match_substring(all_keys, "\x00")).as_py():
            self._exact = (all_keys, pa.array(all_ids, pa.int64()))
        self.width = int(pc.max(pc.binary_length(all_keys)).as_py() or 1) if len(all_keys) else 1
        fixed = np.concatenate(
            [
                _fixed_width(all_keys.slice(start, READ_SLICE * 4), self.width)
                for start in range(0, len(all_keys), READ_SLICE * 4)
            ]
            or [np.zeros(0, dtype=f"S{self.width}")]
        )
        del all_keys
        # The database's order need not be byte order (PostgreSQL collations): sort here.
        order = np.argsort(fixed, kind="stable")
        self.keys = fixed[order]
        self.ids = all_ids[order]

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, external_ids: pa.Array) -> pa.Array:
        """The id of each external id: null where none is stored, or where the cell is empty."""
        if self._exact is not None:
            keys, ids = self._exact
            return pc.take(ids, pc.index_in(external_ids, value_set=keys))
        size = len(external_ids)
        if not size or not len(self.keys):
            return pa.nulls(size, pa.int64())
        lengths = pc.fill_null(pc.binary_length(external_ids), 0).to_numpy(zero_copy_only=False)
        candidate = (lengths > 0) & (lengths <= self.width)
        # Cells that cannot match take a filler of the keys' width, so a block of ids of one
        # length is still viewed without copying; the filler's result is masked below.
        filler = pa.scalar("\x00" * self.width, pa.string())
        wanted = _fixed_width(pc.if_else(pa.array(candidate), external_ids, filler), self.width)
        # Texts shorter than the keys are padded with NUL bytes; a text containing NUL never matches.
        candidate &= ~np.asarray(
            pc.fill_null(pc.match_substring(external_ids, "\x00"), False).to_numpy(zero_copy_only=False),
            dtype=np.bool_,
        )
        positions = np.searchsorted(self.keys, wanted)
        positions[positions >= len(self.keys)] = 0
        found = candidate & (self.keys[positions] == wanted)
        return pa.array(np.where(found, self.ids[positions], 0), pa.int64(), mask=~found)


class KeyIndexes:
    """The key indexes of one import, kept from batch to batch until their table is written.

    Tasks, events, history and contact roles all reference the opportunities: read and sort them
    once per import, not once per file.
    """

    def __init__(self) -> None:
        self._indexes: dict[str, KeyIndex] = {}

    def get(self, connection: Connection, table: Table) -> KeyIndex:
        """``table``'s index, read now unless this import has read it since it last wrote it."""
        index = self._indexes.get(table.name)
        if index is None:
            index = self._indexes[table.name] = KeyIndex(connection, table)
        return index

    def forget(self, table_name: str) -> None:
        """``table_name``'s records changed: read them again when next needed."""
        self._indexes.pop(table_name, None)
