"""The sync state, retention and temp files, on a local folder and on S3 (moto): bounded bookkeeping.

Starting a sync reads one object; concurrent runs never lose each other's progress; a missing state is
rebuilt from the manifests; replaced manifests go after the retention period; killed writers' temp files go.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from zuora_assets.lake import layout, parquet, tempfiles
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.manifest import read_manifests
from zuora_assets.lake.retention import prune_replaced_manifests
from zuora_assets.lake.state import (
    Commit,
    SyncState,
    load_state,
    pin_start_date,
    read_start_date,
    rebuild_state,
    record_commits,
)
from zuora_assets.lake.storage import Storage, StorageError
from zuora_assets.lake.transfer import write_transfer
from zuora_assets_tests.lake_support import (  # noqa: F401 (storage_fixture is the `storage` fixture)
    FOLDER,
    MODEL,
    SCHEMA,
    StorageWrapper,
    TestClock,
    batches,
    rows,
    storage_fixture,
)

DT = "2026-11-01"
DAY = datetime(2026, 11, 1, tzinfo=UTC)
STATE_KEY = layout.state_key(FOLDER, MODEL)


def write(storage: Storage, start: datetime, end: datetime, *, mode="append", dt=DT, snapshot=None):
    clock = TestClock(snapshot or end)
    return write_transfer(
        storage,
        folder=FOLDER,
        model=MODEL,
        schema=SCHEMA,
        batches=batches(rows([dt], 2)),
        partition_column="updated_date",
        partitions=[dt],
        window=(start, end),
        mode=mode,
        snapshot=snapshot or end,
        clock=clock.now,
        sleep=clock.sleep,
    )[0]


class Counting(StorageWrapper):
    """Counts the storage calls by method."""

    def __init__(self, inner: Storage):
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    def get_versioned(self, key):
        self.calls["get"] += 1
        return self.inner.get_versioned(key)

    def get_bytes(self, key):
        self.calls["get"] += 1
        return self.inner.get_bytes(key)

    def list(self, prefix):
        self.calls["list"] += 1
        return self.inner.list(prefix)

    def delete(self, keys):
        self.calls["delete"] += 1
        self.inner.delete(keys)


def test_the_state_holds_the_high_water_mark_and_each_recent_partitions_progress(storage: Storage) -> None:
    ends = []
    for offset in (3, 1, 2):  # committed out of order: the state keeps the max
        start = DAY + timedelta(hours=offset)
        ends.append(start + timedelta(hours=1))
        write(storage, start, ends[-1])
    write(storage, DAY + timedelta(days=1), DAY + timedelta(days=1, hours=5), dt="2026-11-02")

    state = load_state(storage, FOLDER, MODEL)
    assert state.high_water_mark == DAY + timedelta(days=1, hours=5)
    assert state.partition_synced_until(DT) == max(ends)
    assert state.partition_synced_until("2026-11-02") == DAY + timedelta(days=1, hours=5)
    assert state.last_transfer == layout.format_ts(DAY + timedelta(days=1, hours=5))
    assert rebuild_state(storage, FOLDER, MODEL) == state, "the manifests alone give the same state"


def test_starting_a_sync_reads_one_object_however_long_the_history(storage: Storage) -> None:
    for hour in range(24):
        write(storage, DAY + timedelta(hours=hour), DAY + timedelta(hours=hour + 1))
    counting = Counting(storage)
    state = load_state(counting, FOLDER, MODEL)
    assert counting.calls == Counter(get=1) and state.high_water_mark == DAY + timedelta(days=1)


def test_a_missing_state_is_rebuilt_from_the_manifests_once(storage: Storage) -> None:
    write(storage, DAY, DAY + timedelta(hours=2))
    write(storage, DAY, DAY + timedelta(hours=5), mode="replace")
    storage.delete([STATE_KEY])  # a lake written before the state existed

    counting = Counting(storage)
    state = load_state(counting, FOLDER, MODEL)
    assert state.high_water_mark == DAY + timedelta(hours=5) and counting.calls["list"] == 1
    assert state.replaced == {DT: layout.format_ts(DAY + timedelta(hours=5))}, "pruning also knows the old ones"
    again = Counting(storage)
    assert load_state(again, FOLDER, MODEL) == state and again.calls == Counter(get=1)


def test_an_unreadable_state_is_rebuilt(storage: Storage) -> None:
    write(storage, DAY, DAY + timedelta(hours=2))
    _, version = storage.get_versioned(STATE_KEY)
    storage.put_bytes(STATE_KEY, b"{not json", if_match=version)
    assert load_state(storage, FOLDER, MODEL).high_water_mark == DAY + timedelta(hours=2)
    assert SyncState.from_json(storage.get_bytes(STATE_KEY)).high_water_mark == DAY + timedelta(hours=2)


class HoldAfterStateRead(StorageWrapper):
    """Holds the first reader of the state right after its read, until released: a slow writer."""

    def __init__(self, inner: Storage):
        super().__init__(inner)
        self.read, self.release = threading.Event(), threading.Event()
        self.reads = 0

    def get_versioned(self, key):
        result = self.inner.get_versioned(key)
        self.reads += key == STATE_KEY
        if key == STATE_KEY and not self.read.is_set():
            self.read.set()
            assert self.release.wait(timeout=60)
        return result


def test_two_runs_updating_the_state_at_once_both_count(storage: Storage) -> None:
    write(storage, DAY, DAY + timedelta(hours=1))
    slow = HoldAfterStateRead(storage)
    late = Commit("2026-11-02", "20261102030000", "append", DAY + timedelta(days=1, hours=3))
    early = Commit(DT, "20261101020000", "append", DAY + timedelta(hours=2))
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            record_commits(slow, FOLDER, MODEL, [early])  # read the state, then held
        except BaseException as err:  # surfaced below
            errors.append(err)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert slow.read.wait(timeout=60)
    record_commits(storage, FOLDER, MODEL, [late])  # the other run writes first (the max so far)
    slow.release.set()
    thread.join(timeout=60)
    assert not errors, errors
    assert slow.reads == 2, "its first write was refused (the state changed), so it read and merged again"

    state = load_state(storage, FOLDER, MODEL)
    assert state.high_water_mark == DAY + timedelta(days=1, hours=3), "the slower writer did not lose the max"
    assert state.partition_synced_until(DT) == DAY + timedelta(hours=2)
    assert state.partition_synced_until("2026-11-02") == DAY + timedelta(days=1, hours=3)


class Crash(BaseException):
    """Stands for the process being killed."""


class CrashOnStateWrite(StorageWrapper):
    def put_bytes(self, key, data, *, if_none_match=True, if_match=None):
        if key == STATE_KEY:
            raise Crash()
        return self.inner.put_bytes(key, data, if_none_match=if_none_match, if_match=if_match)


def test_a_crash_before_the_state_update_leaves_it_behind_which_the_next_run_repairs(storage: Storage) -> None:
    write(storage, DAY, DAY + timedelta(hours=1))
    with pytest.raises(Crash):
        write(CrashOnStateWrite(storage), DAY, DAY + timedelta(hours=4))
    behind = load_state(storage, FOLDER, MODEL)
    assert behind.high_water_mark == DAY + timedelta(hours=1), "behind: the next append re-reads, never skips"
    assert len(read_manifests(storage, FOLDER, MODEL)) == 2, "the crashed run's transfer is committed"

    write(storage, DAY + timedelta(hours=3), DAY + timedelta(hours=5))
    assert load_state(storage, FOLDER, MODEL).high_water_mark == DAY + timedelta(hours=5)


def test_state_keeps_only_recent_partitions(storage: Storage) -> None:
    commits = [
        Commit((DAY + timedelta(days=i)).date().isoformat(), f"2026110{i}000000", "append", DAY + timedelta(days=i, hours=1))
        for i in range(10)
    ]
    record_commits(storage, FOLDER, MODEL, commits)
    state = load_state(storage, FOLDER, MODEL)
    assert sorted(state.synced_until) == [(DAY + timedelta(days=i)).date().isoformat() for i in range(3, 10)]


def test_retention_removes_replaced_manifests_after_the_period_with_bounded_requests(storage: Storage) -> None:
    appends = [write(storage, DAY + timedelta(hours=h), DAY + timedelta(hours=h + 1)) for h in range(5)]
    replace = write(storage, DAY, DAY + timedelta(days=1), mode="replace", snapshot=DAY + timedelta(days=1, hours=2))
    state = load_state(storage, FOLDER, MODEL)
    assert state.replaced == {DT: replace.transfer_ts}

    counting = Counting(storage)
    soon = prune_replaced_manifests(
        counting, FOLDER, MODEL, state, now=DAY + timedelta(days=20), retention=timedelta(days=30)
    )
    assert soon.manifests == () and soon.waiting == 1 and counting.calls == Counter()
    assert len(read_manifests(storage, FOLDER, MODEL)) == 6, "kept during the retention period"

    counting = Counting(storage)
    pruned = prune_replaced_manifests(
        counting, FOLDER, MODEL, state, now=DAY + timedelta(days=32), retention=timedelta(days=30)
    )
    assert sorted(pruned.manifests) == sorted(a.manifest_key for a in appends) and pruned.partitions == (DT,)
    assert counting.calls["list"] == 2 and counting.calls["delete"] == 1, "two listings and one delete per partition"
    assert [m.transfer_ts for m in read_manifests(storage, FOLDER, MODEL)] == [replace.transfer_ts]
    assert load_state(storage, FOLDER, MODEL).replaced == {}, "pruned partitions are forgotten"


def test_retention_keeps_a_manifest_whose_files_are_still_there(storage: Storage) -> None:
    kept = write(storage, DAY, DAY + timedelta(hours=1))
    replace = write(storage, DAY, DAY + timedelta(days=1), mode="replace", snapshot=DAY + timedelta(days=1))
    # A transfer older than the replace whose files stayed (it crashed before it could yield).
    storage.put_bytes(kept.files[0].key, storage.get_bytes(replace.files[0].key))
    state = load_state(storage, FOLDER, MODEL)
    pruned = prune_replaced_manifests(storage, FOLDER, MODEL, state, now=DAY + timedelta(days=40), retention=timedelta(days=30))
    assert pruned.manifests == ()
    assert len(read_manifests(storage, FOLDER, MODEL)) == 2


def test_the_start_date_is_pinned_once(storage: Storage) -> None:
    assert read_start_date(storage, FOLDER) is None
    assert pin_start_date(storage, FOLDER, date(2026, 10, 1)) == date(2026, 10, 1)
    assert pin_start_date(storage, FOLDER, date(2026, 11, 10)) == date(2026, 10, 1), "a later sync keeps it"
    assert read_start_date(storage, FOLDER) == date(2026, 10, 1)
    storage.put_bytes(layout.start_date_key("broken"), b"[]")
    with pytest.raises(StorageError, match="ZUORA_START_DATE"):
        read_start_date(storage, "broken")


def test_stale_temp_files_of_killed_writers_go_but_a_live_writers_stays(tmp_path: Path) -> None:
    folder = tmp_path / "tmp"
    live = tempfiles.locked_temp_file(folder, prefix="lake-", suffix=".parquet")
    killed = folder / "lake-killed.parquet"
    killed.write_bytes(b"half a file")
    fresh = folder / "lake-fresh.parquet"
    fresh.write_bytes(b"just created")
    old = time.time() - 2 * tempfiles.STALE_AFTER_SECONDS
    for path in (live.path, killed):
        os.utime(path, (old, old))

    removed = tempfiles.remove_stale(folder, suffix=".parquet")
    assert removed == [killed], "only the old file that no live process locks"
    assert live.path.exists() and fresh.exists()
    live.release()
    assert not live.path.exists()


def test_a_transfer_removes_the_temp_files_killed_writers_left(tmp_path: Path) -> None:
    lake = LocalStorage(tmp_path / "lake")
    old = time.time() - 2 * tempfiles.STALE_AFTER_SECONDS
    left = []
    for folder, name in ((tmp_path / "lake" / LocalStorage.TMP_DIR, "put-x.part"), (parquet.TEMP_DIR, "lake-x.parquet")):
        folder.mkdir(parents=True, exist_ok=True)
        left.append(folder / name)
        left[-1].write_bytes(b"left by a killed writer")
        os.utime(left[-1], (old, old))
    write(lake, DAY, DAY + timedelta(hours=1))
    assert not any(p.exists() for p in left)
