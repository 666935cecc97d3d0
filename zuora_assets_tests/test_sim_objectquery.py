"""Object Query over real HTTP: paging, filters, sort, fields, nulls, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests.sim_support import NOW, Zuora

EVER = (NOW - timedelta(days=3650), NOW + timedelta(seconds=1))


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimConfig(seed=13, accounts=30, days=6, now=NOW, clock_follows_wall=False)) as s:
        yield s


@pytest.fixture(scope="module")
def zuora(sim):
    return Zuora(sim.base_url)


def pages(zuora, path, params):
    """Every record of a query, following nextPage; also returns the number of pages."""
    records, cursor, count = [], None, 0
    while True:
        resp = zuora.call("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        records += body["data"]
        count += 1
        cursor = body.get("nextPage")
        if not cursor:
            return records, count


def live(table):
    return table.filter(pc.invert(table["_deleted"]))


def test_paging_returns_every_live_record_once(sim, zuora):
    records, count = pages(zuora, "/object-query/accounts", {"pageSize": 7})
    assert count == 5  # 30 accounts in pages of 7
    assert [r["id"] for r in records] == sorted(live(sim.truth("account", *EVER))["id"].to_pylist())


def test_change_sensor_call(sim, zuora):
    resp = zuora.call("GET", "/object-query/accounts?filter[]=updateddate.GT:2024-01-01T00:00:00Z"
                             "&sort[]=updateddate.DESC&pageSize=1")
    body = resp.json()
    newest = max(live(sim.truth("account", *EVER))["updated_date"].to_pylist())
    assert len(body["data"]) == 1 and "nextPage" in body
    assert datetime.fromisoformat(body["data"][0]["updatedDate"]).astimezone(UTC).replace(tzinfo=None) == newest
    assert body["data"][0]["updatedDate"].endswith("-07:00")


def test_sorted_paging_with_ties_and_filters(sim, zuora):
    cut = NOW - timedelta(days=3)
    params = {"filter[]": [f"updateddate.GE:{cut:%Y-%m-%dT%H:%M:%SZ}", "status.NE:Draft"],
              "sort[]": "updateddate.ASC", "pageSize": 4}
    records, _ = pages(zuora, "/object-query/invoices", params)
    expected = [r for r in live(sim.truth("invoice", cut, EVER[1])).to_pylist() if r["status"] != "Draft"]
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in expected)
    stamps = [r["updatedDate"] for r in records]
    assert [datetime.fromisoformat(s) for s in stamps] == sorted(datetime.fromisoformat(s) for s in stamps)


def test_in_sw_eq_null_filters_and_fields(sim, zuora):
    accounts = live(sim.truth("account", *EVER)).to_pylist()
    numbers = [a["account_number"] for a in accounts[:3]]
    got, _ = pages(zuora, "/object-query/accounts", {"filter[]": f"accountnumber.IN:[{','.join(numbers)}]",
                                                     "fields[]": "id,accountNumber", "pageSize": 99})
    assert sorted(r["accountNumber"] for r in got) == sorted(numbers)
    assert all(set(r) == {"id", "accountNumber"} for r in got)
    starts, _ = pages(zuora, "/object-query/accounts", {"filter[]": "accountnumber.SW:A0000001", "pageSize": 99})
    assert {r["accountNumber"] for r in starts} == {a["account_number"] for a in accounts
                                                   if a["account_number"].startswith("A0000001")}
    no_parent, _ = pages(zuora, "/object-query/accounts", {"filter[]": "parentid.EQ:null", "pageSize": 99})
    assert len(no_parent) == sum(a["parent_id"] is None for a in accounts)
    assert all("parentId" not in r for r in no_parent)  # nulls omitted
    with_nulls = zuora.call("GET", "/object-query/accounts", params={"filter[]": "parentid.EQ:null",
                                                                     "includeNullFields": "true", "pageSize": 1})
    assert with_nulls.json()["data"][0]["parentId"] is None


def test_camel_case_keys_and_typed_values(sim, zuora):
    record = zuora.call("GET", "/object-query/accounts?pageSize=1&includeNullFields=true").json()["data"][0]
    assert len(record) == len(sim.fields("account"))
    assert {"id", "accountNumber", "billToId", "vatId", "mrr", "region__c", "autoPay", "balance"} <= set(record)
    assert isinstance(record["balance"], float) and isinstance(record["autoPay"], bool)
    one = zuora.call("GET", f"/object-query/accounts/{record['id']}").json()
    assert one["id"] == record["id"]


@pytest.mark.parametrize("path", [
    "/object-query/accounts?pageSize=0", "/object-query/accounts?pageSize=100", "/object-query/accounts?pageSize=x",
    "/object-query/invoice-items", "/object-query/accounts?filter[]=nosuch.EQ:1",
    "/object-query/accounts?filter[]=updateddate.XX:1", "/object-query/accounts?sort[]=id.ASC&sort[]=name.ASC",
    "/object-query/accounts?filter[]=updateddate.GT:yesterday", "/object-query/accounts?cursor=garbage",
])
def test_bad_requests_are_400(zuora, path):
    resp = zuora.call("GET", path)
    assert resp.status_code == 400
    assert resp.json()["reasons"][0]["message"]


def test_invoice_items_with_a_filter(sim, zuora):
    cut = NOW - timedelta(days=1)
    records, _ = pages(zuora, "/object-query/invoice-items", {"filter[]": f"updateddate.GE:{cut:%Y-%m-%d}",
                                                              "pageSize": 99})
    local_midnight = datetime(cut.year, cut.month, cut.day, 7, tzinfo=UTC)  # tenant-local date, PDT
    assert sorted(r["id"] for r in records) == sorted(live(sim.truth("invoice_item", local_midnight,
                                                                     EVER[1]))["id"].to_pylist())


def test_unknown_object_is_404(zuora):
    assert zuora.call("GET", "/object-query/widgets").status_code == 404
