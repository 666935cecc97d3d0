"""The simulator's compact storage gives back every value as served: round trips of each encoding, and a tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from zuora_assets.sim import SimConfig, Simulator, columns
from zuora_assets.sim.compact import Numbered, compact, dictionary, expand, numbered, scaled
from zuora_assets.zuora.catalog import model

DEC = pa.decimal128(38, 9)


def served(stored: pa.Array, served_type: pa.DataType) -> pa.Array:
    return expand(pa.chunked_array([stored]), served_type).combine_chunks()


@pytest.mark.parametrize("values, served_type", [
    (["a", None, "b", "a"] * 3000, pa.string()),
    ([f"2c92{i % 7:028x}" for i in range(5000)], pa.string()),
    ([datetime(2024, 1, 1 + i % 3) for i in range(5000)] + [None], pa.timestamp("ms")),
    ([Decimal("-12.345"), None, Decimal("99999999.999999999"), Decimal(0)] * 10, DEC),
    ([f"BookingReference-{i * 7919 % 10**8:08d}" for i in range(5000)] + [None, "BookingReference-123456789"],
     pa.string()),
])
def test_compact_values_are_served_unchanged(values, served_type):
    original = pa.array(values, type=served_type)
    stored = compact(original)
    assert stored.type != served_type  # each of these has a compact form
    assert served(stored, served_type).equals(original)
    assert served(stored.slice(3, 20), served_type).equals(original.slice(3, 20))


@pytest.mark.parametrize("values, served_type", [
    ([f"{i:032x}" for i in range(5000)], pa.string()),  # all distinct
    ([f"A-{i:07d}x" for i in range(5000)], pa.string()),  # not a prefix and a number
    ([f"A-{i:07d}" for i in range(5000)], pa.string()),  # 7 digits: not written as columns.numbered writes
    ([Decimal("12345678901.5")] * 40, DEC),  # beyond an int64 count of 10**-9
])
def test_values_without_a_compact_form_stay_as_they_are(values, served_type):
    original = pa.array(values, type=served_type)
    assert compact(original) is original


def test_generation_helpers_write_what_the_plain_builders_write():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    numbers = np.array([1, 42, 99_999_999, 123_456_789])
    assert served(numbered("INV", numbers), pa.string()).equals(columns.numbered("INV", numbers))
    assert served(scaled(numbers, 4), DEC).equals(columns.decimals(numbers, 4))
    pool = ("x", "y", "z")
    assert served(columns.picked(rng_a, pool, 50), pa.string()).equals(columns.pick(rng_b, pool, 50))
    ids = pa.array(["p", "q", "r"])
    idx = np.array([2, -1, 0, 0])
    assert served(dictionary(idx, ids), pa.string()).to_pylist() == ["r", None, "p", "p"]
    assert served(dictionary(np.array([1, 0]), dictionary(idx, ids)), pa.string()).to_pylist() == [None, "r"]


def test_a_generated_tenant_is_stored_compactly_and_read_with_its_catalog_types():
    with Simulator(SimConfig(seed=2, accounts=30, days=20, now=datetime(2024, 6, 1, tzinfo=UTC),
                             invoice_items=20_000, clock_follows_wall=False)) as sim:
        store = sim.tenants[0].store("InvoiceItem")
        stored = store.segments[0].table.schema
        assert pa.types.is_dictionary(stored.field("AccountId").type)
        assert isinstance(stored.field("BookingReference").type, Numbered)
        assert stored.field("UnitPrice").type == pa.int64()
        state = store.state(sim.clock_ms(), deleted=True)
        assert [state.schema.field(f.name).type for f in store.fields] == [f.arrow_type for f in store.fields]
        assert state.num_rows >= 20_000 and state.column("Id").null_count == 0
        assert {f.name for f in model("InvoiceItem").fields} <= set(state.column_names)
