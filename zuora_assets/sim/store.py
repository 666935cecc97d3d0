"""Columnar version store of one model: what is visible at an instant, and upserts, deletes and field drift.

Versions live in immutable segments (`versions.Segment`: an Arrow table plus numpy arrays `valid_from` /
`valid_to`, epoch ms, and an UpdatedDate index). A row is visible at T when valid_from <= T < valid_to.
A tombstone row (`_deleted`) is visible, as a deletion, for 30 days after its UpdatedDate. Writers
replace segments copy-on-write under a lock, so readers never lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz
from zuora_assets.sim.versions import DELETED, INF_MS, Rows, Segment, Span, conform
from zuora_assets.zuora.catalog import Field, ZuoraModel


@dataclass(frozen=True)
class Change:
    """When a control-plane change happens (its UpdatedDate), when it becomes visible, and who made it."""

    at_ms: int
    visible_ms: int
    user: str


class ModelStore:
    """Every version of one model's records, and the fields the tenant currently exports for it."""

    def __init__(self, model: ZuoraModel, custom: list[Field], segments: list[Segment]):
        self.model = model
        self.known: dict[str, Field] = {f.name: f for f in [*model.fields, *custom]}
        self.exported: list[str] = list(self.known)
        self.segments = segments
        self._lock = threading.Lock()
        self._initial = (dict(self.known), list(self.exported), list(segments))

    # ----- schema -----

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields the tenant exports now (catalog fields, plus custom fields added, minus fields removed)."""
        return tuple(self.known[name] for name in self.exported)

    def lookup(self) -> dict[str, Field]:
        """Exported fields by lower-case name (Zuora names are case-insensitive)."""
        return {f.name.lower(): f for f in self.fields}

    def add_field(self, name: str, ztype: str) -> Field:
        """Add a custom field (existing records have no value for it); re-adding a removed field restores it."""
        with self._lock:
            known = self.known.get(name)
            if known is not None and name in self.exported:
                raise ValueError(f"{self.model.object}.{name} already exists; pick another custom field name")
            f = known or Field(name, ztype, custom=True)
            self.known[name] = f
            self.exported = [*self.exported, name]
            return f

    def remove_field(self, name: str) -> None:
        """Stop exporting a field: describe drops it and queries selecting it fail with 90005."""
        with self._lock:
            f = self.lookup().get(name.lower())
            if f is None or f.name in ("Id", "UpdatedDate", "CreatedDate"):
                raise ValueError(f"{self.model.object}.{name}: not a removable exported field "
                                 f"(exported: {', '.join(self.exported)})")
            self.exported = [n for n in self.exported if n != f.name]

    # ----- reading -----

    def rows(self, at_ms: int, deleted: bool, span: Span | None = None) -> Rows:
        """Rows visible at `at_ms` (tombstones too when `deleted`), only UpdatedDate in `span` when given.

        They are read with the fields exported now and come segment by segment, each in (UpdatedDate, Id) order.
        """
        return Rows.visible(self.segments, self.fields, at_ms, deleted, span)

    def state(self, at_ms: int, deleted: bool) -> pa.Table:
        """Rows visible at `at_ms` (tombstones too when `deleted`), columns = exported fields + `_deleted`."""
        return self.rows(at_ms, deleted).table()

    def sample(self, at_ms: int, n: int, rng: np.random.Generator) -> pa.Table:
        """`n` live records (with repetition), all known fields, to serve as templates."""
        live = Rows.visible(self.segments, tuple(self.known.values()), at_ms, deleted=False)
        if len(live) == 0:
            raise ValueError(f"{self.model.object}: no live records to copy; upsert one first")
        return live.take(rng.integers(0, len(live), size=n)).table()

    # ----- writing -----

    def upsert(self, record: Mapping[str, Any], change: Change, new_id: Callable[[], str]) -> dict:
        """Create or update one record (UpdatedDate = the change time); returns the full record."""
        values = self.coerce(record)
        with self._lock:
            rid = values.get("Id")
            current = self._open_version(rid) if rid else None
            if current is None:
                row = {name: None for name in self.known} | {
                    "Id": rid or new_id(), "CreatedDate": change.at_ms, "CreatedById": change.user}
            else:
                row = self._row(*current)
                if row[DELETED]:
                    raise ValueError(f"{self.model.object} {rid} was deleted; a deleted record cannot be updated")
            row.update(UpdatedById=change.user)
            row.update(values)
            row.update(UpdatedDate=change.at_ms, **{DELETED: False})
            self._add_version(row, change.visible_ms, current)
        return jsonable({k: v for k, v in row.items() if k in self.exported}, self.known)

    def delete(self, rid: str, change: Change) -> dict:
        """Soft-delete a record: a tombstone with the record's last values, UpdatedDate = the change time."""
        with self._lock:
            current = self._open_version(rid)
            if current is None or self._row(*current)[DELETED]:
                raise KeyError(f"{self.model.object} has no live record with Id {rid!r}")
            row = self._row(*current)
            row.update(UpdatedDate=change.at_ms, UpdatedById=change.user, **{DELETED: True})
            self._add_version(row, change.visible_ms, current)
        return jsonable({k: v for k, v in row.items() if k in self.exported}, self.known)

    def silent_change(self, rid: str, record: Mapping[str, Any], visible_ms: int) -> dict:
        """Change fields Zuora maintains itself (a balance after a payment elsewhere) as Zuora does: a new version
        with the same UpdatedDate and UpdatedById, so an incremental export by UpdatedDate never sees it. Only the
        model's silent fields (catalog `silent`) change this way."""
        values = self.coerce(record)
        loud = sorted(set(values) - set(self.model.silent_fields))
        if loud or not values:
            raise ValueError(f"{self.model.object}: {', '.join(loud) or 'no field'} given; only fields Zuora changes "
                             f"without UpdatedDate change silently: {', '.join(self.model.silent_fields) or 'none'}")
        with self._lock:
            current = self._open_version(rid)
            if current is None or self._row(*current)[DELETED]:
                raise KeyError(f"{self.model.object} has no live record with Id {rid!r}")
            row = self._row(*current)
            row.update(values)
            self._add_version(row, visible_ms, current)
        return jsonable({k: v for k, v in row.items() if k in self.exported}, self.known)

    def recreate(self, rid: str, record: Mapping[str, Any], change: Change) -> dict:
        """Bring a deleted record back under its Id (a restore from a backup, or a test of ids that reappear):
        a new live version with the tombstone's last values and `record`, UpdatedDate = the change time."""
        values = self.coerce(record)
        with self._lock:
            current = self._open_version(rid)
            if current is None or not self._row(*current)[DELETED]:
                raise KeyError(f"{self.model.object} has no deleted record with Id {rid!r} to re-create")
            row = self._row(*current)
            row.update(values)
            row.update(UpdatedDate=change.at_ms, UpdatedById=change.user, **{DELETED: False})
            self._add_version(row, change.visible_ms, current)
        return jsonable({k: v for k, v in row.items() if k in self.exported}, self.known)

    def append(self, table: pa.Table, visible_ms: int) -> None:
        """Add new records (a burst); `table` has Zuora field columns and `_deleted`."""
        with self._lock:
            self.segments = [*self.segments, Segment.of(table, np.full(table.num_rows, visible_ms, dtype=np.int64))]

    def mark_initial(self) -> None:
        """Make the current data and fields what `reset()` returns to."""
        with self._lock:
            self._initial = (dict(self.known), list(self.exported), list(self.segments))

    def reset(self) -> None:
        with self._lock:
            known, exported, segments = self._initial
            self.known, self.exported, self.segments = dict(known), list(exported), list(segments)

    def _open_version(self, rid: str) -> tuple[int, int] | None:
        for i, seg in enumerate(self.segments):
            hits = np.flatnonzero(pc.equal(seg.table.column("Id"), rid).to_numpy(zero_copy_only=False)
                                  & (seg.valid_to == INF_MS))
            if len(hits):
                return i, int(hits[0])
        return None

    def _row(self, seg_index: int, row: int) -> dict:
        table = conform(self.segments[seg_index].table.slice(row, 1), tuple(self.known.values()))
        values = table.to_pylist()[0]
        for name in ("CreatedDate", "UpdatedDate"):
            values[name] = tz.to_ms(values[name]) if values[name] is not None else None
        return values

    def _add_version(self, row: dict, visible_ms: int, current: tuple[int, int] | None) -> None:
        segments = list(self.segments)
        if current is not None:
            seg_index, r = current
            segments[seg_index] = segments[seg_index].ending(r, visible_ms)
        segments.append(Segment.of(_one_row(row, tuple(self.known.values())), np.array([visible_ms])))
        self.segments = segments

    # ----- values -----

    def coerce(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Record values keyed by canonical field names, converted to the fields' types (datetimes as ms)."""
        by_lower = {f.name.lower(): f for f in self.known.values()}
        out = {}
        for key, value in record.items():
            f = by_lower.get(key.lower())
            if f is None or f.name not in self.exported:
                raise ValueError(f"{self.model.object} has no field {key!r}; fields: {', '.join(self.exported)}")
            try:
                out[f.name] = convert(value, f.type)
            except (TypeError, ValueError, InvalidOperation) as e:
                raise ValueError(f"{self.model.object}.{f.name}: cannot use {value!r} as {f.type} ({e})") from e
        return out


def convert(value: Any, ztype: str) -> Any:
    """A JSON-ish value as the Python value stored for a Zuora type (datetime -> epoch ms, "" -> None)."""
    if value is None or value == "":
        return None
    if ztype == "integer":
        return int(value)
    if ztype == "decimal":
        return _decimal(value)
    if ztype == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if ztype == "date":
        return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(
            str(value)[:10])
    if ztype == "datetime":
        if isinstance(value, datetime):
            return tz.to_ms(value.replace(microsecond=0))
        return tz.parse_literal(str(value).replace(" ", "T"), "UTC").start  # no offset = UTC
    return str(value)


DECIMAL_PLACES, DECIMAL_DIGITS = 9, 38  # the lake's decimal(38, 9): 29 digits before the point, 9 after


def _decimal(value: Any) -> Decimal:
    """A decimal value, exactly, as long as it fits decimal(38, 9) (Python's default context would round at 28
    digits, and refuse to quantize beyond them)."""
    with localcontext(prec=DECIMAL_DIGITS + 30):
        d = Decimal(str(value))
        if not d.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        q = d.quantize(Decimal(1).scaleb(-DECIMAL_PLACES))
    if q != d:
        raise ValueError(f"{value!r} has more than {DECIMAL_PLACES} decimal places")
    if len(q.as_tuple().digits) > DECIMAL_DIGITS:
        raise ValueError(f"{value!r} has more than {DECIMAL_DIGITS - DECIMAL_PLACES} digits before the point")
    return q


def jsonable(row: Mapping[str, Any], fields: Mapping[str, Field]) -> dict:
    """A stored row as JSON values: ISO `...Z` datetimes, ISO dates, decimals as strings."""
    out = {}
    for name, value in row.items():
        ztype = fields[name].type if name in fields else "text"
        if value is None:
            out[name] = None
        elif ztype == "datetime":
            out[name] = tz.iso_z(value if isinstance(value, int) else tz.to_ms(value))
        elif ztype == "date":
            out[name] = value.isoformat()
        elif ztype == "decimal":
            with localcontext(prec=DECIMAL_DIGITS + 30):
                out[name] = format(value.normalize(), "f")
        else:
            out[name] = value
    return out


def _arrow_value(value: Any, f: Field) -> Any:
    if f.type == "datetime" and isinstance(value, int):
        return tz.from_ms(value).replace(tzinfo=None)
    return value


def _one_row(row: Mapping[str, Any], fields: tuple[Field, ...]) -> pa.Table:
    columns = {f.name: pa.array([_arrow_value(row.get(f.name), f)], type=f.arrow_type) for f in fields}
    columns[DELETED] = pa.array([bool(row.get(DELETED))])
    return pa.table(columns)
