"""Plausible field values for generated records: by pool, by picklist, by type, with nulls and rare CSV hazards."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from zuora_assets.sim import columns as col
from zuora_assets.sim import compact, pools
from zuora_assets.sim.timeline import DAY_MS, Clock
from zuora_assets.zuora.catalog import Field, ZuoraModel, model

# Share of null values of an optional field that no pool or NULL_RATES entry describes: real tenants leave
# most optional fields empty on some records (e.g. tax exemption details, secondary phone numbers).
OPTIONAL_NULL_RATE = 0.3
REFERENCE_IDS = 4  # distinct ids of an `...Id` field that points at an object the catalog does not model


def hazard_field(m: ZuoraModel) -> str | None:
    """The free-text field of `m` that carries every kind of hazard at least once (None: no free text)."""
    names = {f.name for f in m.fields if f.type == "text"}
    return next((name for name in pools.FREE_TEXT if name in names), None)


class Values:
    """Makes columns of values for the records of one tenant (one random stream, one history span)."""

    def __init__(self, rng: np.random.Generator, clock: Clock, tag: int):
        self.rng, self.clock, self.tag = rng, clock, tag
        self._reference_ids: dict[str, pa.Array] = {}

    def default(self, m: ZuoraModel, f: Field, created: np.ndarray) -> pa.Array:
        """A plausible value of field `f` of model `m` for records created at `created`.

        Foreign keys the generator did not set are null (never an Id of nothing). Fields that Zuora always
        fills are never null; optional ones are null at their NULL_RATES share (or OPTIONAL_NULL_RATE).
        """
        n = len(created)
        if f.name in m.foreign_keys:
            return pa.nulls(n, pa.string())
        values = self._typed(m.object, f, created, n)
        rate = pools.lookup(pools.NULL_RATES, m.object, f.name, OPTIONAL_NULL_RATE) if f.nullable else 0.0
        return col.with_nulls(self.rng, values, rate)

    def _typed(self, obj: str, f: Field, created: np.ndarray, n: int) -> pa.Array:
        rng, t = self.rng, f.type
        if t in ("text", "picklist"):
            return self._text(obj, f, n)
        if t == "integer":
            return col.integers(rng.integers(0, 13, size=n))
        if t == "decimal":
            places = pools.lookup(pools.DECIMAL_PLACES, obj, f.name, 2)
            return compact.scaled(rng.integers(0, 10 ** min(places + 4, 13), size=n), places)
        if t == "boolean":
            return col.booleans(rng.random(n) < 0.5)
        if t == "date":
            return col.dates(created + rng.integers(-30, 60, size=n) * DAY_MS)
        return col.timestamps(self.clock.values_after(rng, created, 3 * DAY_MS))

    def _text(self, obj: str, f: Field, n: int) -> pa.Array:
        pool = pools.lookup(pools.PICKLISTS, obj, f.name) or pools.lookup(pools.TEXT_POOLS, obj, f.name)
        if not pool and f.type == "picklist":
            pool = model(obj).options.get(f.name) if not f.custom else None
            pool = pool or ("Option A", "Option B", "Option C")
        if pool:
            values = col.pick(self.rng, pool, n)
            if f.type == "text" and f.name in pools.FREE_TEXT:
                return self.hazards(values, floor=f.name == hazard_field(model(obj)))
            return values
        if f.name.endswith("Id") or f.name.endswith("ID"):
            return self.reference_ids(f.name).take(pa.array(self.rng.integers(0, REFERENCE_IDS, size=n)))
        prefix = pools.lookup(pools.NUMBER_PREFIXES, obj, f.name, f"{f.name}-")
        return compact.numbered(prefix, self.rng.integers(1, 10**8, size=n))  # served as col.numbered writes them

    def reference_ids(self, name: str) -> pa.Array:
        """A few 32-hex ids of an object outside the catalog (a template, a sequence set, a user, ...)."""
        if name not in self._reference_ids:
            tag = (self.tag * 1009 + sum(map(ord, name))) % (1 << 20) + (1 << 20)
            self._reference_ids[name] = col.hex_ids(self.rng, tag, 0, REFERENCE_IDS)
        return self._reference_ids[name]

    def hazards(self, values: pa.Array, floor: bool = False) -> pa.Array:
        """`values` with each kind of CSV hazard (pools.HAZARDS) replacing about its share of the values.

        With `floor`, every kind lands at least once (so a small tenant has them too).
        """
        n = len(values)
        if n == 0:
            return values
        out = values.to_numpy(zero_copy_only=False).astype(object)
        for kind_values, rate in pools.HAZARDS.values():
            k = int(self.rng.binomial(n, rate))
            k = max(k, 1) if floor else k
            at = self.rng.choice(n, size=min(k, n), replace=False)
            out[at] = np.array(kind_values, dtype=object)[self.rng.integers(0, len(kind_values), size=len(at))]
        return pa.array(out, type=pa.string())

    def money(self, n: int, low: float = 1, high: float = 5000) -> pa.Array:
        return col.decimals(self.rng.integers(int(low * 100), int(high * 100), size=n), 2)

    def numbers(self, obj: str, name: str, n: int) -> pa.Array:
        """Strings like `INV00000042`, numbered 1..n."""
        return col.numbered(pools.lookup(pools.NUMBER_PREFIXES, obj, name, f"{name}-"), np.arange(1, n + 1))

    @staticmethod
    def days_after(ms: np.ndarray, days: int) -> pa.Array:
        return col.dates(ms + days * DAY_MS)
