"""The change sensor and the nightly consolidation, on a simulated tenant."""

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from zuora_assets.definitions import build_definitions, build_resources
from zuora_assets.defs.assets import CONSOLIDATION_TAG, MODE_TAG
from zuora_assets.defs.automation import nightly_consolidation
from zuora_assets.defs.resources import duckdb_catalog
from zuora_assets.settings import Settings
from zuora_assets_tests.lake_support import TestClock
from zuora_assets_tests.pipeline import last_days, materialize


@pytest.fixture
def tenant(local_lake, serve, monkeypatch):
    monkeypatch.setenv("ZUORA_LAG_SECONDS", "0")
    return serve(seed=5, accounts=30, days=3)


def evaluate(instance, cursor=None):
    defs = build_definitions()
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=build_resources()
    ) as context:
        return defs.resolve_sensor_def("zuora_changes")(context)


def test_sensor_requests_one_append_run_per_changed_model_and_never_twice(tenant):
    with dg.instance_for_test() as instance:
        first = evaluate(instance)
        # Every model the simulator changed today is requested once, for today's partition, in append mode.
        today = datetime.now(UTC).date().isoformat()
        assert first.run_requests
        for request in first.run_requests:
            assert request.partition_key == today
            assert request.tags[MODE_TAG] == "append"
            model = request.tags["zuora/model"]
            assert request.asset_selection == [dg.AssetKey(["zuora", model]), dg.AssetKey(["athena", model])]
        assert len({r.run_key for r in first.run_requests}) == len(first.run_requests)

        quiet = evaluate(instance, first.cursor)
        assert not quiet.run_requests
        assert "no Zuora changes" in quiet.skip_reason.skip_message
        assert "journal_entry" in quiet.skip_reason.skip_message  # says which models only sync nightly

        record = tenant.upsert("Account", {"Name": "Changed Corp"})
        changed = evaluate(instance, quiet.cursor)
        requested = {r.tags["zuora/model"]: r for r in changed.run_requests}
        assert list(requested) == ["account"]
        assert record["UpdatedDate"][:19] in requested["account"].run_key
        assert json.loads(changed.cursor)["account"] > json.loads(quiet.cursor).get("account", "")


def test_sensor_waits_for_changes_younger_than_the_lag(tenant, monkeypatch):
    monkeypatch.setenv("ZUORA_LAG_SECONDS", "3600")
    with dg.instance_for_test() as instance:
        cursor = evaluate(instance).cursor
        tenant.upsert("Account", {"Name": "Too Fresh Ltd"})
        result = evaluate(instance, cursor)
        assert not result.run_requests
        assert "younger than the 3600 s lag" in result.skip_reason.skip_message
        assert json.loads(result.cursor).get("account") == json.loads(cursor).get("account")


def current_accounts() -> list[tuple]:
    with duckdb_catalog(Settings.from_env()) as duck:
        return sorted(duck.query('select * exclude (_transferred_at) from "account_current"'))


def test_nightly_consolidation_replaces_yesterday_with_one_transfer(tenant, local_lake, monkeypatch):
    monkeypatch.setenv("ZUORA_LOOKBACK_SECONDS", str(2 * 86400))  # each append re-reads the whole day
    yesterday, today = last_days(2)
    materialize(["zuora/account", "athena/account"], [yesterday])
    for _ in range(2):
        materialize(["zuora/account"], [yesterday], tags={MODE_TAG: "append"})
    lake = local_lake / "zuora" / "account" / f"dt={yesterday}"

    def transfers():
        return {p.name.split("_")[1] for p in lake.glob("*.parquet")}

    assert len(transfers()) == 3, "the day's rows were written by three transfers"
    before = current_accounts()

    tick = datetime.fromisoformat(today).replace(hour=2, minute=30, tzinfo=UTC)
    request = nightly_consolidation(dg.build_schedule_context(scheduled_execution_time=tick))
    assert (request.partition_key, request.tags[MODE_TAG]) == (yesterday, "replace")
    assert request.run_key == f"consolidate:{yesterday}"
    materialize(["zuora/account", "athena/account"], [request.partition_key], tags=request.tags)
    assert len(transfers()) == 1, "one clean transfer per day after the consolidation"
    assert current_accounts() == before


def test_the_consolidation_prunes_manifests_replaced_longer_ago_than_the_retention(tenant, local_lake):
    yesterday, today = last_days(2)
    clock = TestClock(datetime.now(UTC))
    for _ in range(2):
        materialize(["zuora/account"], [yesterday], tags={MODE_TAG: "append"}, clock=clock)
        clock.advance(60)
    tick = datetime.fromisoformat(today).replace(hour=2, minute=30, tzinfo=UTC)
    request = nightly_consolidation(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.tags[CONSOLIDATION_TAG] == "true"
    materialize(["zuora/account"], [yesterday], tags=request.tags, clock=clock)
    manifests = local_lake / "zuora" / "_zuora" / "manifests" / "account" / f"dt={yesterday}"
    assert len(list(manifests.glob("*.json"))) == 3, "replaced manifests stay during the retention period"

    clock.advance(31 * 86400)  # a month later, another night's consolidation
    result = materialize(["zuora/account"], [today], tags=request.tags, clock=clock)
    [event] = result.get_asset_materialization_events()
    assert event.event_specific_data.materialization.metadata["pruned_manifests"].value == 2
    assert len(list(manifests.glob("*.json"))) == 1, "only the consolidation's own manifest is left"
