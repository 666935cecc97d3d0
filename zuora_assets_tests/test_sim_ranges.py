"""The simulator's shortcuts never change an export: UpdatedDate range pruning and snapshots kept as row picks.

Queries run only on the rows of the UpdatedDate range their condition implies, and a job keeps the rows it
chose (not a copy) until it writes their file. Each test compares an export with the same condition evaluated in
Python over the simulator's truth of all time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow.compute as pc
import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests.sim_support import NOW, PACIFIC, Zuora, parse_datetime, read_csv

ALL_TIME = (NOW - timedelta(days=400), NOW + timedelta(days=1))


@pytest.fixture(scope="module")
def module_sim():
    with Simulator(SimConfig(seed=5, accounts=12, days=10, now=NOW, clock_follows_wall=False)) as sim:
        yield sim


@pytest.fixture
def sim(module_sim):
    module_sim.reset()
    yield module_sim
    module_sim.reset()


@pytest.fixture
def zuora(sim):
    return Zuora(sim.base_url)


def _records(sim: Simulator) -> list[tuple[str, datetime]]:
    """(id, updated_date as naive UTC) of every invoice item version an export can return now."""
    truth = sim.truth("invoice_item", *ALL_TIME)
    return list(zip(truth.column("id").to_pylist(), truth.column("updated_date").to_pylist(), strict=True))


def _bounds(sim: Simulator) -> tuple[datetime, datetime]:
    """Two UpdatedDate values that several records share (so both boundaries are exercised)."""
    updated = sim.truth("invoice_item", *ALL_TIME).column("updated_date")
    counts = pc.value_counts(updated)
    shared = sorted(v["values"].as_py() for v in counts if v["counts"].as_py() > 1)
    assert len(shared) >= 2, "the test tenant needs UpdatedDate values shared by several records"
    return shared[len(shared) // 3], shared[2 * len(shared) // 3]


def _literal(dt: datetime) -> str:
    return "'" + dt.strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def _exported_ids(zuora: Zuora, where: str, tail: str = "") -> list[str]:
    _, rows = read_csv(zuora.export_text(f"select Id from InvoiceItem where {where}{tail}"))
    return [row[0] for row in rows]


CONDITIONS = {
    "half-open window": ("UpdatedDate >= {a} and UpdatedDate < {b}", lambda u, a, b: a <= u < b),
    "open-closed window": ("UpdatedDate > {a} and UpdatedDate <= {b}", lambda u, a, b: a < u <= b),
    "outside the window": ("UpdatedDate < {a} or UpdatedDate >= {b}", lambda u, a, b: u < a or u >= b),
    "negated bound": ("not (UpdatedDate >= {a})", lambda u, a, b: u < a),
    "equal to an instant": ("UpdatedDate = {a}", lambda u, a, b: u == a),
    "not equal": ("UpdatedDate != {a} and UpdatedDate <= {b}", lambda u, a, b: u != a and u <= b),
    "bounds on both sides of an or": ("(UpdatedDate < {a} and UpdatedDate >= {a}) or UpdatedDate = {b}",
                                      lambda u, a, b: u == b),
}


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_updated_date_conditions_return_exactly_the_matching_records(sim, zuora, name):
    template, keep = CONDITIONS[name]
    a, b = _bounds(sim)
    expected = sorted(rid for rid, updated in _records(sim) if keep(updated, a, b))
    assert expected, f"{name}: the condition should match some records"
    got = _exported_ids(zuora, template.format(a=_literal(a), b=_literal(b)))
    assert sorted(got) == expected


def _local_day(updated: datetime) -> date:
    return updated.replace(tzinfo=UTC).astimezone(PACIFIC).date()


def test_a_tenant_day_literal_alone_and_or_an_id_outside_that_day(sim, zuora):
    a, _ = _bounds(sim)
    day, records = _local_day(a), _records(sim)
    in_day = sorted(rid for rid, updated in records if _local_day(updated) == day)
    outsider = next(rid for rid, updated in records if _local_day(updated) != day)
    assert len(in_day) > 1
    assert sorted(_exported_ids(zuora, f"UpdatedDate = '{day.isoformat()}'")) == in_day
    either = _exported_ids(zuora, f"UpdatedDate = '{day.isoformat()}' or Id = '{outsider}'")
    assert sorted(either) == sorted([*in_day, outsider])


def test_id_pages_of_a_window_holding_old_and_new_versions(sim, zuora):
    a, _ = _bounds(sim)
    end = NOW.replace(tzinfo=None) + timedelta(days=1)
    changed = [rid for rid, updated in _records(sim) if a <= updated][:3]
    for rid in changed:  # new versions (UpdatedDate = now) land in new segments, inside the window
        sim.upsert("InvoiceItem", {"Id": rid, "ChargeName": "changed"})
    window = sorted(rid for rid, updated in _records(sim) if a <= updated < end)
    where = f"UpdatedDate >= {_literal(a)} and UpdatedDate < {_literal(end)}"
    pages, after = [], None
    while after is None or len(pages[-1]) == 4:
        page = _exported_ids(zuora, where + (f" and Id > '{after}'" if after else ""), " order by Id limit 4")
        pages.append(page)
        after = page[-1] if page else after
    assert [rid for page in pages for rid in page] == window
    assert set(changed) <= set(window) and len(pages) > 2


def test_a_file_downloaded_after_later_changes_holds_the_snapshot(sim, zuora):
    a, b = _bounds(sim)
    where = f"UpdatedDate >= {_literal(a)} and UpdatedDate < {_literal(b)}"
    job = zuora.run([{"name": "q", "query": f"select Id, ChargeName from InvoiceItem where {where}"}])
    before = sim.truth("invoice_item", a.replace(tzinfo=UTC), b.replace(tzinfo=UTC))
    before = before.filter(pc.invert(before.column("_deleted")))  # the query does not ask for deletes
    sim.upsert("InvoiceItem", {"Id": before.column("id")[0].as_py(), "ChargeName": "changed after the job ran"})
    sim.add_burst("InvoiceItem", 50, a.replace(tzinfo=UTC))
    sim.add_custom_field("InvoiceItem", "Late__c", "text")
    header, rows = read_csv(zuora.download(job["batches"][0]["fileId"]).content.decode())
    assert header == ["InvoiceItem.Id", "InvoiceItem.ChargeName"]
    expected = sorted(zip(before.column("id").to_pylist(), before.column("charge_name").to_pylist(), strict=True))
    assert sorted((rid, name or None) for rid, name in rows) == expected
    assert job["batches"][0]["recordCount"] == len(rows) == before.num_rows > 0


def test_a_file_refused_as_too_large_is_served_whole_once_the_rule_is_spent(sim, zuora):
    a, b = _bounds(sim)
    query = f"select Id from InvoiceItem where UpdatedDate >= {_literal(a)} and UpdatedDate < {_literal(b)}"
    sim.add_fault({"fault": "too_large", "rows": 1, "query": "InvoiceItem", "times": 1})
    job = zuora.run([{"name": "q", "query": query}])
    count, file_id = job["batches"][0]["recordCount"], job["batches"][0]["fileId"]
    assert count > 1 and zuora.download(file_id).status_code == 403
    first, second = zuora.download(file_id), zuora.download(file_id)
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert len(read_csv(first.text)[1]) == count


def test_an_export_spanning_many_segments_comes_in_updated_date_order(sim, zuora):
    a, _ = _bounds(sim)
    sim.add_burst("InvoiceItem", 30, a.replace(tzinfo=UTC))
    for rid, _ in _records(sim)[:5]:
        sim.upsert("InvoiceItem", {"Id": rid, "ChargeName": "newer"})
    text = zuora.export_text(f"select Id, UpdatedDate from InvoiceItem where UpdatedDate >= {_literal(ALL_TIME[0])} "
                             "order by UpdatedDate", deleted=False)
    _, rows = read_csv(text)
    instants = [parse_datetime(updated) for _, updated in rows]
    assert instants == sorted(instants)
    truth = sim.truth("invoice_item", *ALL_TIME)
    live = truth.filter(pc.invert(truth.column("_deleted")))
    assert sorted(rid for rid, _ in rows) == sorted(live.column("id").to_pylist())
