"""Overlapping transfers of one partition end with the newest snapshot, on a local folder and on S3 (moto).

Each interleaving is driven deterministically: transfers run one after the other, or a thread is held at a
chosen storage call (an Event) while another transfer runs to the end. Clocks are `TestClock`s.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from zuora_assets.lake import layout
from zuora_assets.lake.manifest import read_manifests
from zuora_assets.lake.parquet import FileLimits
from zuora_assets.lake.readers import files_in_partition, partition_dataset
from zuora_assets.lake.storage import Storage, StorageError
from zuora_assets.lake.transfer import write_transfer
from zuora_assets_tests.lake_support import (  # noqa: F401 (storage_fixture is the `storage` fixture)
    FOLDER,
    MODEL,
    SCHEMA,
    StorageWrapper,
    TestClock,
    batches,
    days,
    rows,
    storage_fixture,
    window_of,
)

DT = "2026-11-01"
SMALL_FILES = FileLimits(row_group_bytes=4_000, file_bytes=6_000)
S0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return S0 + timedelta(seconds=seconds)


def write(storage: Storage, snapshot: datetime, version: str, *, mode="replace", dts=(DT,), clock=None, **kw):
    """One transfer of `dts` with rows of `version`, its snapshot fixed at `snapshot`."""
    clock = clock or TestClock(snapshot + timedelta(seconds=1))
    dts = list(dts)
    records = kw.pop("records") if "records" in kw else rows(dts, 20, version)
    return write_transfer(
        storage,
        folder=FOLDER,
        model=MODEL,
        schema=SCHEMA,
        batches=batches(records),
        partition_column="updated_date",
        partitions=dts,
        window=window_of(dts),
        mode=mode,
        snapshot=snapshot,
        clock=clock.now,
        sleep=clock.sleep,
        **kw,
    )


def transfers_in(storage: Storage, dt: str = DT) -> set[str]:
    return {layout.parse_data_key(o.key)[1] for o in files_in_partition(storage, FOLDER, MODEL, dt)}


def versions_in(storage: Storage, dt: str = DT) -> set[str]:
    """Which row versions (`inv-<version>-n`) partition `dt` holds."""
    table = partition_dataset(storage, FOLDER, MODEL, [dt]).to_table(columns=["invoice_id"])
    return {v.split("-")[1] for v in table.column("invoice_id").to_pylist()}


def manifest_stamps(storage: Storage, dt: str = DT) -> list[str]:
    return [m.transfer_ts for m in read_manifests(storage, FOLDER, MODEL, dts=[dt])]


class HoldAt(StorageWrapper):
    """Holds the calling thread at the first call of `method` whose key contains `marker`, until released."""

    def __init__(self, inner: Storage, method: str, marker: str):
        super().__init__(inner)
        self.method, self.marker = method, marker
        self.reached, self.release = threading.Event(), threading.Event()

    def _hold(self, method: str, key: str) -> None:
        if method == self.method and self.marker in key and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(timeout=120), "the test never released the held transfer"

    def put_file(self, key, path, *, if_none_match=True):
        self._hold("put_file", key)
        return self.inner.put_file(key, path, if_none_match=if_none_match)

    def put_bytes(self, key, data, *, if_none_match=True, if_match=None):
        self._hold("put_bytes", key)
        return self.inner.put_bytes(key, data, if_none_match=if_none_match, if_match=if_match)


class InThread:
    """Runs a transfer in a thread; `result()` re-raises what it raised."""

    def __init__(self, target):
        self._out: list = []
        self._thread = threading.Thread(target=self._run, args=(target,))
        self._thread.start()

    def _run(self, target) -> None:
        try:
            self._out.append(target())
        except BaseException as err:  # handed to the test by result()
            self._out.append(err)

    def result(self):
        self._thread.join(timeout=120)
        assert self._out, "the transfer thread did not finish"
        if isinstance(self._out[0], BaseException):
            raise self._out[0]
        return self._out[0]


def test_a_slow_older_replace_that_uploads_after_the_newer_one_committed_yields(storage: Storage) -> None:
    write(storage, at(0), "old")
    newer = write(storage, at(20), "new")[0]  # B: later snapshot, done first
    older = write(storage, at(10), "stale")[0]  # A: its export was slow; it uploads and commits last

    assert older.superseded_by == newer.transfer_ts and newer.superseded_by is None
    assert transfers_in(storage) == {newer.transfer_ts} and versions_in(storage) == {"new"}
    assert older.transfer_ts not in manifest_stamps(storage), "the yielding transfer removed its manifest"
    assert older.deleted_keys == [] and newer.deleted_keys


def test_a_newer_replace_listing_after_the_older_uploaded_removes_it_and_the_older_yields(storage: Storage) -> None:
    write(storage, at(0), "old")
    held = HoldAt(storage, "put_bytes", "/_zuora/manifests/")  # A uploaded its files, not yet committed
    older = InThread(lambda: write(held, at(10), "stale", limits=SMALL_FILES)[0])
    assert held.reached.wait(timeout=60)
    newer = write(storage, at(20), "new")[0]
    assert any("20261101120010" in k for k in newer.deleted_keys), "B removed A's uncommitted files"
    held.release.set()
    older = older.result()

    assert older.superseded_by == newer.transfer_ts
    assert transfers_in(storage) == {newer.transfer_ts} and versions_in(storage) == {"new"}
    assert older.transfer_ts not in manifest_stamps(storage)


def test_an_older_replace_committed_first_is_replaced_by_the_newer(storage: Storage) -> None:
    older = write(storage, at(10), "stale")[0]
    newer = write(storage, at(20), "new")[0]
    assert older.superseded_by is None and newer.deleted_keys == [f.key for f in older.files]
    assert transfers_in(storage) == {newer.transfer_ts}


def test_a_slow_replace_keeps_a_newer_append_and_removes_only_older_files(storage: Storage) -> None:
    base = write(storage, at(0), "base")[0]
    append = write(storage, at(20), "append", mode="append")[0]  # committed while the replace is slow
    replace = write(storage, at(10), "replace")[0]

    assert replace.superseded_by is None, "a newer append never makes a replace yield"
    assert transfers_in(storage) == {replace.transfer_ts, append.transfer_ts}
    assert versions_in(storage) == {"replace", "append"}
    assert replace.deleted_keys == [f.key for f in base.files]


def test_an_older_append_yields_to_a_newer_committed_replace(storage: Storage) -> None:
    write(storage, at(0), "base")
    replace = write(storage, at(20), "replace")[0]
    append = write(storage, at(10), "append", mode="append")[0]
    assert append.superseded_by == replace.transfer_ts
    assert transfers_in(storage) == {replace.transfer_ts} and versions_in(storage) == {"replace"}


def test_two_replaces_in_the_same_second_take_two_seconds_never_ahead_of_the_clock(storage: Storage) -> None:
    clock = TestClock(at(0))  # frozen at the snapshot second: only waiting moves it
    first = write(storage, at(0), "first", clock=clock)[0]
    second = write(storage, at(0), "second", clock=clock, records=rows([DT], 200, "second"), limits=SMALL_FILES)[0]

    assert first.transfer_ts == "20261101120000" and second.transfer_ts == "20261101120001"
    assert second.taken == ["20261101120000"] and clock.now() >= at(1), "it waited for the clock to pass"
    assert len(second.files) > 1 and [layout.parse_data_key(f.key) for f in second.files] == [
        (i, "20261101120001") for i in range(len(second.files))
    ]
    assert transfers_in(storage) == {"20261101120001"} and versions_in(storage) == {"second"}
    filesystem, base = storage.arrow_filesystem()
    for f in second.files:  # part 0 was rewritten, the buffered rows of the next parts re-stamped
        stamps = pq.read_table(f"{base}/{f.key}", filesystem=filesystem).column("_transferred_at")
        assert pc.unique(stamps).to_pylist() == [at(1).replace(tzinfo=None)]


def test_two_empty_transfers_in_the_same_second_take_two_seconds(storage: Storage) -> None:
    clock = TestClock(at(0))
    first = write(storage, at(0), "x", clock=clock, records=[], mode="append")[0]
    second = write(storage, at(0), "x", clock=clock, records=[], mode="append")[0]
    assert (first.transfer_ts, second.transfer_ts, second.taken) == (
        "20261101120000", "20261101120001", ["20261101120000"]
    )
    assert manifest_stamps(storage) == ["20261101120000", "20261101120001"] and transfers_in(storage) == set()


def test_rows_after_an_empty_transfer_of_the_same_second_fail_retryably_and_leave_nothing(storage: Storage) -> None:
    clock = TestClock(at(0))
    write(storage, at(0), "x", clock=clock, records=[], mode="append")
    with pytest.raises(StorageError, match="same second 20261101120000") as caught:
        write(storage, at(0), "rows", clock=clock)
    assert "retried" in str(caught.value)
    assert transfers_in(storage) == set() and manifest_stamps(storage) == ["20261101120000"]


def test_a_clock_that_never_passes_the_taken_second_is_an_error(storage: Storage) -> None:
    write(storage, at(0), "first")
    stuck = TestClock(at(0))
    stuck.sleep = lambda seconds: None  # a broken clock: waiting does not move it
    with pytest.raises(StorageError, match="did not pass 20261101120000"):
        write(storage, at(0), "second", clock=stuck)
    assert transfers_in(storage) == {"20261101120000"}


def test_a_backfill_yields_only_where_a_newer_replace_committed(storage: Storage) -> None:
    dts = days("2026-11-01", 3)
    newer = write(storage, at(20), "new", dts=[dts[1]])[0]
    backfill = write(storage, at(10), "backfill", dts=dts)

    assert [w.superseded_by for w in backfill] == [None, newer.transfer_ts, None]
    assert {w.transfer_ts for w in backfill} == {"20261101120010"}
    assert [versions_in(storage, dt) for dt in dts] == [{"backfill"}, {"new"}, {"backfill"}]


@pytest.mark.slow  # a year of partitions, benchmark-sized
def test_a_year_in_one_call_is_one_timestamp_at_or_before_the_clock_with_no_reservations(storage: Storage) -> None:
    dts = days("2025-11-02", 365)
    snapshot = datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC)
    clock = TestClock(snapshot + timedelta(seconds=1))
    writes = write(storage, snapshot, "year", dts=dts, clock=clock, records=rows(dts[::7], 2, "year"))

    assert {w.transfer_ts for w in writes} == {"20261101235959"} and len(writes) == 365
    keys = [o.key for o in storage.list(f"{FOLDER}/")]
    assert not [k for k in keys if "/_zuora/transfers/" in k], "no reservation objects"
    assert {layout.parse_data_key(k)[1] for k in keys if layout.parse_data_key(k)} == {"20261101235959"}
    stamps = partition_dataset(storage, FOLDER, MODEL).to_table(columns=["_transferred_at"]).column(0)
    assert pc.unique(stamps).to_pylist() == [snapshot.replace(tzinfo=None)]
    assert snapshot <= clock.now()


def test_a_yielding_transfer_without_permission_to_delete_says_so(storage: Storage) -> None:
    class NoDelete(StorageWrapper):
        def delete(self, keys):
            raise StorageError("delete refused")

    newer = write(storage, at(20), "new")[0]
    with pytest.raises(StorageError, match="delete refused") as caught:
        write(NoDelete(storage), at(10), "stale")
    assert "duplicate rows" in "\n".join(caught.value.__notes__)
    assert transfers_in(storage) == {newer.transfer_ts, "20261101120010"}
