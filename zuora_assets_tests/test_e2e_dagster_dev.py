"""End to end through `dagster dev`: a backfill and the change sensor against the simulator and moto (issue 7).

The webserver and daemon run as `make dev` runs them, on a code location that is the project's definitions
with the test's clock (`e2e_location`: wall time shifted to read noon UTC, so no day changes while the test
runs, whenever it starts) as their `clock` resource; the test drives them through the webserver's
GraphQL API only, and checks the results where users see them: S3 keys, Glue tables, and
`<model>_current` (the view's SQL stored in Glue, run in DuckDB over the files on moto).

The simulated tenant's history ends an hour before midnight (UTC), so nothing has changed today
until the test changes records: the sensor's first tick must then request nothing, and the change
to accounts must bring exactly one append-mode run of account.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
import sqlglot

from zuora_assets.athena.presto_view import decode_view_text
from zuora_assets.defs.clock import Clock
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests import dagster_dev as dd
from zuora_assets_tests.pipeline import SNAPSHOT, arrow_fs, day_window, lake_keys, last_days, moto_settings
from zuora_assets_tests.time_support import ShiftedClock

BUCKET = "zuora-lake-test"  # the bucket `lake_keys` lists
FOLDER = "exports/zuora"
SCHEMA = "zuora_e2e"
MODELS = ("account", "invoice")
DAYS = 7
SENSOR = "zuora_changes"
LOCATION_MODULE = "zuora_assets_tests.e2e_location"  # the project's definitions with the test's clock
# Bounds on waits, not expectations: on a busy 2-core machine no wait took more than 80 s.
BACKFILL_SECONDS = 180.0
SYNC_SECONDS = 180.0
ALLOWED_BACKFILL_STATUSES = {"REQUESTED", "COMPLETED", "COMPLETED_SUCCESS"}
BACKFILL = [f"{group}/{model}" for model in MODELS for group in ("zuora", "athena")]
# The backfill's run executes its steps in one process: a step process per asset and check costs ~5 s of
# imports each on 2 cores. The sensor's append runs keep the default (multiprocess) executor.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


@pytest.fixture
def clock() -> ShiftedClock:
    return noon_clock()


def noon_clock() -> ShiftedClock:
    """The test's clock, and that of the code location: wall time shifted to read noon UTC yesterday. Far from
    midnight, the test's days do not change while it runs, whenever it starts; 12 to 36 hours behind the wall
    clock, a transfer named by wall time instead is told apart; and yesterday is a partition Dagster (whose
    partitions end with the wall clock's today) has."""
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return ShiftedClock.reading(noon - timedelta(days=1))


@pytest.fixture
def tenant(clock):
    """A tenant whose generated history ends at 23:00 UTC yesterday, its clock following wall time."""
    with Simulator(SimConfig(seed=17, accounts=12, days=10, now=midnight_before(clock) - timedelta(hours=1))) as sim:
        yield sim


def midnight_before(clock) -> datetime:
    return clock.now().replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def settings(tenant, moto, clock) -> dict[str, str]:
    """The environment of `dagster dev`: the simulator, a bucket on the moto server, the test's clock."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    return {**dev_environment(tenant.base_url, moto.endpoint, clock.now().date()), **clock.environment()}


def dev_environment(simulator_url: str, moto_endpoint: str, today: date) -> dict[str, str]:
    """This process's environment without any Zuora or AWS setting, plus the test's settings."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ZUORA_", "AWS_", "DAGSTER_"))}
    return {
        **inherited,
        **moto_settings(moto_endpoint, bucket=BUCKET, folder=FOLDER, schema=SCHEMA, today=today),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "ZUORA_SIMULATOR_URL": simulator_url,
        "ZUORA_LAG_SECONDS": "0",
        "ZUORA_SENSOR_INTERVAL_SECONDS": "5",
        "ZUORA_POLL_INITIAL_SECONDS": "0.05",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }


@pytest.mark.slow
@pytest.mark.timeout(900)  # the waits below are bounded; this only stops a hang
def test_backfill_then_sensor_through_dagster_dev(settings, tenant, moto, clock, tmp_path):
    # The code location is the project's definitions with the test's clock as their `clock` resource.
    workspace = dd.module_workspace(tmp_path, LOCATION_MODULE)
    # In the test body, not a fixture, so that a failure prints dagster dev's output.
    with dd.dagster_dev(tmp_path / "dagster_home", settings, workspace) as dev:
        backfill_then_sensor(dev, tenant, moto, clock)


def backfill_then_sensor(dev: dd.DagsterProcesses, tenant: Simulator, moto, clock: Clock) -> None:
    """`clock` reads the same "now" as the code location's `clock` resource."""
    started = clock.now().replace(microsecond=0)
    days = last_days(DAYS, clock.now().date())
    backfill_id = dd.launch_backfill(dev, BACKFILL, days, run_config=IN_PROCESS)
    the_ui_shows_every_model_check_sensor_and_schedule(dev)  # while the daemon picks the backfill up

    backfill_runs = wait_for_backfill_runs(dev, backfill_id)
    each_asset_is_in_one_run_over_all_days(backfill_runs, days)
    backfilled = files_and_tables_landed(tenant, moto, days)

    the_sensor_skips_while_nothing_changed(dev)
    tenant.set_clock(clock.now())  # changes happen today, at the code location's time
    deleted, renamed = change_accounts(tenant, days)
    an_append_run_of_account_follows(dev, today=days[-1])
    the_append_added_files_to_today_only(moto, backfilled["account"], today=days[-1])
    every_transfer_is_named_by_the_clock(moto, started, clock.now())

    current = current_rows(moto, "account", SCHEMA)
    names = dict(zip(current.column("id").to_pylist(), current.column("name").to_pylist(), strict=True))
    assert names[renamed] == "Renamed by the e2e test" and deleted not in names
    for model in MODELS:
        assert_current_equals_truth(moto, tenant, model, days)
    # The daemon marks a backfill done on its next pass (every 30 s) after the last run: checked last.
    dd.wait_for(f"backfill {backfill_id} to be COMPLETED_SUCCESS", lambda: backfill_state(dev, backfill_id)[0]
                == "COMPLETED_SUCCESS", BACKFILL_SECONDS, every=2)


# ----- the steps -----


def the_ui_shows_every_model_check_sensor_and_schedule(dev: dd.DagsterProcesses) -> None:
    """The webserver's repository has the definitions snapshot's assets and checks, the sensor and schedule."""
    snapshot = json.loads(SNAPSHOT.read_text())
    repo = dd.repository(dev)
    assets = {"/".join(node["assetKey"]["path"]) for node in repo["assetNodes"]}
    checks = {
        f"{'/'.join(node['assetKey']['path'])}:{check['name']}"
        for node in repo["assetNodes"]
        for check in node["assetChecksOrError"].get("checks", [])
    }
    assert len(assets) == 4 * 28 and assets == set(snapshot["assets"])  # zuora/, athena/, health/, zuora_reconcile/
    assert checks == set(snapshot["checks"])
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]}
    assert sensors[SENSOR] == "STOPPED" and schedules["nightly_consolidation"] == "STOPPED"
    assert schedules["lake_health_daily"] == "STOPPED"


def wait_for_backfill_runs(dev: dd.DagsterProcesses, backfill_id: str) -> list[dict]:
    """The backfill's runs once they cover every selected asset and all succeeded; fails with their errors."""

    def done() -> list[dict] | None:
        _, found = backfill_state(dev, backfill_id)
        covered = {"/".join(key["path"]) for run in found for key in run["assetSelection"]}
        finished = found and all(r["status"] == "SUCCESS" for r in found)
        return found if finished and covered == set(BACKFILL) else None

    return dd.wait_for(f"the runs of backfill {backfill_id} to succeed", done, BACKFILL_SECONDS, every=2)


def backfill_state(dev: dd.DagsterProcesses, backfill_id: str) -> tuple[str, list[dict]]:
    """The backfill's status and runs; fails with the runs' errors once it or one of its runs failed."""
    status = dd.backfill(dev, backfill_id)
    found = dd.runs(dev, {"dagster/backfill": backfill_id})
    if status["status"] not in ALLOWED_BACKFILL_STATUSES or any(r["status"] in ("FAILURE", "CANCELED") for r in found):
        raise AssertionError(
            f"backfill {backfill_id} is {status['status']} ({status.get('error')})\n" + dd.failures(dev, found)
        )
    return status["status"], found


def each_asset_is_in_one_run_over_all_days(backfill_runs: list[dict], days: list[str]) -> None:
    """single_run backfill policy: one run per asset set, spanning all the days, not one run per day."""
    in_runs = Counter("/".join(key["path"]) for run in backfill_runs for key in run["assetSelection"])
    assert in_runs == Counter(BACKFILL)
    for run in backfill_runs:
        assert run["tags"]["dagster/asset_partition_range_start"] == days[0]
        assert run["tags"]["dagster/asset_partition_range_end"] == days[-1]


def files_and_tables_landed(tenant: Simulator, moto, days: list[str]) -> dict[str, list[str]]:
    """Each model's files have the exact key layout and the tenant's rows per day; its table and view exist.

    Returns the S3 keys of each model's files.
    """
    s3, glue = moto.client("s3"), moto.client("glue")
    landed = {model: lake_keys(s3, model) for model in MODELS}
    for model, keys in landed.items():
        layout = re.compile(rf"^{re.escape(FOLDER)}/{model}/dt=\d{{4}}-\d{{2}}-\d{{2}}/\d+_\d{{14}}\.parquet$")
        assert keys and [k for k in keys if not layout.match(k)] == []
        expected = {dt: tenant.truth(model, *day_window(dt)).num_rows for dt in days}
        assert rows_per_dt(moto, model, days) == expected, model
        table = glue.get_table(DatabaseName=SCHEMA, Name=model)["Table"]
        assert table["TableType"] == "EXTERNAL_TABLE"
        assert table["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/{FOLDER}/{model}/"
        view = glue.get_table(DatabaseName=SCHEMA, Name=f"{model}_current")["Table"]
        assert view["TableType"] == "VIRTUAL_VIEW"
    return landed


def the_sensor_skips_while_nothing_changed(dev: dd.DagsterProcesses) -> None:
    assert dd.start_sensor(dev, SENSOR) == "RUNNING"
    tick = dd.wait_for(f"a completed tick of {SENSOR}", lambda: finished_tick(dev), SYNC_SECONDS)
    assert tick["status"] == "SKIPPED", tick
    assert tick["skipReason"].startswith("no Zuora changes since the last sync"), tick


def finished_tick(dev: dd.DagsterProcesses) -> dict | None:
    ticks = [t for t in dd.sensor_ticks(dev, SENSOR) if t["status"] != "STARTED"]
    if any(t["status"] == "FAILURE" for t in ticks):
        raise AssertionError(f"a tick of {SENSOR} failed: {ticks}")
    return ticks[-1] if ticks else None


def change_accounts(tenant: Simulator, days: list[str]) -> tuple[str, str]:
    """Delete one synced account, then rename another; returns (deleted id, renamed id).

    The delete comes first: Object Query shows no deleted records, so the rename is what the sensor
    sees, and the append run it requests reads the delete too.
    """
    synced = tenant.truth("account", *history_window(days))
    alive = synced.filter(pc.invert(synced.column("_deleted"))).column("id").to_pylist()
    tenant.delete("Account", alive[0])
    tenant.upsert("Account", {"Id": alive[1], "Name": "Renamed by the e2e test"})
    return alive[0], alive[1]


def an_append_run_of_account_follows(dev: dd.DagsterProcesses, today: str) -> None:
    """The sensor requests one append-mode run of today's account partition, and it succeeds."""
    append = {"zuora/mode": "append"}

    def succeeded() -> bool:
        found = dd.runs(dev, append)
        if any(r["status"] in ("FAILURE", "CANCELED") for r in found):
            raise AssertionError("an append run failed:\n" + dd.failures(dev, found))
        return any(r["status"] == "SUCCESS" for r in found)

    dd.wait_for("a successful append-mode run of account", succeeded, SYNC_SECONDS, every=2)
    found = dd.runs(dev, append)
    assert [(r["tags"]["zuora/model"], r["tags"]["dagster/partition"]) for r in found] == [
        ("account", today)
    ]
    assert sorted("/".join(k["path"]) for k in found[0]["assetSelection"]) == ["athena/account", "zuora/account"]


def the_append_added_files_to_today_only(moto, before: list[str], today: str) -> None:
    """Append mode keeps every file there was and adds new ones to today's partition."""
    after = set(lake_keys(moto.client("s3"), "account"))
    assert set(before) <= after, "an append run deleted files"
    added = after - set(before)
    assert added and all(f"/dt={today}/" in key for key in added), added


def the_nightly_consolidation_replaces_yesterday(dev: dd.DagsterProcesses, tenant: Simulator, moto,
                                                days: list[str]) -> None:
    """The schedule's tick after midnight asks for yesterday in replace mode; its run leaves one transfer there.

    The tick is evaluated by the code location for the coming 02:30 UTC, then its run request launched as
    the daemon launches it (in one process, as the backfill's); the daemon's clock is not ours to move.
    """
    yesterday = days[-2]
    before_tick = datetime.fromisoformat(days[-1]).replace(hour=2, minute=29, tzinfo=UTC)
    (request,) = dd.schedule_dry_run(dev, "nightly_consolidation", before_tick.timestamp())
    tags = {t["key"]: t["value"] for t in request["tags"]}
    assert request["runKey"] == f"consolidate:{yesterday}" and tags["zuora/mode"] == "replace", request
    before = {model: lake_keys(moto.client("s3"), model) for model in MODELS}
    run_id = dd.launch_request(dev, request, run_config=IN_PROCESS)

    def finished() -> dict | None:
        (run,) = [r for r in dd.runs(dev, {"zuora/mode": "replace"}) if r["runId"] == run_id]
        return run if run["status"] in dd.FINAL_RUN_STATUSES else None

    run = dd.wait_for(f"the consolidation run {run_id}", finished, BACKFILL_SECONDS, every=2)
    assert run["status"] == "SUCCESS", dd.failures(dev, [run])
    assert run["tags"]["dagster/partition"] == yesterday
    for model in MODELS:
        after = lake_keys(moto.client("s3"), model)
        in_yesterday = [k for k in after if f"/dt={yesterday}/" in k]
        assert len({transfer_time(k) for k in in_yesterday}) == 1, f"{model}: {in_yesterday}"
        assert not set(in_yesterday) & set(before[model]), f"{model}: yesterday's old files are still there"
        assert [k for k in after if f"/dt={yesterday}/" not in k] == [k for k in before[model]
                                                                       if f"/dt={yesterday}/" not in k]
        assert rows_per_dt(moto, model, days)[yesterday] == tenant.truth(model, *day_window(yesterday)).num_rows
        assert_current_equals_truth(moto, tenant, model, days)


def every_transfer_is_named_by_the_clock(moto, started: datetime, ended: datetime) -> None:
    """Every file's transfer is named by a moment of the test's clock while it ran: the runs read the clock
    resource (the code location's shifted clock), not the wall clock."""
    for model in MODELS:
        named = {transfer_time(key) for key in lake_keys(moto.client("s3"), model)}
        outside = sorted(t for t in named if not started <= datetime.strptime(t, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
                         <= ended)
        assert named and outside == [], f"{model}: transfers named outside {started}..{ended}: {outside}"


def transfer_time(key: str) -> str:
    """The snapshot time of the transfer that wrote the file `key` (`<part>_<YYYYMMDDHHMMSS>.parquet`)."""
    return key.rsplit("_", 1)[1].removesuffix(".parquet")


# ----- reading what users see -----


def history_window(days: list[str]) -> tuple[datetime, datetime]:
    return day_window(days[0])[0], day_window(days[-1])[1]


def lake_dataset(moto, model: str) -> pads.Dataset:
    return pads.dataset(f"{BUCKET}/{FOLDER}/{model}/", filesystem=arrow_fs(moto), partitioning="hive")


def rows_per_dt(moto, model: str, days: list[str]) -> dict[str, int]:
    landed = Counter(lake_dataset(moto, model).to_table(columns=["dt"]).column("dt").to_pylist())
    assert set(landed) <= set(days), f"{model}: files outside the backfilled days: {sorted(landed)}"
    return {dt: landed.get(dt, 0) for dt in days}


def current_rows(moto, model: str, database: str) -> pa.Table:
    """`<model>_current` as Athena would show it: the SQL stored in the Glue view, run in DuckDB over the files."""
    view = moto.client("glue").get_table(DatabaseName=database, Name=f"{model}_current")["Table"]
    athena_sql = decode_view_text(view["ViewOriginalText"])["originalSql"]
    with duckdb.connect() as con:
        con.register("lake_files", lake_dataset(moto, model).to_table())
        con.execute(f'CREATE SCHEMA "{database}"')
        con.execute(f'CREATE TABLE "{database}"."{model}" AS SELECT * FROM lake_files')
        return con.sql(sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]).to_arrow_table()


def assert_current_equals_truth(moto, tenant: Simulator, model: str, days: list[str]) -> None:
    """The view holds exactly the simulator's live records changed since the backfill's first day."""
    truth = tenant.truth(model, *history_window(days))
    live = truth.filter(pc.invert(truth.column("_deleted"))).drop_columns(["_deleted"]).sort_by("id")
    got = current_rows(moto, model, SCHEMA).select(live.column_names).sort_by("id")
    assert got.to_pylist() == live.to_pylist(), model
