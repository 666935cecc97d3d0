"""The lake health report (issue 15, point 4), through the real assets in the local lake and in S3 on moto: after
a backfill, appends and a consolidation with updates and deletes in the simulator, every figure equals a count
taken independently from the files (os.walk / list_objects_v2 for files and bytes, pyarrow reading the Parquet
whole for versions)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zuora_assets.definitions import build_definitions
from zuora_assets.defs.assets import CONSOLIDATION_TAG, MODE_TAG
from zuora_assets.defs.health import VERSIONS, view_reads
from zuora_assets.defs.resources import aws_clients, duckdb_catalog, lake_folder, lake_storage
from zuora_assets.lake import layout
from zuora_assets.lake.health import model_health
from zuora_assets.lake.health_file import read_report, write_report
from zuora_assets.lake.s3 import S3Storage
from zuora_assets.lake.storage import ObjectInfo, StorageError
from zuora_assets.settings import Settings, SettingsError
from zuora_assets_tests.iam_moto import (
    create_bucket,
    create_user,
    enforce_iam,
    exact_seed_policy,
    moto_resource_arns,  # noqa: F401  (a fixture)
    without_action,
)
from zuora_assets_tests.lake_support import StorageWrapper, storage_fixture  # noqa: F401  (a fixture)
from zuora_assets_tests.pipeline import materialize, moto_settings
from zuora_assets_tests.s3_counter import S3Counter
from zuora_assets_tests.test_defs_pipeline import arrow_fs
from zuora_assets_tests.time_support import SimTime

BUCKET = "health-lake"
MODEL = "account"


@pytest.fixture(params=["local", "s3"])
def destination(request, local_lake, monkeypatch):
    """The lake of the runs: the local folder, or a bucket on the moto server."""
    monkeypatch.setenv("ZUORA_LAG_SECONDS", "60")
    if request.param == "s3":
        moto = request.getfixturevalue("moto")
        moto.client("s3").create_bucket(Bucket=BUCKET)
        for name, value in moto_settings(
            moto.endpoint, bucket=BUCKET, folder="zuora", schema="health"
        ).items():
            monkeypatch.setenv(name, value)
        aws_clients.cache_clear()
        yield moto
    else:
        yield None
    aws_clients.cache_clear()


def listed_files(moto) -> list[tuple[str, int]]:
    """(key, size) of every data file of the model: list_objects_v2 on S3, os.walk in the local lake."""
    settings = Settings.from_env()
    prefix = f"{lake_folder(settings)}/{MODEL}/"
    if moto is not None:
        pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        found = [(o["Key"], o["Size"]) for page in pages for o in page.get("Contents", [])]
    else:
        root = settings.local_dir
        found = [
            (Path(dirpath, name).relative_to(root).as_posix(), os.path.getsize(Path(dirpath, name)))
            for dirpath, _, names in os.walk(root / prefix)
            for name in names
        ]
    return sorted((key, size) for key, size in found if key.endswith(".parquet"))


def open_file(moto, key: str):
    if moto is not None:
        return arrow_fs(moto).open_input_file(f"{BUCKET}/{key}")
    return open(Settings.from_env().local_dir / key, "rb")


def independent_counts(moto, small_file_bytes: int) -> dict:
    """The report's figures counted straight from the files, reading every row."""
    per_dt: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    latest: dict[str, tuple] = {}
    ids_per_dt: dict[str, set] = defaultdict(set)
    scan = 0
    for key, size in listed_files(moto):
        dt = key.split("/")[-2].removeprefix("dt=")
        with open_file(moto, key) as source:
            parquet = pq.ParquetFile(source)
            table = parquet.read()
            scan += sum(
                parquet.metadata.row_group(g).column(c).total_compressed_size
                for g in range(parquet.metadata.num_row_groups)
                for c in range(parquet.metadata.num_columns)
            )
        counts = per_dt[dt]
        counts["files"] += 1
        counts["bytes"] += size
        counts["rows"] += table.num_rows
        counts["small_files"] += size < small_file_bytes
        for row in table.select(["id", "updated_date", "_transferred_at", "_deleted"]).to_pylist():
            counts["tombstones"] += bool(row["_deleted"])
            ids_per_dt[dt].add(row["id"])
            u, t = row["updated_date"], row["_transferred_at"]
            rank = (u is not None, u or datetime.min, t is not None, t or datetime.min, bool(row["_deleted"]))
            if row["id"] not in latest or rank > latest[row["id"]]:
                latest[row["id"]] = rank
    for dt, counts in per_dt.items():
        counts["duplicates"] = counts["rows"] - len(ids_per_dt[dt])
    return {
        "per_dt": {dt: dict(c) for dt, c in per_dt.items()},
        "records": len(latest),
        "live": sum(1 for rank in latest.values() if not rank[-1]),
        "scan_bytes": scan,
    }


def manifest_transfers(storage, folder: str) -> list[str]:
    return sorted(
        layout.ts_of_manifest_key(o.key) for o in storage.list(layout.manifests_prefix(folder, MODEL))
    )


def health_run(clock) -> dict:
    """Materialize `health/account` at the clock's now; its materialization metadata (plain values)."""
    defs = build_definitions(os.environ, clock)
    result = dg.materialize(
        list(defs.assets),
        selection=["health/account"],
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    [materialization] = result.asset_materializations_for_node("lake_health")
    assert materialization.asset_key == dg.AssetKey(["health", MODEL])
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def assert_report_matches_files(moto, clock_now: datetime) -> dict:
    metadata_values = health_run(SimTimeAt(clock_now))
    settings = Settings.from_env()
    storage, folder = lake_storage(settings), lake_folder(settings)
    expected = independent_counts(moto, 16 * 1024 * 1024)
    per_dt = expected["per_dt"]

    assert metadata_values["rows"] == sum(c["rows"] for c in per_dt.values()) > 0
    assert metadata_values["files"] == sum(c["files"] for c in per_dt.values())
    assert metadata_values["bytes"] == sum(c["bytes"] for c in per_dt.values())
    assert metadata_values["small_files"] == sum(c["small_files"] for c in per_dt.values())
    assert metadata_values["tombstones"] == sum(c["tombstones"] for c in per_dt.values())
    assert metadata_values["duplicate_versions"] == sum(c["duplicates"] for c in per_dt.values())
    assert metadata_values["live_records"] == expected["live"]
    assert metadata_values["deleted_records"] == expected["records"] - expected["live"]
    assert metadata_values["athena_scan_bytes"] == expected["scan_bytes"]
    assert (metadata_values["oldest_dt"], metadata_values["newest_dt"]) == (min(per_dt), max(per_dt))
    assert metadata_values["uncommitted_files"] == 0
    table = {r.data["dt"]: r.data for r in metadata_values["per_day"].records}
    names = ("files", "bytes", "rows", "small_files", "tombstones", "duplicates")
    assert {dt: {n: row[n] for n in names} for dt, row in table.items()} == {
        dt: {n: c.get(n, 0) for n in names} for dt, c in per_dt.items()
    }
    assert "█" in metadata_values["per_day_chart"]

    last = manifest_transfers(storage, folder)[-1]
    assert metadata_values["last_sync"] == layout.parse_ts(last).timestamp()
    state = json.loads(storage.get_bytes(layout.state_key(folder, MODEL)))
    hwm = datetime.fromisoformat(state["high_water_mark"])
    assert metadata_values["lag_seconds"] == (clock_now - hwm).total_seconds()

    summary = read_report(storage, folder)[MODEL]
    assert summary["live"] == expected["live"] and summary["rows"] == metadata_values["rows"]
    assert summary["last_sync"] == layout.parse_ts(last).isoformat()
    assert len(storage.get_bytes(f"{folder}/_zuora/health.json")) < 4096, "one small JSON"
    return expected


class SimTimeAt:
    """A clock fixed at one moment."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the health report never waits")


def test_the_health_report_equals_counts_taken_from_the_files(destination, serve):
    day = datetime.now(UTC).date() - timedelta(days=3)
    morning = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
    sim = serve(seed=15, accounts=12, days=5, now=morning, clock_follows_wall=False)
    clock = SimTime(sim)
    backfill = [(day - timedelta(days=k)).isoformat() for k in range(3, -1, -1)]
    materialize([f"zuora/{MODEL}"], backfill, clock=clock)

    ids = sim.truth(MODEL, morning - timedelta(days=5), morning).column("id").to_pylist()
    changed, gone, later_gone = ids[0], ids[1], ids[2]
    for hour, actions in (
        (12, [("update", changed), ("delete", gone), ("create", None)]),
        (13, [("update", changed), ("delete", later_gone)]),
    ):
        sim.set_clock(morning.replace(hour=hour))
        for action, record in actions:
            if action == "delete":
                sim.delete("Account", record)
            else:
                sim.upsert("Account", {"Name": f"Changed at {hour}", **({"Id": record} if record else {})})
        sim.set_clock(morning.replace(hour=hour, minute=5))
        materialize([f"zuora/{MODEL}"], [day.isoformat()], tags={MODE_TAG: "append"}, clock=clock)

    appended = assert_report_matches_files(destination, morning.replace(hour=13, minute=10))
    assert appended["per_dt"][day.isoformat()]["duplicates"] >= 2, "two appended versions of one record"
    assert sum(c.get("tombstones", 0) for c in appended["per_dt"].values()) >= 2

    sim.set_clock(morning + timedelta(hours=18))  # 03:00 the next day: the nightly consolidation of `day`
    materialize(
        [f"zuora/{MODEL}"],
        [day.isoformat()],
        tags={MODE_TAG: "replace", CONSOLIDATION_TAG: "true"},
        clock=clock,
    )
    consolidated = assert_report_matches_files(destination, morning + timedelta(hours=18, minutes=30))
    assert consolidated["per_dt"][day.isoformat()]["duplicates"] == 0, "the consolidation removed them"
    assert consolidated["per_dt"][day.isoformat()]["files"] == 1
    assert consolidated["live"] == appended["live"] and consolidated["records"] == appended["records"]
    if destination is None:  # the embedded catalog runs the view's SQL: its rows are the live records
        materialize([f"athena/{MODEL}"], [day.isoformat()], clock=clock)
        with duckdb_catalog(Settings.from_env()) as catalog:
            [(count,)] = catalog.query(f"select count(*) from {MODEL}_current")
        assert count == consolidated["live"]


def test_small_files_and_uncommitted_files_are_counted(destination, serve):
    """A threshold between file sizes splits them; a data file without a manifest is uncommitted."""
    now = datetime.now(UTC).replace(microsecond=0)
    serve(seed=4, accounts=20, days=6, now=now, clock_follows_wall=False)
    days = [(now.date() - timedelta(days=k)).isoformat() for k in range(5, 0, -1)]
    materialize([f"zuora/{MODEL}"], days, clock=SimTimeAt(now))
    settings = Settings.from_env()
    storage, folder = lake_storage(settings), lake_folder(settings)
    files = listed_files(destination)
    sizes = sorted(size for _, size in files)
    threshold = sizes[len(sizes) // 2]
    stray_key, _ = files[0]
    part, ts = layout.parse_data_key(stray_key)
    stray = stray_key.replace(f"{part}_{ts}", f"{part}_{layout.next_ts(ts)}")
    storage.put_bytes(stray, storage.get_bytes(stray_key))

    report = model_health(
        storage, folder, MODEL, VERSIONS, now=now, scanned_columns=view_reads, small_file_bytes=threshold
    )
    sizes.append(dict(files)[stray_key])
    assert report.small_files == sum(1 for s in sizes if s < threshold) > 0
    assert report.small_files < report.files == len(sizes)
    assert report.uncommitted_files == 1
    expected = independent_counts(destination, threshold)
    assert report.rows == sum(c["rows"] for c in expected["per_dt"].values())
    assert report.small_files == sum(c["small_files"] for c in expected["per_dt"].values())


def test_a_file_without_the_version_columns_is_named(local_lake):
    settings = Settings.from_env()
    storage, folder = lake_storage(settings), lake_folder(settings)
    path = Path(settings.local_dir, folder, MODEL, "dt=2026-11-01", "0_20261101000000.parquet")
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"name": ["x"]}), path)
    with pytest.raises(
        StorageError, match=r"model 'account': .*0_20261101000000.parquet has no column\(s\) \['id'"
    ):
        model_health(storage, folder, MODEL, VERSIONS, now=datetime.now(UTC))


def test_an_empty_lake_reports_zeros(local_lake):
    settings = Settings.from_env()
    report = model_health(
        lake_storage(settings), lake_folder(settings), MODEL, VERSIONS, now=datetime.now(UTC)
    )
    assert (report.rows, report.files, report.live, report.last_sync, report.oldest_dt) == (
        0,
        0,
        0,
        None,
        None,
    )


def test_bad_health_settings_name_the_variable_and_the_rule():
    with pytest.raises(SettingsError) as err:
        Settings.from_env(
            {
                "ZUORA_HEALTH_SMALL_FILE_MB": "0",
                "ZUORA_HEALTH_MEMORY_MB": "lots",
                "ZUORA_HEALTH_CRON": "daily",
            }
        )
    assert err.value.problems == (
        "ZUORA_HEALTH_CRON: 'daily' is not a cron expression: use five fields: minute hour day-of-month month "
        "day-of-week, e.g. 30 2 * * *",
        "ZUORA_HEALTH_SMALL_FILE_MB: '0' is not a whole number of MiB from 1 to 5120",
        "ZUORA_HEALTH_MEMORY_MB: 'lots' is not a whole number of MiB from 64 to 65536",
    )
    health = Settings.from_env({}).health
    assert (health.cron, health.small_file_bytes, health.memory_mb) == ("30 4 * * *", 16 * 1024 * 1024, 512)
    schedule = build_definitions({"ZUORA_HEALTH_CRON": "15 5 * * *"}).resolve_schedule_def("lake_health_daily")
    assert schedule.cron_schedule == "15 5 * * *"


def test_the_report_reads_listings_footers_and_version_columns_only(moto, local_lake, serve, monkeypatch):
    """S3 requests of one model's report, counted at a proxy in front of moto (boto3's and pyarrow's alike)."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    for name, value in moto_settings(moto.endpoint, bucket=BUCKET, folder="zuora", schema="health").items():
        monkeypatch.setenv(name, value)
    aws_clients.cache_clear()
    now = datetime.now(UTC).replace(microsecond=0)
    serve(seed=4, accounts=20, days=6, now=now, clock_follows_wall=False)
    days = [(now.date() - timedelta(days=k)).isoformat() for k in range(5, 0, -1)]
    materialize([f"zuora/{MODEL}"], days, clock=SimTimeAt(now))
    files = listed_files(moto)
    with S3Counter(moto.endpoint) as counter:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        storage = S3Storage(
            session.client("s3", endpoint_url=counter.url), BUCKET, credentials=session.get_credentials
        )
        report = model_health(storage, "zuora", MODEL, VERSIONS, now=now)
    aws_clients.cache_clear()
    row_groups = 1  # the simulator's small files: one row group each
    assert report.files == len(files) > 1
    assert counter.counts["LIST"] == 2, "one listing of the files, one of the manifests"
    assert counter.counts["PUT"] == 0 and counter.counts["DELETE"] == 0, "a report never writes the lake"
    assert counter.keys[f"/{BUCKET}/zuora/_zuora/state/{MODEL}.json"] == 1
    for key, _ in files:  # a HEAD (pyarrow opening it), its footer, its version columns (one coalesced range)
        assert counter.keys[f"/{BUCKET}/{key}"] == 2 + row_groups
    assert counter.counts["HEAD"] == len(files) and counter.counts["GET"] == 1 + len(files) * (1 + row_groups)


def seed_user_lake(moto, serve, monkeypatch, policy: dict) -> datetime:
    """A synced day of `account` in a bucket, and settings whose keys belong to a user holding only `policy`."""
    region = "eu-west-1"
    now = datetime.now(UTC).replace(microsecond=0)
    serve(seed=4, accounts=10, days=3, now=now, clock_follows_wall=False)
    user = create_user(moto, "health-reader", policy)
    env = {
        **moto_settings(moto.endpoint, bucket=BUCKET, folder="zuora", schema="health"),
        "AWS_BUCKET_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": user.access_key_id,
        "AWS_SECRET_ACCESS_KEY": user.secret_access_key,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws_clients.cache_clear()
    create_bucket(moto, BUCKET, region)
    materialize([f"zuora/{MODEL}"], [(now.date() - timedelta(days=1)).isoformat()], clock=SimTimeAt(now))
    return now


@pytest.mark.usefixtures("moto_resource_arns")
def test_the_report_runs_with_exactly_the_seed_policy(moto, local_lake, serve, monkeypatch):
    """Keys of a user holding only the seed's policy, IAM enforced: the report reads the lake and writes its JSON."""
    now = seed_user_lake(moto, serve, monkeypatch, exact_seed_policy(BUCKET, "health"))
    enforce_iam(moto)
    try:
        metadata_values = health_run(SimTimeAt(now))
    finally:
        moto.set_iam_enforcement(False)
        aws_clients.cache_clear()
    assert metadata_values["rows"] > 0 and metadata_values["files"] >= 1
    s3 = moto.client("s3", region="eu-west-1")
    report = json.loads(s3.get_object(Bucket=BUCKET, Key="zuora/_zuora/health.json")["Body"].read())
    assert report["models"][MODEL]["rows"] == metadata_values["rows"]


@pytest.mark.usefixtures("moto_resource_arns")
def report_account_and_contact(now: datetime) -> dg.ExecuteInProcessResult:
    """The health of account and contact, computed by the real assets with the clock at `now`; failures kept."""
    defs = build_definitions(os.environ, SimTimeAt(now))
    return dg.materialize(
        list(defs.assets),
        selection=["health/account", "health/contact"],
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_refused_read_fails_the_report_at_once_naming_the_permission(moto, local_lake, serve, monkeypatch):
    now = seed_user_lake(
        moto, serve, monkeypatch, without_action(exact_seed_policy(BUCKET, "health"), "s3:GetObject")
    )
    enforce_iam(moto)
    try:
        result = report_account_and_contact(now)
    finally:
        moto.set_iam_enforcement(False)
        aws_clients.cache_clear()
    [failure] = result.get_step_failure_events()
    assert "lacks s3:GetObject" in failure.event_specific_data.error.message
    assert failure.step_failure_data.user_failure_data.metadata["missing_permission"].value == "s3:GetObject"
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in [e.event_type for e in result.all_events]


def test_an_unreadable_model_fails_the_step_naming_it_after_the_others_are_reported(local_lake, serve):
    now = datetime.now(UTC).replace(microsecond=0)
    serve(seed=4, accounts=10, days=3, now=now, clock_follows_wall=False)
    materialize(["zuora/contact"], [(now.date() - timedelta(days=1)).isoformat()], clock=SimTimeAt(now))
    settings = Settings.from_env()
    foreign = Path(settings.local_dir, "zuora", MODEL, "dt=2026-11-01", "0_20261101000000.parquet")
    foreign.parent.mkdir(parents=True)
    pq.write_table(pa.table({"name": ["x"]}), foreign)

    result = report_account_and_contact(now)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert (
        "lake health: 1 model(s) could not be read: account:" in message
        and "has no column(s) ['id'" in message
    )
    assert [m.asset_key for m in result.asset_materializations_for_node("lake_health")] == [
        dg.AssetKey(["health", "contact"])
    ]
    assert set(read_report(lake_storage(settings), "zuora")) == {"contact"}


def test_files_without_rows_count_as_files(local_lake):
    settings = Settings.from_env()
    storage, folder = lake_storage(settings), lake_folder(settings)
    path = Path(settings.local_dir, folder, MODEL, "dt=2026-11-01", "0_20261101000000.parquet")
    path.parent.mkdir(parents=True)
    schema = pa.schema([("id", pa.string()), ("updated_date", pa.timestamp("ms"))])
    schema = schema.append(pa.field("_transferred_at", pa.timestamp("ms"))).append(
        pa.field("_deleted", pa.bool_())
    )
    pq.write_table(schema.empty_table(), path)
    report = model_health(storage, folder, MODEL, VERSIONS, now=datetime.now(UTC))
    assert (report.files, report.rows, report.records, report.uncommitted_files) == (1, 0, 0, 1)
    assert report.oldest_dt == report.newest_dt == "2026-11-01"


def test_the_health_file_keeps_the_other_models_and_merges_a_concurrent_write(storage):
    now = datetime(2026, 11, 29, 4, 30, tzinfo=UTC)
    first = model_health(storage, "zuora", "account", VERSIONS, now=now)
    second = model_health(storage, "zuora", "contact", VERSIONS, now=now)
    write_report(storage, "zuora", [first])

    class Interleaved(StorageWrapper):
        """Another report writes `contact` between this writer's read and its write (once)."""

        raced = False

        def put_bytes(self, key, data, *, if_none_match=True, if_match=None):
            if not self.raced:
                self.raced = True
                write_report(self.inner, "zuora", [second])
            return self.inner.put_bytes(key, data, if_none_match=if_none_match, if_match=if_match)

    later = model_health(storage, "zuora", "account", VERSIONS, now=now + timedelta(days=1))
    write_report(Interleaved(storage), "zuora", [later])
    models = read_report(storage, "zuora")
    assert set(models) == {"account", "contact"}
    assert models["account"]["generated_at"] == (now + timedelta(days=1)).isoformat()


def test_a_file_gone_since_the_listing_is_skipped(storage):
    """A replace that deletes older files while the report reads: the listed file that is gone is not counted."""
    schema = pa.schema(
        [("id", pa.string()), ("updated_date", pa.timestamp("ms")), ("_transferred_at", pa.timestamp("ms"))]
    ).append(pa.field("_deleted", pa.bool_()))
    sink = pa.BufferOutputStream()
    pq.write_table(
        pa.table(
            {"id": ["a", "a"], "updated_date": [1, 2], "_transferred_at": [1, 1], "_deleted": [False, True]},
            schema,
        ),
        sink,
    )
    kept = "zuora/account/dt=2026-11-01/0_20261101000000.parquet"
    storage.put_bytes(kept, sink.getvalue().to_pybytes())
    gone = "zuora/account/dt=2026-11-01/0_20261101010101.parquet"

    class ListsAGoneFile(StorageWrapper):
        def list(self, prefix):
            found = self.inner.list(prefix)
            return (
                sorted([*found, ObjectInfo(gone, 1234)], key=lambda o: o.key)
                if "/account/" in prefix
                else found
            )

    report = model_health(ListsAGoneFile(storage), "zuora", MODEL, VERSIONS, now=datetime.now(UTC))
    assert (report.files, report.rows, report.tombstones, report.duplicates) == (1, 2, 1, 1)
    assert (report.records, report.live, report.deleted) == (1, 0, 1)
