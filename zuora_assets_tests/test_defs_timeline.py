"""Time as an input, through the real assets, in the local lake and in S3 on moto (issue 10, points 2, 4, 5):
a year's backfill under one true timestamp, a first day that stays put 40 days later, and yesterday's tail
synced after midnight without waiting for the consolidation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow.compute as pc
import pytest

from zuora_assets.definitions import build_definitions, build_resources
from zuora_assets.defs.assets import MODE_TAG
from zuora_assets.defs.resources import aws_clients, lake_folder, lake_storage
from zuora_assets.lake import layout
from zuora_assets.lake.state import read_start_date
from zuora_assets.settings import Settings, SettingsError
from zuora_assets_tests.lake_support import TestClock
from zuora_assets_tests.pipeline import day_window, last_days, materialize, moto_settings
from zuora_assets_tests.time_support import SimTime, partition_table

BUCKET = "timeline-lake"


@pytest.fixture(params=["local", "s3"])
def destination(request, local_lake, monkeypatch):
    """The lake of the runs: the local folder, or a bucket on the moto server (with a Glue catalog)."""
    if request.param == "s3":
        moto = request.getfixturevalue("moto")
        moto.client("s3").create_bucket(Bucket=BUCKET)
        for name, value in moto_settings(moto.endpoint, bucket=BUCKET, folder="zuora", schema="timeline").items():
            monkeypatch.setenv(name, value)
        aws_clients.cache_clear()
    yield request.param
    aws_clients.cache_clear()


def lake_keys() -> list[str]:
    settings = Settings.from_env()
    return [o.key for o in lake_storage(settings).list(f"{lake_folder(settings)}/")]


def test_a_year_backfill_is_one_run_under_one_timestamp_never_after_its_end(destination, serve, monkeypatch):
    days = last_days(365)
    monkeypatch.setenv("ZUORA_START_DATE", days[0])
    sim = serve(seed=29, accounts=6, days=365)
    result = materialize(["zuora/invoice"], days)
    end = layout.format_ts(datetime.now(UTC))

    keys = lake_keys()
    data = [parsed for k in keys if (parsed := layout.parse_data_key(k)) and "/invoice/" in k]
    stamps = {ts for _, ts in data}
    assert len(stamps) == 1 and stamps.pop() <= end, "one transfer timestamp, at or before the run's end"
    [snapshot] = {ts for _, ts in data}
    manifests = [k for k in keys if "/_zuora/manifests/invoice/" in k]
    assert len(manifests) == 365 and {layout.ts_of_manifest_key(k) for k in manifests} == {snapshot}
    assert not [k for k in keys if "/_zuora/transfers/" in k], "no reservation objects"

    per_day = Counter()
    for dt in sorted({layout.dt_of_key(k) for k in keys if layout.parse_data_key(k) and "/invoice/" in k}):
        rows = partition_table("invoice", dt)
        per_day[dt] = rows.num_rows
        stamped = pc.unique(rows.column("_transferred_at")).to_pylist()
        assert stamped == [layout.parse_ts(snapshot).replace(tzinfo=None)]
    expected = {dt: n for dt in days if (n := sim.truth("invoice", *day_window(dt)).num_rows)}
    assert dict(per_day) == expected and len(expected) > 100
    metadata = {
        ev.event_specific_data.materialization.partition: ev.event_specific_data.materialization.metadata
        for ev in result.get_asset_materialization_events()
    }
    assert {m["transfer"].value for m in metadata.values()} == {snapshot} and len(metadata) == 365


def test_forty_days_after_the_first_sync_the_partitions_still_start_on_the_first_day(local_lake, serve):
    serve(seed=3, accounts=5, days=3)
    first = TestClock(datetime.now(UTC))
    first_day = first.now().date() - timedelta(days=30)
    materialize(["zuora/account"], last_days(1), clock=first)
    assert read_start_date(lake_storage(Settings.from_env()), "zuora") == first_day, "pinned at the first sync"

    later = datetime.now(UTC) + timedelta(days=40)
    partitions = build_definitions(clock=TestClock(later)).get_assets_def(dg.AssetKey(["zuora", "account"])).partitions_def
    keys = partitions.get_partition_keys(current_time=later)
    assert keys[0] == first_day.isoformat() and keys[-1] == later.date().isoformat()


def test_the_projection_range_start_only_moves_earlier(moto, local_lake, serve, monkeypatch):
    """Glue's projection range (the DuckDB view of the local lake reads every file, it has no range)."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    for name, value in moto_settings(moto.endpoint, bucket=BUCKET, folder="zuora", schema="timeline").items():
        monkeypatch.setenv(name, value)
    aws_clients.cache_clear()
    serve(seed=3, accounts=5, days=3)
    first_day = date.fromisoformat(last_days(60)[0])
    glue = aws_clients(Settings.from_env().aws).glue

    def sync(start: date) -> str:
        monkeypatch.setenv("ZUORA_START_DATE", start.isoformat())
        materialize(["zuora/account", "athena/account"], last_days(1))
        return glue.get_table(DatabaseName="timeline", Name="account")["Table"]["Parameters"]["projection.dt.range"]

    assert sync(first_day) == f"{first_day},NOW"
    assert sync(first_day + timedelta(days=40)) == f"{first_day},NOW", "a later start never hides partitions"
    assert sync(first_day - timedelta(days=5)) == f"{first_day - timedelta(days=5)},NOW"


def test_aws_settings_without_a_start_date_stop_the_definitions_naming_it(moto, local_lake, serve, monkeypatch):
    serve(seed=3, accounts=5, days=3)
    for name, value in moto_settings(moto.endpoint, bucket=BUCKET, folder="zuora", schema="timeline").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ZUORA_START_DATE")
    with pytest.raises(SettingsError, match="ZUORA_START_DATE: is missing"):
        Settings.from_env()
    with pytest.raises(SettingsError, match="ZUORA_START_DATE: is missing"):  # the definitions do not load
        materialize(["zuora/account"], last_days(1), raise_on_error=False)


def tick(clock: SimTime, cursor: str | None = None):
    """One evaluation of the change sensor at the clock's now: (requests for `account`, the new cursor)."""
    defs = build_definitions(clock=clock)
    with dg.instance_for_test() as instance, dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=build_resources(clock=clock)
    ) as context:
        result = defs.resolve_sensor_def("zuora_changes")(context)
    return [r for r in result.run_requests or [] if r.tags["zuora/model"] == "account"], result.cursor


def test_a_change_two_minutes_before_midnight_is_in_yesterdays_partition_after_midnight_plus_lag(
    destination, serve, monkeypatch
):
    monkeypatch.delenv("ZUORA_LAG_SECONDS", raising=False)  # the default lag: 900 s
    day = datetime.now(UTC).date() - timedelta(days=2)
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    sim = serve(seed=8, accounts=12, days=3, now=midnight - timedelta(hours=1), clock_follows_wall=False)
    clock = SimTime(sim)
    materialize(["zuora/account"], [day.isoformat()], clock=clock)  # the day, synced until 23:00

    sim.set_clock(midnight - timedelta(minutes=2))
    late = sim.upsert("Account", {"Name": "Two Minutes To Midnight"})
    victim = sim.truth("account", *day_window(day.isoformat())).column("id")[0].as_py()
    sim.set_clock(midnight - timedelta(minutes=1))
    sim.delete("Account", victim)  # Object Query never reports a delete: the tail catches it

    sim.set_clock(midnight + timedelta(minutes=5))  # past midnight, not yet past midnight + lag
    early, cursor = tick(clock)
    assert early == [], "the change is younger than the lag"

    sim.set_clock(midnight + timedelta(minutes=16))  # the first tick past midnight + lag
    requests, cursor = tick(clock, cursor)
    [request] = requests
    assert (request.partition_key, request.tags[MODE_TAG]) == (day.isoformat(), "append")
    run = materialize(
        [key.to_user_string() for key in request.asset_selection], [request.partition_key], tags=request.tags,
        clock=clock,
    )
    assert run.success

    table = partition_table("account", day.isoformat())
    names = dict(zip(table.column("id").to_pylist(), table.column("name").to_pylist(), strict=True))
    assert names[late["Id"]] == "Two Minutes To Midnight"
    tombstones = table.filter(pc.equal(table.column("id"), victim)).column("_deleted").to_pylist()
    assert True in tombstones, "the delete one minute before midnight is in yesterday's partition too"
    sim.set_clock(midnight + timedelta(minutes=21))
    assert tick(clock, cursor)[0] == [], "the tail is synced to midnight: nothing more to request"
