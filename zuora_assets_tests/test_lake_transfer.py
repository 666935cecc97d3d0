"""write_transfer against a local folder and S3 (moto): layout, replace/append, failures, manifests, timestamps.

Overlapping transfers (the snapshot order) are in test_lake_order.py; the sync state in test_lake_state.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zuora_assets.lake import layout
from zuora_assets.lake.manifest import read_manifests
from zuora_assets.lake.parquet import FileLimits
from zuora_assets.lake.readers import files_in_partition, partition_dataset
from zuora_assets.lake.storage import ObjectInfo, Storage, StorageError
from zuora_assets.lake.transfer import PartitionWrite, write_transfer
from zuora_assets_tests.lake_support import (  # noqa: F401 (storage_fixture is the `storage` fixture)
    FOLDER,
    MODEL,
    SCHEMA,
    T0,
    StorageWrapper,
    TestClock,
    batches,
    data_keys,
    days,
    fixed_clock,
    rows,
    storage_fixture,
    window_of,
)

DATA_KEY = re.compile(rf"^{FOLDER}/{MODEL}/dt=\d{{4}}-\d{{2}}-\d{{2}}/\d+_\d{{14}}\.parquet$")
SMALL_FILES = FileLimits(row_group_bytes=4_000, file_bytes=6_000)
CLOCK = TestClock(tick=1.0)  # every transfer of this module reads a later second


def write(
    storage: Storage, dts: list[str], records: list[dict] | None = None, **kwargs
) -> list[PartitionWrite]:
    """write_transfer with the test defaults: model invoice_item in folder zuora, replace, the module's clock."""
    args = {
        "folder": FOLDER,
        "model": MODEL,
        "schema": SCHEMA,
        "batches": batches(records if records is not None else rows(dts, 20)),
        "partition_column": "updated_date",
        "partitions": dts,
        "window": window_of(dts),
        "mode": "replace",
        "clock": CLOCK.now,
        "sleep": CLOCK.sleep,
        **kwargs,
    }
    return write_transfer(storage, **args)


def partition_ids(storage: Storage, dt: str) -> list[str]:
    """The ids visible in partition `dt` right now, as an independent pyarrow reader sees them."""
    keys = [o.key for o in files_in_partition(storage, FOLDER, MODEL, dt)]
    if not keys:
        return []
    filesystem, base = storage.arrow_filesystem()
    return sorted(
        pq.read_table([f"{base}/{k}" for k in keys], filesystem=filesystem).column("id").to_pylist()
    )


def transfers_in(storage: Storage, dt: str) -> set[str]:
    """The transfer timestamps of the data files of partition `dt`."""
    return {layout.parse_data_key(o.key)[1] for o in files_in_partition(storage, FOLDER, MODEL, dt)}


def test_layout_splits_parts_and_writes_only_data_files(storage: Storage) -> None:
    dts = days("2026-11-01", 2)
    writes = write(storage, dts, rows(dts, 300), limits=SMALL_FILES)

    keys = data_keys(storage)
    assert keys and all(DATA_KEY.match(k) for k in keys), keys
    assert all(o.size > 0 for o in storage.list(f"{FOLDER}/"))
    for w in writes:
        assert len(w.files) > 1, "the lowered file limit must split the partition into parts"
        parts = sorted(layout.parse_data_key(f.key) for f in w.files)
        assert parts == [(i, w.transfer_ts) for i in range(len(w.files))]
        assert w.rows == 300 and w.bytes == sum(f.size for f in w.files)
    assert sorted(f.key for w in writes for f in w.files) == keys


def test_thirty_days_in_one_call_is_one_transfer_per_dt_under_one_timestamp(storage: Storage) -> None:
    dts = days("2026-10-01", 30)
    snapshot = datetime(2026, 10, 31, 1, 2, 3, tzinfo=UTC)
    writes = write(storage, dts, rows(dts, 3), snapshot=snapshot)

    assert [w.dt for w in writes] == dts
    assert {w.transfer_ts for w in writes} == {"20261031010203"}, "one run is one transfer: one timestamp"
    for w in writes:
        assert transfers_in(storage, w.dt) == {w.transfer_ts}
        assert w.rows == 3
    assert len(read_manifests(storage, FOLDER, MODEL)) == 30


def test_replacing_twice_leaves_one_transfer(storage: Storage) -> None:
    dts = days("2026-11-01", 2)
    first = write(storage, dts)
    second = write(storage, dts, rows(dts, 20, version="v2"))
    third = write(storage, dts, rows(dts, 20, version="v3"))

    for a, b, c in zip(first, second, third, strict=True):
        assert a.transfer_ts < b.transfer_ts < c.transfer_ts
        assert transfers_in(storage, c.dt) == {c.transfer_ts}
        assert c.deleted_keys == [f.key for f in b.files]
    table = partition_dataset(storage, FOLDER, MODEL).to_table()
    assert set(table.column("invoice_id").to_pylist()) == {f"inv-v3-{i}" for i in range(7)}
    assert table.num_rows == 40


class Crash(BaseException):
    """Stands for the process being killed."""


class CrashOnDataDelete(StorageWrapper):
    """Dies when asked to delete data files, i.e. after the new transfer is committed."""

    def delete(self, keys):
        keys = list(keys)
        if any(DATA_KEY.match(k) for k in keys):
            raise Crash()
        self.inner.delete(keys)


class WatchPartition(StorageWrapper):
    """After every change to the lake, records the ids visible in one partition. The writer changes the lake
    from several threads (uploads, partitions settled at once): each change and the look after it hold a lock,
    so a look sees the state between two changes, never a file listed and deleted before it is read."""

    def __init__(self, inner: Storage, dt: str):
        super().__init__(inner)
        self.dt, self.seen = dt, []
        self._lock = threading.Lock()

    def _look(self) -> None:
        self.seen.append(partition_ids(self.inner, self.dt))

    def put_file(self, key, path, *, if_none_match=True):
        with self._lock:
            info = self.inner.put_file(key, path, if_none_match=if_none_match)
            self._look()
        return info

    def put_bytes(self, key, data, *, if_none_match=True, if_match=None):
        with self._lock:
            info = self.inner.put_bytes(key, data, if_none_match=if_none_match, if_match=if_match)
            self._look()
        return info

    def delete(self, keys):
        with self._lock:
            self.inner.delete(keys)
            self._look()


def test_crash_between_upload_and_delete_leaves_duplicates_then_rerun_converges(storage: Storage) -> None:
    dts = days("2026-11-01", 2)
    write(storage, dts)
    expected = partition_ids(storage, dts[0])

    watched = WatchPartition(CrashOnDataDelete(storage), dts[0])
    with pytest.raises(Crash):
        write(watched, dts, rows(dts, 20, "v2"), limits=SMALL_FILES)
    for dt in dts:
        assert len(transfers_in(storage, dt)) == 2, "a crash before the deletes leaves both transfers"
    assert len(read_manifests(storage, FOLDER, MODEL)) == 4

    watched = WatchPartition(storage, dts[0])
    rerun = write(watched, dts, rows(dts, 20, "v3"), limits=SMALL_FILES)
    for w in rerun:
        assert transfers_in(storage, w.dt) == {w.transfer_ts}
    assert watched.seen and all(set(expected) <= set(ids) for ids in watched.seen), "a partition had a gap"
    assert partition_ids(storage, dts[0]) == expected


def failing_batches(good: list[dict], error: Exception) -> Iterator[pa.RecordBatch]:
    yield from batches(good, size=50)
    raise error


def test_iterator_raising_leaves_nothing_of_the_transfer(storage: Storage) -> None:
    dts = days("2026-11-01", 2)
    before = write(storage, dts)
    keys_before = data_keys(storage)
    manifests_before = read_manifests(storage, FOLDER, MODEL)

    boom = RuntimeError("bad export data")
    with pytest.raises(RuntimeError, match="bad export data"):
        write(storage, dts, batches=failing_batches(rows(dts, 200, "v2"), boom), limits=SMALL_FILES)

    assert data_keys(storage) == keys_before
    assert read_manifests(storage, FOLDER, MODEL) == manifests_before
    assert partition_ids(storage, dts[0]) == sorted(r["id"] for r in rows([dts[0]], 20))
    assert {w.transfer_ts for w in before} == set().union(*(transfers_in(storage, dt) for dt in dts))


class FailSecondUpload(StorageWrapper):
    def __init__(self, inner: Storage):
        super().__init__(inner)
        self.uploads = 0

    def put_file(self, key, path, *, if_none_match=True) -> ObjectInfo:
        self.uploads += 1
        if self.uploads == 2:
            raise StorageError(f"injected upload failure at {key}")
        return self.inner.put_file(key, path, if_none_match=if_none_match)


def test_failed_upload_removes_the_files_already_uploaded(storage: Storage) -> None:
    dts = ["2026-11-01"]
    write(storage, dts)
    keys_before = data_keys(storage)

    with pytest.raises(StorageError, match="injected upload failure"):
        write(FailSecondUpload(storage), dts, rows(dts, 300, "v2"), limits=SMALL_FILES)
    assert data_keys(storage) == keys_before
    assert len(read_manifests(storage, FOLDER, MODEL)) == 1


def test_row_outside_owned_partitions_is_an_error_and_writes_nothing(storage: Storage) -> None:
    records = rows(days("2026-11-01", 3), 5)
    with pytest.raises(ValueError) as caught:
        write(storage, ["2026-11-01", "2026-11-02"], records)
    message = str(caught.value)
    assert "invoice_item" in message and "2026-11-03" in message and "2026-11-01..2026-11-02" in message
    assert data_keys(storage) == [] and read_manifests(storage, FOLDER, MODEL) == []


def test_empty_window_writes_only_a_manifest_and_replace_clears_the_partition(storage: Storage) -> None:
    dts = ["2026-11-01"]
    write(storage, dts)
    empty = write(storage, dts, [])[0]

    assert empty.files == [] and empty.rows == 0 and len(empty.deleted_keys) == 1
    assert data_keys(storage) == []
    manifest = read_manifests(storage, FOLDER, MODEL, dts=dts)[-1]
    assert (manifest.rows, manifest.files, manifest.key) == (0, (), empty.manifest_key)


def test_append_adds_files_and_deletes_nothing(storage: Storage) -> None:
    dts = ["2026-11-01"]
    first = write(storage, dts)[0]
    appended = write(storage, dts, rows(dts, 5, "v2"), mode="append")[0]

    assert appended.deleted_keys == [] and appended.mode == "append"
    assert transfers_in(storage, dts[0]) == {first.transfer_ts, appended.transfer_ts}
    assert partition_dataset(storage, FOLDER, MODEL).count_rows() == 25


def test_unsorted_batches_still_land_in_their_partitions(storage: Storage) -> None:
    dts = days("2026-11-01", 3)
    records = rows(dts, 30)
    shuffled = records[60:] + records[:30] + records[30:60]  # day 3, day 1, day 2
    # then days 1 and 3 interleaved row by row
    mixed = [r for pair in zip(records[:30], records[60:], strict=True) for r in pair]
    writes = write(storage, dts, shuffled + mixed)

    assert [w.rows for w in writes] == [60, 30, 60]
    for w in writes:
        assert transfers_in(storage, w.dt) == {w.transfer_ts}
    table = partition_dataset(storage, FOLDER, MODEL).to_table()
    assert sorted(table.column("id").to_pylist()) == sorted(r["id"] for r in shuffled + mixed)


def test_transferred_at_is_the_transfer_timestamp(storage: Storage) -> None:
    dts = days("2026-11-01", 2)
    writes = write(storage, dts)
    table = partition_dataset(storage, FOLDER, MODEL).to_table()
    for w in writes:
        stamps = set(table.filter(pa.compute.equal(table["dt"], w.dt)).column("_transferred_at").to_pylist())
        assert stamps == {layout.parse_ts(w.transfer_ts).replace(tzinfo=None)}


def test_schema_with_lake_columns_is_rejected(storage: Storage) -> None:
    for column in ("_transferred_at", "dt"):
        schema = SCHEMA.append(
            pa.field(column, pa.timestamp("ms") if column.startswith("_") else pa.string())
        )
        with pytest.raises(ValueError, match=f"'{column}'"):
            write(storage, ["2026-11-01"], [], schema=schema)


def test_null_partition_value_is_an_error(storage: Storage) -> None:
    records = rows(["2026-11-01"], 3)
    records[1]["updated_date"] = None
    with pytest.raises(ValueError, match="no updated_date"):
        write(storage, ["2026-11-01"], records)
    assert data_keys(storage) == []


def test_manifest_records_files_checksums_schema_and_window(storage: Storage) -> None:
    import hashlib

    dts = ["2026-11-01"]
    w = write(storage, dts, run_id="run-42", limits=SMALL_FILES)[0]
    m = read_manifests(storage, FOLDER, MODEL)[0]
    assert (m.dt, m.transfer_ts, m.mode, m.run_id, m.rows) == (
        "2026-11-01",
        w.transfer_ts,
        "replace",
        "run-42",
        20,
    )
    assert (m.window_start, m.window_end) == window_of(dts)
    assert [f.key for f in m.files] == [f.key for f in w.files] and sum(f.rows for f in m.files) == 20
    for f in m.files:
        assert hashlib.sha256(storage.get_bytes(f.key)).hexdigest() == f.sha256
    assert dict(m.schema)["_transferred_at"] == "timestamp[ms]" and "dt" not in dict(m.schema)


def test_on_progress_reports_running_totals(storage: Storage) -> None:
    calls = []
    write(storage, ["2026-11-01"], rows(["2026-11-01"], 250), on_progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [100, 200, 250]
    assert all(b > 0 and s >= 0 for _, b, s in calls) and calls[-1][1] > calls[0][1]


def test_transfer_timestamps_follow_the_clock(tmp_path: Path) -> None:
    from zuora_assets.lake.local import LocalStorage

    lake = LocalStorage(tmp_path)
    first = write(lake, ["2026-11-01"], clock=fixed_clock(T0))[0]
    later = write(lake, ["2026-11-01"], clock=fixed_clock(T0 + timedelta(hours=2)))[0]
    assert (first.transfer_ts, later.transfer_ts) == ("20261129020000", "20261129040000")


def test_empty_folder_puts_models_at_the_root(storage: Storage) -> None:
    w = write(storage, ["2026-11-01"], folder="")[0]
    assert [f.key for f in w.files] == [f"{MODEL}/dt=2026-11-01/0_{w.transfer_ts}.parquet"]
    assert w.manifest_key == f"_zuora/manifests/{MODEL}/dt=2026-11-01/{w.transfer_ts}.json"
    assert partition_dataset(storage, "", MODEL).count_rows() == 20


def test_naive_clock_is_rejected(storage: Storage) -> None:
    with pytest.raises(ValueError, match="naive"):
        write(storage, ["2026-11-01"], clock=lambda: datetime(2026, 11, 1))
    assert data_keys(storage) == []


def test_a_transfer_detected_by_a_comparison_survives_replaces_and_moves_no_sync_state(storage: Storage) -> None:
    from zuora_assets.lake.state import load_state

    [dt] = days("2026-03-02", 1)
    write(storage, [dt], mode="append")
    before = load_state(storage, FOLDER, MODEL)
    late = [{**r, "id": f"gone-{i}"} for i, r in enumerate(rows([dt], 3, "tomb"))]
    [found] = write(storage, [dt], late, mode="append", detected_by="reconciliation",
                    window=(datetime(2000, 1, 1, tzinfo=UTC), window_of([dt])[1]))
    [manifest] = read_manifests(storage, FOLDER, MODEL, keys=[found.manifest_key])
    assert manifest.detected_by == "reconciliation"
    assert load_state(storage, FOLDER, MODEL) == before, "rows found by a comparison are no window of changes"

    [replace] = write(storage, [dt])  # the nightly consolidation: a newer replace of the partition
    assert found.transfer_ts in transfers_in(storage, dt) and replace.transfer_ts in transfers_in(storage, dt)
    assert len(transfers_in(storage, dt)) == 2, "the older append is gone, the detected transfer stays"
    assert {f"gone-{i}" for i in range(3)} <= set(partition_ids(storage, dt))


class FailManifestOf(StorageWrapper):
    """Fails the manifest put (the commit) of one partition, or the listing (the settling) of one."""

    def __init__(self, inner: Storage, dt: str, what: str):
        super().__init__(inner)
        self.dt, self.what = dt, what

    def put_bytes(self, key, data, *, if_none_match=True, if_match=None) -> ObjectInfo:
        if self.what == "commit" and key.startswith(layout.manifests_partition_prefix(FOLDER, MODEL, self.dt)):
            raise StorageError(f"injected manifest failure at {key}")
        return self.inner.put_bytes(key, data, if_none_match=if_none_match, if_match=if_match)

    def list(self, prefix: str) -> list[ObjectInfo]:
        if self.what == "settle" and prefix == layout.partition_prefix(FOLDER, MODEL, self.dt):
            raise StorageError(f"injected listing failure at {prefix}")
        return self.inner.list(prefix)


def test_a_failed_commit_of_one_partition_keeps_the_committed_ones_and_nothing_of_the_others(storage: Storage) -> None:
    dts = days("2026-11-01", 20)  # more partitions than are committed at once
    write(storage, dts)
    failing = dts[12]
    with pytest.raises(StorageError, match="injected manifest failure") as failed:
        write(FailManifestOf(storage, failing, "commit"), dts, rows(dts, 20, "v2"))
    note = " ".join(failed.value.__notes__)
    committed = [dt for dt in dts if len(transfers_in(storage, dt)) == 2]  # not settled: both transfers remain
    assert failing not in committed and "were committed before the failure" in note
    assert all(dt in note for dt in committed)
    assert all(len(transfers_in(storage, dt)) == 1 for dt in dts if dt not in committed), "an uncommitted file remains"
    rerun = write(storage, dts, rows(dts, 20, "v3"))  # and a rerun converges
    assert all(transfers_in(storage, w.dt) == {w.transfer_ts} for w in rerun)


def test_a_failed_settling_of_one_partition_names_it_and_settles_the_others(storage: Storage) -> None:
    dts = days("2026-11-01", 12)
    write(storage, dts)
    failing = dts[5]
    with pytest.raises(StorageError, match="injected listing failure") as failed:
        write(FailManifestOf(storage, failing, "settle"), dts, rows(dts, 20, "v2"))
    assert f"older files of 1 of them ({failing}) may remain" in " ".join(failed.value.__notes__)
    assert [dt for dt in dts if len(transfers_in(storage, dt)) == 2] == [failing]
