"""Immutable segments of version rows indexed by UpdatedDate, and lazy selections of rows across them.

A `Segment` is an Arrow table of version rows, sorted once by (UpdatedDate, Id), plus numpy arrays of
when each row is visible (`valid_from` <= T < `valid_to`, epoch ms), its UpdatedDate in ms and its
tombstone flag, so a window of UpdatedDate is a contiguous run found by binary search, not a scan.
A `Rows` names chosen rows as (segment, row) pairs in output order; it holds the segments (never
changed in place), so it stays a consistent snapshot and materializes its rows only when asked
(a contiguous run of one segment as a zero-copy slice).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz
from zuora_assets.sim.compact import expand
from zuora_assets.zuora.catalog import Field

INF_MS = np.iinfo(np.int64).max
RETENTION_MS = 30 * tz.DAY_MS
DELETED = "_deleted"
Span = tuple[int, int]  # a half-open range [lo, hi) of UpdatedDate in epoch ms


def _epoch_ms(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 epoch ms; nulls sort last (INF_MS)."""
    return pc.fill_null(pc.cast(column, pa.int64()), INF_MS).to_numpy(zero_copy_only=False)


def _sorted_by_updated_and_id(table: pa.Table) -> bool:
    """Whether rows are already in (UpdatedDate, Id) order, without nulls (a linear check, no sort).

    Equal (UpdatedDate, Id) pairs (two versions of a record in one millisecond) may follow each other: a
    stable sort would leave them as they are.
    """
    updated, ids = table.column("UpdatedDate"), table.column("Id")
    if table.num_rows < 2:
        return True
    if updated.null_count or ids.null_count:
        return False
    step = np.diff(_epoch_ms(updated))
    ids = ids.combine_chunks()
    ids_ascending = pc.less_equal(ids[:-1], ids[1:]).to_numpy(zero_copy_only=False)
    return bool(np.all((step > 0) | ((step == 0) & ids_ascending)))


@dataclass(frozen=True)
class Segment:
    """A batch of version rows sorted by (UpdatedDate, Id), when each is visible, and their UpdatedDate."""

    table: pa.Table
    valid_from: np.ndarray
    valid_to: np.ndarray
    updated: np.ndarray
    tomb: np.ndarray

    @classmethod
    def of(cls, table: pa.Table, valid_from: np.ndarray, valid_to: np.ndarray | None = None) -> Segment:
        """A segment of `table` (Zuora fields + `_deleted`); rows are visible from `valid_from` until `valid_to`."""
        valid_from = np.asarray(valid_from, dtype=np.int64)
        to = np.full(table.num_rows, INF_MS, dtype=np.int64) if valid_to is None else np.asarray(valid_to, np.int64)
        if not _sorted_by_updated_and_id(table):
            order = pc.sort_indices(table, sort_keys=[("UpdatedDate", "ascending"), ("Id", "ascending")])
            table, valid_from, to = table.take(order), valid_from[order], to[order]
        tomb = table.column(DELETED).to_numpy(zero_copy_only=False).astype(bool)
        updated = _epoch_ms(table.column("UpdatedDate"))
        if np.array_equal(valid_from, updated):  # generated rows are visible from their UpdatedDate: keep one copy
            valid_from = updated
        return cls(table, valid_from, to, updated, tomb)

    def ending(self, row: int, at_ms: int) -> Segment:
        """This segment with row `row` no longer visible from `at_ms` on (a newer version replaces it)."""
        valid_to = self.valid_to.copy()
        valid_to[row] = at_ms
        return replace(self, valid_to=valid_to)

    def visible(self, at_ms: int, deleted: bool, span: Span | None = None) -> np.ndarray:
        """Row numbers visible at `at_ms` (tombstones only when `deleted`, within retention).

        With `span`, only rows whose UpdatedDate is in it. Rows come in table order: (UpdatedDate, Id).
        """
        lo, hi = (0, self.table.num_rows) if span is None else np.searchsorted(self.updated, span)
        keep = (self.valid_from[lo:hi] <= at_ms) & (at_ms < self.valid_to[lo:hi])
        tomb = self.tomb[lo:hi]
        keep &= (~tomb | (at_ms < self.updated[lo:hi] + RETENTION_MS)) if deleted else ~tomb
        return np.flatnonzero(keep) + lo


@dataclass(frozen=True)
class Rows:
    """Chosen version rows, in output order, with the fields they are read with (missing ones are null)."""

    segments: tuple[Segment, ...]
    fields: tuple[Field, ...]
    seg: np.ndarray
    row: np.ndarray

    @classmethod
    def visible(cls, segments: Sequence[Segment], fields: tuple[Field, ...], at_ms: int, deleted: bool,
                span: Span | None = None) -> Rows:
        """The rows of `segments` visible at `at_ms` (see `Segment.visible`), segment by segment."""
        picked = [(i, seg.visible(at_ms, deleted, span)) for i, seg in enumerate(segments)]
        picked = [(i, rows) for i, rows in picked if len(rows)] or [(0, np.empty(0, dtype=np.int64))]
        seg = np.concatenate([np.full(len(rows), i, dtype=np.int32) for i, rows in picked])
        return cls(tuple(segments), fields, seg, np.concatenate([rows for _, rows in picked]))

    def __len__(self) -> int:
        return len(self.row)

    def take(self, positions: np.ndarray) -> Rows:
        """These rows at `positions` (an index array), in that order."""
        return replace(self, seg=self.seg[positions], row=self.row[positions])

    def slice(self, start: int, stop: int | None) -> Rows:
        """These rows from position `start` to `stop` (None = the end)."""
        return replace(self, seg=self.seg[start:stop], row=self.row[start:stop])

    def columns(self, names: Sequence[str]) -> pa.Table:
        """Just the columns `names` (field names or `_deleted`) of every row, for filtering and sorting."""
        by_name = {f.name: f for f in self.fields}
        chosen = tuple(by_name[n] for n in names if n in by_name)
        table = self._gather(chosen, 0, len(self))
        return table.select([n for n in names if n in table.column_names])

    def table(self, start: int = 0, stop: int | None = None) -> pa.Table:
        """Rows [start, stop) with every field, then `_deleted`."""
        return self._gather(self.fields, start, len(self) if stop is None else stop)

    def batches(self, size: int) -> Iterator[pa.Table]:
        """Every row with every field, `size` rows at a time (memory stays bounded by the batch size)."""
        for start in range(0, len(self), size):
            yield self.table(start, start + size)

    def _gather(self, fields: tuple[Field, ...], start: int, stop: int) -> pa.Table:
        seg, row = self.seg[start:stop], self.row[start:stop]
        if len(seg) == 0:
            return empty(fields)
        if seg.min() == seg.max():
            return conform(self.segments[int(seg[0])].table, fields, row)
        parts, positions = [], []
        for s in np.unique(seg):
            mask = seg == s
            parts.append(conform(self.segments[int(s)].table, fields, row[mask]))
            positions.append(np.flatnonzero(mask))
        return pa.concat_tables(parts).take(np.argsort(np.concatenate(positions), kind="stable"))


def conform(table: pa.Table, fields: tuple[Field, ...], rows: np.ndarray | None = None) -> pa.Table:
    """`table` (or its `rows`) with exactly `fields` (missing ones as nulls) then `_deleted`, each column of its
    served type (`compact.expand`: a segment may store columns compactly)."""
    names = [f.name for f in fields if f.name in table.column_names] + [DELETED]
    picked = table.select(names)
    if rows is not None and _is_run(rows):
        picked = picked.slice(int(rows[0]) if len(rows) else 0, len(rows))
    elif rows is not None:
        picked = picked.take(pa.array(rows, type=pa.int64()))
    columns = [expand(picked.column(f.name), f.arrow_type) if f.name in names else pa.nulls(picked.num_rows, f.arrow_type)
               for f in fields]
    columns.append(picked.column(DELETED))
    return pa.Table.from_arrays(columns, names=[f.name for f in fields] + [DELETED])


def _is_run(rows: np.ndarray) -> bool:
    """Whether `rows` are consecutive ascending row numbers (a slice)."""
    return len(rows) == 0 or (rows[-1] - rows[0] == len(rows) - 1 and bool(np.all(np.diff(rows) == 1)))


def empty(fields: tuple[Field, ...]) -> pa.Table:
    """A table with no rows and the columns of `fields`, then `_deleted`."""
    return pa.schema([(f.name, f.arrow_type) for f in fields] + [(DELETED, pa.bool_())]).empty_table()
