"""Record-level data of generated models: records and their foreign keys, expanded into version rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import columns as col
from zuora_assets.sim import compact, pools
from zuora_assets.sim.timeline import Clock, Versions
from zuora_assets.sim.values import Values
from zuora_assets.zuora.catalog import MODELS, Field, model

INF_MS = np.iinfo(np.int64).max
DELETED = "_deleted"
MODEL_TAGS = {m.object: i for i, m in enumerate(MODELS.values())}


@dataclass(frozen=True)
class Generated:
    """One model's generated versions: the rows, and the instants each row is visible from and until."""

    table: pa.Table
    valid_from: np.ndarray
    valid_to: np.ndarray


@dataclass
class Records:
    """Record-level data of one model before it is expanded into versions."""

    object: str
    ids: pa.Array
    created: np.ndarray
    cols: dict[str, pa.Array] = field(default_factory=dict)
    parents: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    versions: Versions | None = None
    version_cols: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.created)


@dataclass(frozen=True)
class Groups:
    """Members grouped by owner, to pick a random member of a given owner."""

    order: np.ndarray
    starts: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, owner: np.ndarray, n_owners: int) -> Groups:
        counts = np.bincount(owner, minlength=n_owners) if len(owner) else np.zeros(n_owners, dtype=np.int64)
        return cls(np.argsort(owner, kind="stable"), np.cumsum(counts) - counts, counts)

    def pick(self, rng: np.random.Generator, owners: np.ndarray) -> np.ndarray:
        """A random member of each owner (-1 where the owner has none)."""
        counts = self.counts[owners]
        if len(self.order) == 0:
            return np.full(len(owners), -1, dtype=np.int64)
        k = (rng.random(len(owners)) * counts).astype(np.int64)
        found = self.order[np.minimum(self.starts[owners] + k, len(self.order) - 1)]
        return np.where(counts > 0, found, -1)

    def first(self, owners: np.ndarray) -> np.ndarray:
        """The first member of each owner (-1 where the owner has none)."""
        if len(self.order) == 0:
            return np.full(len(owners), -1, dtype=np.int64)
        found = self.order[np.minimum(self.starts[owners], len(self.order) - 1)]
        return np.where(self.counts[owners] > 0, found, -1)



class RecordBuilder:
    """Creates records of models and links them by foreign key (kept as parent row numbers until emitted)."""

    rng: np.random.Generator
    values: Values
    clock: Clock
    entity: int
    r: dict[str, Records]

    def new_ids(self, obj: str, first_row: int, n: int) -> pa.Array:
        """Ids for `n` new records of `obj` numbered from `first_row` (unique per entity and model)."""
        return col.hex_ids(self.rng, self.entity * 32 + MODEL_TAGS[obj], first_row, n)

    def _new(self, obj: str, created: np.ndarray) -> Records:
        rec = Records(obj, self.new_ids(obj, 0, len(created)), created.astype(np.int64))
        self.r[obj] = rec
        return rec

    def _fk(self, rec: Records, fk: str, parent: str, idx: np.ndarray) -> None:
        rec.cols[fk] = take(self.r[parent].ids, idx)
        rec.parents[fk] = (parent, idx.astype(np.int32) if len(self.r[parent].ids) < 2**31 else idx)

    def _copy(self, rec: Records, name: str, parent: str, idx: np.ndarray, source: str | None = None) -> None:
        """Set field `name` to the parent's value of field `source` (default: the same name)."""
        rec.cols[name] = take(self._record_values(self.r[parent], source or name), idx)

    def _record_values(self, rec: Records, name: str) -> pa.Array:
        if name not in rec.cols:
            rec.cols[name] = self.values.default(model(rec.object), model(rec.object).field(name), rec.created)
        return rec.cols[name]

    def _existing(self, owner: str, at_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each instant, a random `owner` record created by then (records are sorted by creation)."""
        created = self.r[owner].created
        known = np.searchsorted(created, at_ms, side="right")
        idx = (self.rng.random(len(at_ms)) * np.maximum(known, 1)).astype(np.int64)
        return idx, np.maximum(at_ms, created[idx])

    def _referenced(self) -> dict[str, np.ndarray]:
        marks = {obj: np.zeros(rec.n, dtype=bool) for obj, rec in self.r.items()}
        for rec in self.r.values():
            for parent, idx in rec.parents.values():
                marks[parent][idx[idx >= 0]] = True
        return marks


def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """values[idx], null where idx is -1 (strings as a dictionary array over `values`: ids are not copied)."""
    return compact.dictionary(idx, values)


def segment_bounds(v: Versions) -> tuple[np.ndarray, np.ndarray]:
    """(valid_from, valid_to): a row is visible from its own time until the next version of its record."""
    valid_to = np.full(len(v), INF_MS, dtype=np.int64)
    same_next = v.rec[1:] == v.rec[:-1]
    valid_to[:-1][same_next] = v.time[1:][same_next]
    return v.time.astype(np.int64), valid_to


def emit(values: Values, rec: Records, v: Versions, fields: list[Field]) -> Generated:
    """Expand `rec` into the version rows `v`; fields the generator did not set get plausible defaults.

    Rows come in (UpdatedDate, Id) order, as a segment keeps them (so it needs no sorted copy), and columns
    are stored compactly (`compact`); each record-level column is let go once expanded.
    """
    order = _by_updated_and_id(rec, v)
    expansion = _Expansion(values, rec, v, order)
    columns = {f.name: expansion.column(f) for f in fields}
    columns[DELETED] = col.booleans(v.deleted[order])
    valid_from, valid_to = segment_bounds(v)
    return Generated(pa.table(columns), valid_from[order], valid_to[order])


def _by_updated_and_id(rec: Records, v: Versions) -> np.ndarray:
    """The version rows in (UpdatedDate, Id) order: the stable sort `versions.Segment.of` would do."""
    id_rank = np.empty(rec.n, dtype=np.int64)
    id_rank[pc.sort_indices(rec.ids).to_numpy()] = np.arange(rec.n)
    return np.lexsort((id_rank[v.rec], v.time))


class _Expansion:
    """Turns one model's record-level columns into version-level columns, in the rows' `order`.

    Random values drawn per version row are drawn in the versions' own order, then placed (as before).
    """

    def __init__(self, values: Values, rec: Records, versions: Versions, order: np.ndarray):
        self.values, self.rec, self.v, self.order = values, rec, versions, order
        self.model = model(rec.object)
        narrow = np.int32 if len(versions) < 2**31 else np.int64  # row numbers: half the memory of int64
        self.rows = pa.array(versions.rec[order].astype(narrow))  # the record of each version row
        self.source = pa.array(versions.value_source()[order].astype(narrow))  # the row whose mutable values it shows
        self.created_rows = rec.created[versions.rec]
        self.mutable = set(pools.MUTABLE.get(rec.object, ()))
        self.creators = col.picked(values.rng, pools.USERS, rec.n)

    def column(self, f: Field) -> pa.Array:
        rec, v = self.rec, self.v
        if f.name == "Id":
            return rec.ids.take(self.rows)
        if f.name == "CreatedDate":  # (UpdatedDate stays plain: a segment reads it as its index)
            return compact.compact(col.timestamps(self.created_rows[self.order]))
        if f.name == "UpdatedDate":
            return col.timestamps(v.time[self.order])
        if f.name == "CreatedById":
            return self.creators.take(self.rows)
        if f.name == "UpdatedById":
            return col.picked(self.values.rng, pools.USERS, len(v)).take(self.source)
        if f.name in rec.version_cols:
            return compact.compact(rec.version_cols[f.name]).take(pa.array(self.order))
        if f.name in self.mutable and f.name not in rec.cols:
            return compact.compact(self.values.default(self.model, f, self.created_rows)).take(self.source)
        values = rec.cols.pop(f.name, None)
        if values is None:
            values = self.values.default(self.model, f, rec.created)
        return compact.compact(values).take(self.rows)
