"""Export ZOQL joins: what a tenant's objects and joined objects are, and the joined fields of chosen rows.

A data source joins related objects (docs.zuora.com .../export-zoql: "the Invoice Item data source provides
every Invoice Item object ... along with related Account, Contact, Invoice, Product, Rate Plan, and
Subscription objects"). A joined field is read through the chain of foreign keys the catalog declares
(`BillToContact` on InvoiceItem: AccountId, then the account's BillToId), from the related records live at
the query's snapshot; a missing or deleted related record gives nulls (the data source is an outer join).
Incremental queries filter on the queried object's UpdatedDate only, so joined values can be stale
(reference/zuora_api.md 3.5, S31).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim.plan import Column, ZoqlError
from zuora_assets.sim.tenant import Tenant
from zuora_assets.zuora.catalog import Field, model


class TenantSchema:
    """The objects, exported fields and joins of one tenant, as the ZOQL parser asks for them."""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant

    def object(self, name: str) -> tuple[str, dict[str, Field]]:
        try:
            store = self.tenant.store(name)
        except KeyError as e:
            raise ZoqlError(f"There is no object named {name}") from e
        return store.model.object, store.lookup()

    def join(self, obj: str, name: str) -> tuple[str, tuple[str, ...], dict[str, Field]] | None:
        m = model(obj)
        canonical = next((j for j in m.joins if j.lower() == name.lower()), None)
        if canonical is None:
            return None
        chain = m.joins[canonical]
        target = m
        for hop in chain:
            target = model(target.foreign_keys[hop])
        return canonical, chain, self.tenant.store(target.object).lookup()


class Joiner:
    """Adds joined columns to tables of one object's rows, reading related records as of `at_ms`."""

    def __init__(self, tenant: Tenant, obj: str, at_ms: int):
        self.tenant, self.model, self.at_ms = tenant, model(obj), at_ms
        self._live: dict[str, pa.Table] = {}

    def __call__(self, table: pa.Table, columns: tuple[Column, ...]) -> pa.Table:
        """`table` (holding each column's first foreign key) plus every joined column, named by `Column.source`."""
        for c in columns:
            if c.source not in table.column_names:
                table = table.append_column(c.source, self.values(table.column(c.join[0]), c.join, c.field))
        return table

    def values(self, keys: pa.ChunkedArray | pa.Array, chain: tuple[str, ...], f: Field) -> pa.Array:
        """The values of field `f` of the records reached from `keys` (the first hop's foreign keys)."""
        current = self.model
        for i, hop in enumerate(chain):
            target = model(current.foreign_keys[hop])
            live = self.live(target.object)
            at = pc.index_in(keys, value_set=live.column("Id"))
            name = chain[i + 1] if i + 1 < len(chain) else f.name
            if name not in live.column_names:
                return pa.nulls(len(keys), f.arrow_type)
            keys = live.column(name).take(at)
            current = target
        return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys

    def live(self, obj: str) -> pa.Table:
        """The live records of `obj` at the snapshot (cached for this joiner)."""
        if obj not in self._live:
            self._live[obj] = self.tenant.store(obj).state(self.at_ms, deleted=False)
        return self._live[obj]
