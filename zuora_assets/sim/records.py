"""Record-level data of generated models, and its expansion into version rows (one row per change)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from zuora_assets.sim import columns as col
from zuora_assets.sim import pools
from zuora_assets.sim.timeline import Versions
from zuora_assets.sim.values import Values
from zuora_assets.zuora.catalog import Field, model

INF_MS = np.iinfo(np.int64).max
DELETED = "_deleted"


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


def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """values[idx], null where idx is -1."""
    return values.take(pa.array(idx.astype(np.int64), mask=idx < 0))


def segment_bounds(v: Versions) -> tuple[np.ndarray, np.ndarray]:
    """(valid_from, valid_to): a row is visible from its own time until the next version of its record."""
    valid_to = np.full(len(v), INF_MS, dtype=np.int64)
    same_next = v.rec[1:] == v.rec[:-1]
    valid_to[:-1][same_next] = v.time[1:][same_next]
    return v.time.astype(np.int64), valid_to


def emit(values: Values, rec: Records, v: Versions, fields: list[Field]) -> Generated:
    """Expand `rec` into the version rows `v`; fields the generator did not set get plausible defaults."""
    expansion = _Expansion(values, rec, v)
    columns = {f.name: expansion.column(f) for f in fields}
    columns[DELETED] = col.booleans(v.deleted)
    valid_from, valid_to = segment_bounds(v)
    return Generated(pa.table(columns), valid_from, valid_to)


class _Expansion:
    """Turns one model's record-level columns into version-level columns."""

    def __init__(self, values: Values, rec: Records, versions: Versions):
        self.values, self.rec, self.v = values, rec, versions
        self.model = model(rec.object)
        self.rows = pa.array(versions.rec)  # the record of each version row
        self.source = pa.array(versions.value_source())  # the row whose mutable values a row shows
        self.created_rows = rec.created[versions.rec]
        self.mutable = set(pools.MUTABLE.get(rec.object, ()))
        self.creators = col.pick(values.rng, pools.USERS, rec.n)

    def column(self, f: Field) -> pa.Array:
        rec, v = self.rec, self.v
        if f.name == "Id":
            return rec.ids.take(self.rows)
        if f.name in ("CreatedDate", "UpdatedDate"):
            return col.timestamps(self.created_rows if f.name == "CreatedDate" else v.time)
        if f.name == "CreatedById":
            return self.creators.take(self.rows)
        if f.name == "UpdatedById":
            return col.pick(self.values.rng, pools.USERS, len(v)).take(self.source)
        if f.name in rec.version_cols:
            return rec.version_cols[f.name]
        if f.name in self.mutable and f.name not in rec.cols:
            return self.values.default(self.model, f, self.created_rows).take(self.source)
        if f.name not in rec.cols:
            rec.cols[f.name] = self.values.default(self.model, f, rec.created)
        return rec.cols[f.name].take(self.rows)
