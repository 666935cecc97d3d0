"""The generated tenant: deterministic, foreign-key consistent, versioned, and hostile where it should be."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.tz import pacific_midnight
from zuora_assets.zuora.catalog import MODELS, model
from zuora_assets_tests.sim_support import NOW, Zuora

EVER = (NOW - timedelta(days=3650), NOW + timedelta(seconds=1))
CONFIG = SimConfig(seed=21, accounts=25, days=10, now=NOW, clock_follows_wall=False)


@pytest.fixture(scope="module")
def sim():
    s = Simulator(CONFIG)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def everything(sim):
    return {name: sim.truth(name, *EVER) for name in MODELS}


def test_same_seed_same_tenant_other_seed_other_tenant(everything):
    again = Simulator(CONFIG)
    other = Simulator(SimConfig(seed=22, accounts=25, days=10, now=NOW, clock_follows_wall=False))
    try:
        for name, table in everything.items():
            assert again.truth(name, *EVER).equals(table), name
        assert not set(other.truth("account", *EVER)["id"].to_pylist()) & set(everything["account"]["id"].to_pylist())
    finally:
        again.stop()
        other.stop()


def test_truth_columns_follow_the_catalog(sim, everything):
    for name, table in everything.items():
        assert table.schema == model(name).arrow_schema(sim.fields(name)), name
        assert table.num_rows > 0, name
    assert "region__c" in everything["account"].column_names


def test_ids_are_unique_32_hex(everything):
    ids = [i for table in everything.values() for i in table["id"].to_pylist()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_foreign_keys_point_at_live_records(everything):
    live = {name: set(t.filter(pc.invert(t["_deleted"]))["id"].to_pylist()) for name, t in everything.items()}
    checked = 0
    for name, table in everything.items():
        m = model(name)
        for fk, target in m.foreign_keys.items():
            values = {v for v in table[m.field(fk).column].to_pylist() if v is not None}
            assert values <= live[model(target).name], f"{name}.{fk} -> {target}"
            checked += bool(values)
    assert checked >= 40  # nearly every declared foreign key is populated


def test_subscription_versions(everything):
    subs = everything["subscription"].to_pylist()
    by_name = defaultdict(list)
    for s in subs:
        by_name[s["name"]].append(s)
    assert any(len(v) > 1 for v in by_name.values())
    for versions in by_name.values():
        versions.sort(key=lambda s: s["version"])
        assert [s["version"] for s in versions] == list(range(1, len(versions) + 1))
        assert [s["is_latest_version"] for s in versions] == [False] * (len(versions) - 1) + [True]
        assert all(s["status"] == "Expired" for s in versions[:-1])
        assert versions[-1]["status"] != "Expired"
        assert {s["original_id"] for s in versions} == {versions[0]["id"]}
        assert [s["previous_subscription_id"] for s in versions] == [None] + [s["id"] for s in versions[:-1]]


def test_text_is_csv_hostile_and_some_datetimes_are_midnight_pacific(everything):
    text = [v for t in everything.values() for c in t.columns if c.type == pa.string() for v in c.to_pylist() if v]
    for needle in (",", '"', "\n", "\r\n"):
        assert any(needle in v for v in text), needle
    midnight = sum(int(pacific_midnight(c.combine_chunks())[0].sum()) for t in everything.values()
                   for c in t.columns if c.type == pa.timestamp("ms"))
    assert midnight > 0


def test_decimals_have_natural_scales(everything):
    amounts = everything["invoice"]["amount"].to_pylist()
    assert all(a == a.quantize(Decimal("0.01")) for a in amounts if a is not None)
    quantities = [q for q in everything["usage"]["quantity"].to_pylist() if q is not None]
    assert any(q.as_tuple().exponent <= -5 and q.normalize().as_tuple().exponent < -4 for q in quantities)


def test_every_day_has_changes_for_the_busy_models(sim):
    busy = ["account", "contact", "subscription", "rate_plan", "invoice", "invoice_item", "taxation_item",
            "usage", "payment", "payment_method", "journal_entry", "billing_run", "order", "order_action"]
    day = (NOW - timedelta(days=CONFIG.days)).replace(hour=0, minute=0, second=0)
    try:
        while day < NOW:
            end = min(day + timedelta(days=1), NOW)
            sim.set_clock(end)  # an incremental run at the end of that day sees that day's changes
            for name in busy:
                assert sim.truth(name, day, end).num_rows > 0, f"{name} has no change on {day.date()}"
            day = end
    finally:
        sim.set_clock(NOW)


def test_clock_in_the_past_hides_later_records(sim):
    sim.set_clock(NOW - timedelta(days=5))
    try:
        past = sim.truth("invoice", *EVER)
        assert past.num_rows > 0
        assert all(d <= (NOW - timedelta(days=5)).replace(tzinfo=None) for d in past["updated_date"].to_pylist())
    finally:
        sim.set_clock(NOW)
    assert past.num_rows < sim.truth("invoice", *EVER).num_rows


def test_forced_invoice_item_count():
    with Simulator(SimConfig(seed=1, accounts=10, days=5, now=NOW, clock_follows_wall=False,
                             invoice_items=20_000)) as big:
        items = big.truth("invoice_item", *EVER)
        assert items.num_rows == 20_000  # live records plus tombstones (all deletions are recent)
        invoices = set(big.truth("invoice", *EVER)["id"].to_pylist())
        assert set(items["invoice_id"].to_pylist()) <= invoices


@pytest.mark.parametrize("bad,word", [({"accounts": 0}, "accounts"), ({"tenant_tz": "Mars/Base"}, "tenant_tz"),
                                      ({"custom_fields": {"Account": [("Region", "text")]}}, "__c"),
                                      ({"custom_fields": {"Nope": [("X__c", "text")]}}, "Nope"),
                                      ({"now": NOW.replace(tzinfo=None)}, "timezone-aware")])
def test_bad_config_is_refused_with_the_setting_named(bad, word):
    with pytest.raises(ValueError, match=word):
        SimConfig(**bad)


def test_csv_hazards_are_rare_in_a_big_tenant_but_present_in_a_small_one(everything):
    """Real tenants have the odd line break, quote and non-Latin name, not one in every sixth record."""
    with Simulator(SimConfig(seed=8, accounts=1000, days=10, now=NOW, clock_follows_wall=False)) as big:
        names = [n for n in big.truth("account", *EVER)["name"].to_pylist() if n]
    share = {kind: sum(1 for n in names if test(n)) / len(names) for kind, test in {
        "line break": lambda n: "\n" in n, "quote": lambda n: '"' in n, "comma": lambda n: "," in n,
        "non-Latin": lambda n: any(ord(ch) > 0x24F for ch in n)}.items()}
    assert 0 < share["line break"] < 0.01 and 0 < share["quote"] < 0.01, share
    assert 0.005 < share["comma"] < 0.05 and 0.002 < share["non-Latin"] < 0.05, share
    small = [n for n in everything["account"]["name"].to_pylist() if n]
    assert any("\n" in n for n in small) and any(ord(ch) > 0x24F for n in small for ch in n)


def test_decimals_beyond_28_digits_and_datetimes_near_year_1_and_9999_round_trip():
    with Simulator(SimConfig(seed=3, accounts=3, days=2, now=NOW, clock_follows_wall=False)) as sim:
        big = "12345678901234567890123456789.123456789"  # 38 digits: the lake's decimal(38, 9)
        account = sim.upsert("Account", {"Name": "Big", "Balance": big})
        assert account["Balance"] == big
        invoice = sim.upsert("Invoice", {"AccountId": account["Id"], "PostedDate": "0001-01-01T00:00:00Z",
                                         "LastEmailSentDate": "9999-12-31T23:59:59Z"})
        for bad, words in (("1" * 30, "digits before the point"), ("0.0000000001", "decimal places")):
            with pytest.raises(ValueError, match=words):
                sim.upsert("Account", {"Name": "Bad", "Balance": bad})
        zuora = Zuora(sim.base_url)
        job = zuora.run([{"query": f"select Balance from Account where Id = '{account['Id']}'"}])
        assert zuora.download(job["batches"][0]["fileId"]).text.splitlines()[1] == big
        job = zuora.run([{"query": f"select PostedDate, LastEmailSentDate from Invoice where Id = '{invoice['Id']}'"}],
                        dateTimeUtc=False)
        assert job["status"] == "completed"
        row = zuora.download(job["batches"][0]["fileId"]).text.splitlines()[1]
        assert row == "0001-01-01T00:00:00+0000,9999-12-31T15:59:59-0800"  # no local time before year 1: UTC
        found = zuora.call("GET", f"/object-query/invoices/{invoice['Id']}").json()
        assert found["postedDate"] == "0001-01-01T00:00:00+00:00"
        record = zuora.call("POST", "/v1/action/query", json={
            "queryString": f"select LastEmailSentDate from Invoice where Id = '{invoice['Id']}'"}).json()["records"][0]
        assert record["LastEmailSentDate"] == "9999-12-31T15:59:59.000-08:00"


def test_generated_values_keep_the_catalogs_promises(everything):
    """Never-null fields are filled, picklists hold documented values, foreign keys point at their object."""
    for name, table in everything.items():
        m = model(name)
        live = table.filter(pc.invert(table["_deleted"]))
        for f in m.fields:
            values = live[f.column]
            if not f.nullable:
                assert values.null_count == 0, f"{name}.{f.name} is never null in Zuora"
            if f.name in m.options:
                assert set(v for v in values.to_pylist() if v is not None) <= set(m.options[f.name]), f"{name}.{f.name}"
    nullable = [f for m in MODELS.values() for f in m.fields if f.nullable and f.name not in m.foreign_keys]
    assert sum(everything[m.name][f.column].null_count > 0 for m in MODELS.values() for f in m.fields
               if f in nullable) > len(nullable) / 2, "optional fields are empty on some records"


def test_soap_only_fields_are_described_but_not_exportable():
    with Simulator(SimConfig(seed=2, accounts=3, days=2, now=NOW, clock_follows_wall=False)) as sim:
        _check_soap_only_and_unfilterable(Zuora(sim.base_url))


def _check_soap_only_and_unfilterable(zuora: Zuora) -> None:
    answer = zuora.submit([{"query": "select Id, RolloverBalance from RatePlanCharge"}])
    assert answer["errorCode"] == "90005" and "There is no field named RolloverBalance" in answer["message"]
    assert "rollover_balance" not in model("rate_plan_charge").arrow_schema().names
    unfilterable = zuora.call("GET", "/object-query/accounts?filter[]=notes.EQ:x")
    assert unfilterable.status_code == 400 and "not filterable" in unfilterable.json()["reasons"][0]["message"]
