"""One simulated tenant (one entity): its generated data in a ModelStore per model, and changes to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import columns as col
from zuora_assets.sim import tz
from zuora_assets.sim.config import SimConfig, check_custom_field
from zuora_assets.sim.generate import TenantGenerator
from zuora_assets.sim.records import MODEL_TAGS
from zuora_assets.sim.store import Change, ModelStore
from zuora_assets.sim.timeline import Clock
from zuora_assets.sim.versions import DELETED, Segment
from zuora_assets.zuora.catalog import MODELS, Field, model

FIRST_NEW_ROW = 1 << 36  # row numbers of records created after generation (generated rows count from 0)
SIM_USER = "2c92a0fd4b1f6e3a014b2e6f1d3c0999"


class Tenant:
    """The records of one entity; every read is "as of" an instant (epoch ms) given by the caller."""

    def __init__(self, config: SimConfig, index: int, entity_id: str | None, now_ms: int):
        self.index = index
        self.entity_id = entity_id
        self.tenant_tz = config.tenant_tz
        custom = {model(obj).object: [Field(name, ztype, custom=True) for name, ztype in fields]
                  for obj, fields in config.custom_fields.items()}
        start = now_ms - config.days * tz.DAY_MS
        clock = Clock(start, now_ms, tz.midnights(start, now_ms, tz.PACIFIC))
        generated = TenantGenerator(seed=config.seed, entity=index, accounts=config.accounts, days=config.days,
                                    now_ms=now_ms, invoice_items=config.invoice_items, custom_fields=custom,
                                    clock=clock).generate()
        self.stores = {m.object: ModelStore(m, custom.get(m.object, []),
                                            [Segment.of(g.table, g.valid_from, g.valid_to)])
                       for m in MODELS.values() for g in [generated[m.object]]}
        self.rng = np.random.default_rng([config.seed, index, 7919])
        self._next_row = dict.fromkeys(self.stores, FIRST_NEW_ROW)
        for obj, n, at in config.bursts:
            self.burst(obj, n, tz.to_ms(at) if at else now_ms - 3_600_000, lag_ms=0)
        for store in self.stores.values():
            store.mark_initial()

    def store(self, name: str) -> ModelStore:
        """The store of a model given by name (`invoice_item`) or object (`InvoiceItem`)."""
        return self.stores[model(name).object]

    def new_ids(self, obj: str, n: int, ordered: bool = False) -> pa.Array:
        """`n` new unique ids of `obj` (ascending if `ordered`)."""
        first = self._next_row[obj]
        self._next_row[obj] = first + n
        return col.hex_ids(self.rng, self.index * 32 + MODEL_TAGS[obj], first, n, ordered)

    def truth(self, name: str, start_ms: int, end_ms: int, at_ms: int) -> pa.Table:
        """What a perfect export of window [start, end) at `at_ms` contains, typed and named per the catalog."""
        store = self.store(name)
        rows = store.rows(at_ms, deleted=True, span=(start_ms, end_ms))
        schema = store.model.arrow_schema(rows.fields)
        ids = rows.columns(["Id"]).column("Id")
        return rows.take(pc.sort_indices(ids).to_numpy()).table().rename_columns(schema.names).cast(schema)

    def upsert(self, obj: str, record: Mapping[str, Any], at_ms: int, lag_ms: int) -> dict:
        store = self.store(obj)
        change = Change(at_ms - at_ms % 1000, at_ms - at_ms % 1000 + lag_ms, SIM_USER)
        return store.upsert(record, change, lambda: self.new_ids(store.model.object, 1)[0].as_py())

    def delete(self, obj: str, rid: str, at_ms: int, lag_ms: int) -> dict:
        return self.store(obj).delete(rid, Change(at_ms - at_ms % 1000, at_ms - at_ms % 1000 + lag_ms, SIM_USER))

    def silent_change(self, obj: str, rid: str, record: Mapping[str, Any], at_ms: int, lag_ms: int) -> dict:
        return self.store(obj).silent_change(rid, record, at_ms + lag_ms)

    def recreate(self, obj: str, rid: str, record: Mapping[str, Any], at_ms: int, lag_ms: int) -> dict:
        at = at_ms - at_ms % 1000
        return self.store(obj).recreate(rid, record, Change(at, at + lag_ms, SIM_USER))

    def burst(self, obj: str, n: int, at_ms: int, lag_ms: int) -> int:
        """Add `n` new records of `obj` all updated in the same second `at_ms` (copies of live records)."""
        store = self.store(obj)
        if n < 1:
            raise ValueError(f"burst of {store.model.object}: n is {n}; give at least 1 record")
        at_ms -= at_ms % 1000
        rows = store.sample(at_ms, n, self.rng)
        stamp = pa.array(np.full(n, at_ms), type=pa.int64()).cast(pa.timestamp("ms"))
        user = pa.repeat(pa.scalar(SIM_USER), n)
        replaced = {"Id": self.new_ids(store.model.object, n, ordered=True), "CreatedDate": stamp,
                    "UpdatedDate": stamp, "CreatedById": user, "UpdatedById": user,
                    DELETED: pa.array(np.zeros(n, dtype=bool))}
        for name, values in replaced.items():
            rows = rows.set_column(rows.column_names.index(name), name, values)
        store.append(rows, at_ms + lag_ms)
        return n

    def add_field(self, obj: str, name: str, ztype: str) -> Field:
        check_custom_field(model(obj).object, name, ztype)
        return self.store(obj).add_field(name, ztype)

    def remove_field(self, obj: str, name: str) -> None:
        self.store(obj).remove_field(name)

    def reset(self) -> None:
        for store in self.stores.values():
            store.reset()
