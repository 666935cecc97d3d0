"""The weekly reconciliation through the real assets, against the simulator over HTTP, in the local lake and in S3
on moto: a record deleted 40 simulated days earlier (Zuora no longer exports its deletion) gets a tombstone and
leaves `<model>_current`; every id still live in Zuora stays; a later replace of the partition keeps the tombstone.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from zuora_assets.definitions import build_definitions
from zuora_assets.defs.resources import lake_folder, lake_storage
from zuora_assets.lake import layout
from zuora_assets.settings import Settings, SettingsError
from zuora_assets_tests.current_support import current_rows, destination_of
from zuora_assets_tests.pipeline import materialize
from zuora_assets_tests.time_support import SimTime, partition_table

BUCKET = "reconcile-lake"
SCHEMA = "reconcile"


@pytest.fixture(params=["local", "s3"])
def destination(request, local_lake, monkeypatch):
    yield from destination_of(request, monkeypatch, BUCKET, SCHEMA)


def run_asset(key: str, clock) -> dg.ExecuteInProcessResult:
    defs = build_definitions(os.environ, clock)
    return dg.materialize(
        [defs.get_assets_def(dg.AssetKey(key.split("/")))], resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
    )


def current_ids(destination: str) -> set[str]:
    return {row[0] for row in current_rows(destination, "account", ["id"], SCHEMA)}


def synced_tenant(serve, monkeypatch, *, days_ago: int, seed: int, accounts: int):
    """A simulated tenant whose history ends at noon `days_ago` days back, synced into the lake for its last six
    days (accounts and their table): (simulator, its clock, that noon)."""
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    monkeypatch.setenv("ZUORA_START_DATE", (start - timedelta(days=6)).date().isoformat())
    sim = serve(seed=seed, accounts=accounts, days=5, now=start, clock_follows_wall=False)
    clock = SimTime(sim)
    days = [(start.date() - timedelta(days=k)).isoformat() for k in range(5, -1, -1)]
    assert materialize(["zuora/account", "athena/account"], days, clock=clock).success
    return sim, clock, start


def test_a_record_deleted_40_days_ago_is_tombstoned_and_leaves_current_while_live_ids_stay(
    destination, serve, monkeypatch
):
    sim, clock, start = synced_tenant(serve, monkeypatch, days_ago=50, seed=21, accounts=10)
    synced = current_ids(destination)
    assert len(synced) >= 10

    victim = sorted(synced)[0]
    sim.set_clock(start + timedelta(hours=1))
    sim.delete("Account", victim)  # the sync was paused: the deletion never reached the lake
    sim.set_clock(start + timedelta(hours=1, days=40))
    assert not sim.truth("account", start, sim.clock()).num_rows, "Zuora no longer exports the deletion"

    result = run_asset("zuora_reconcile/account", clock)
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.event_specific_data.materialization.metadata
    assert metadata["tombstones"].value == 1 and metadata["zuora_live_ids"].value == len(synced) - 1
    snapshot = sim.clock().replace(microsecond=0)

    dt = snapshot.date().isoformat()
    table = partition_table("account", dt)
    assert table.column("id").to_pylist() == [victim]
    assert table.column("_deleted").to_pylist() == [True]
    assert table.column("updated_date").to_pylist() == [snapshot.replace(tzinfo=None)]
    settings = Settings.from_env()
    storage, folder = lake_storage(settings), lake_folder(settings)
    [manifest_key] = [o.key for o in storage.list(layout.manifests_prefix(folder, "account")) if f"dt={dt}" in o.key]
    manifest = json.loads(storage.get_bytes(manifest_key))
    assert manifest["detected_by"] == "reconciliation" and manifest["mode"] == "append"

    assert current_ids(destination) == synced - {victim}, "the victim is gone, every live id stays"

    # A replace of the tombstone's partition (the nightly consolidation, a backfill) keeps it: Zuora no longer
    # exports the deletion, so no re-read could bring it back.
    sim.set_clock(sim.clock() + timedelta(hours=2))
    assert materialize(["zuora/account"], [dt], clock=clock).success
    assert victim in partition_table("account", dt).column("id").to_pylist()
    assert current_ids(destination) == synced - {victim}

    again = run_asset("zuora_reconcile/account", clock)
    [second] = again.get_asset_materialization_events()
    assert second.event_specific_data.materialization.metadata["tombstones"].value == 0, "nothing left to find"

    # The id comes back in Zuora: the next sync makes it live again, and the reconciliation leaves it alone.
    sim.set_clock(sim.clock() + timedelta(hours=1))
    sim.recreate("Account", victim, {"Name": "Back Again"})
    today = sim.clock().date().isoformat()
    sim.set_clock(sim.clock() + timedelta(minutes=30))
    assert materialize(["zuora/account"], [today], clock=clock).success
    assert current_ids(destination) == synced
    third = run_asset("zuora_reconcile/account", clock).get_asset_materialization_events()[0]
    assert third.event_specific_data.materialization.metadata["tombstones"].value == 0
    assert current_ids(destination) == synced, "a re-created id is never tombstoned"


def test_an_id_updated_after_the_sync_and_a_new_one_are_never_tombstoned(local_lake, serve, monkeypatch):
    sim, clock, start = synced_tenant(serve, monkeypatch, days_ago=3, seed=22, accounts=8)
    before = current_ids("local")
    sim.set_clock(start + timedelta(hours=1))
    sim.upsert("Account", {"Id": sorted(before)[1], "Name": "Renamed"})
    created = sim.upsert("Account", {"Name": "Brand New", "Currency": "USD", "BillCycleDay": 1})["Id"]
    result = run_asset("zuora_reconcile/account", clock)
    [event] = result.get_asset_materialization_events()
    assert event.event_specific_data.materialization.metadata["tombstones"].value == 0
    assert current_ids("local") == before
    assert created not in before


def test_an_export_with_no_live_record_writes_no_tombstone_and_says_what_to_check(local_lake, serve, monkeypatch):
    sim, clock, start = synced_tenant(serve, monkeypatch, days_ago=3, seed=23, accounts=4)
    before = current_ids("local")
    sim.set_clock(start + timedelta(hours=1))
    for rid in before:
        sim.delete("Account", rid)
    sim.set_clock(start + timedelta(days=41))
    defs = build_definitions(os.environ, clock)
    result = dg.materialize(
        [defs.get_assets_def(dg.AssetKey(["zuora_reconcile", "account"]))], resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    [failure] = result.get_step_failure_events()
    assert "exported no live Account record" in failure.event_specific_data.error.message
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in [e.event_type for e in result.all_events]
    assert current_ids("local") == before, "nothing tombstoned"


def test_bad_reconciliation_settings_name_the_variable_and_the_rule():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({
            "ZUORA_RECONCILE_CRON": "every sunday", "ZUORA_RECONCILE_SKIP": "account,acount",
            "ZUORA_RECONCILE_MEMORY_LIMIT": "lots", "ZUORA_REREAD_DAYS": "invoice=soon,contact=3",
        })
    lines = err.value.problems
    assert any(p.startswith("ZUORA_RECONCILE_CRON: 'every sunday' is not a cron expression") for p in lines)
    assert any(p.startswith("ZUORA_RECONCILE_SKIP: acount not a model") for p in lines)
    assert any(p.startswith("ZUORA_RECONCILE_MEMORY_LIMIT: 'lots' is not a memory size") for p in lines)
    assert any(p.startswith("ZUORA_REREAD_DAYS: 'invoice=soon'") for p in lines)
    assert any(p.startswith("ZUORA_REREAD_DAYS: 'contact' is not a model with silent fields") for p in lines)
    assert len(lines) == 5
    ok = Settings.from_env({"ZUORA_RECONCILE_SKIP": "usage", "ZUORA_REREAD_DAYS": "invoice=30,account=off"}).upkeep
    assert ok.reconcile_skip == {"usage"} and ok.reread_days["invoice"] == 30 and "account" not in ok.reread_days


def test_the_weekly_schedule_reconciles_every_model_but_the_skipped_ones_on_its_cron(monkeypatch):
    monkeypatch.setenv("ZUORA_RECONCILE_SKIP", "usage,invoice_item")
    monkeypatch.setenv("ZUORA_RECONCILE_CRON", "15 5 * * 6")
    defs = build_definitions(os.environ)
    schedule = defs.resolve_schedule_def("weekly_reconciliation")
    job = defs.resolve_job_def(schedule.job_name)
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert schedule.cron_schedule == "15 5 * * 6" and len(keys) == 26
    assert "zuora_reconcile/usage" not in keys and "zuora_reconcile/invoice_item_adjustment" in keys
