"""How many S3 requests a transfer makes, counted with botocore's events against the moto server, and the
overlapped uploads: files of one partition after its first wait for the first's timestamp, failures stop
the transfer and leave nothing behind."""

from __future__ import annotations

import collections
import threading

import pytest

from zuora_assets.common.contract import TRANSFERRED_AT_COLUMN
from zuora_assets.lake import layout, upload
from zuora_assets.lake.manifest import read_manifests
from zuora_assets.lake.parquet import FileLimits, restamp
from zuora_assets.lake.s3 import S3Storage
from zuora_assets.lake.storage import KeyExists, ObjectInfo, StorageError
from zuora_assets.lake.transfer import write_transfer
from zuora_assets_tests.lake_support import (
    BUCKET,
    FOLDER,
    MODEL,
    SCHEMA,
    StorageWrapper,
    TestClock,
    batches,
    data_keys,
    days,
    rows,
    window_of,
)

SMALL_FILES = FileLimits(row_group_bytes=4_000, file_bytes=6_000)


class CountedS3:
    """An `S3Storage` on the moto server whose client counts every request it sends, by operation."""

    def __init__(self, moto):
        client = moto.client("s3")
        client.create_bucket(Bucket=BUCKET)
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-send.s3.*", self._count)
        self.storage = S3Storage(client, BUCKET, credentials=moto.session().get_credentials)

    def _count(self, request, event_name: str, **_) -> None:
        with self._lock:
            self.calls[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> dict[str, int]:
        with self._lock:
            calls, self.calls = dict(self.calls), collections.Counter()
        return calls


def write(storage, dts, records, clock: TestClock, **kwargs):
    return write_transfer(
        storage, folder=FOLDER, model=MODEL, schema=SCHEMA, batches=batches(records),
        partition_column="updated_date", partitions=dts, window=window_of(dts), mode="replace",
        clock=clock.now, sleep=clock.sleep, **kwargs,
    )


def test_a_first_transfer_makes_one_put_per_file_and_manifest_one_listing_per_partition(moto) -> None:
    s3, clock = CountedS3(moto), TestClock(tick=1.0)
    dts = days("2026-10-01", 31)
    writes = write(s3.storage, dts, rows(dts, 50), clock)
    assert [len(w.files) for w in writes] == [1] * 31
    # per partition: its data file, its manifest, the listing that orders it; once: the sync state read (absent,
    # so rebuilt from a listing of the manifests) and put
    assert s3.take() == {"PutObject": 31 + 31 + 1, "ListObjectsV2": 31 + 1, "GetObject": 1}


def test_a_replace_adds_one_batched_delete_per_partition_with_older_files(moto) -> None:
    s3, clock = CountedS3(moto), TestClock(tick=1.0)
    dts = days("2026-10-01", 3)
    write(s3.storage, dts, rows(dts, 50), clock)
    s3.take()
    writes = write(s3.storage, dts, rows(dts, 400, "v2"), clock, limits=SMALL_FILES)
    files = sum(len(w.files) for w in writes)
    assert files > 3 and all(len(w.deleted_keys) == 1 for w in writes)
    # GetObject: the state once, and per partition the one older transfer's manifest (does it hold rows a
    # comparison found, e.g. reconciliation tombstones, that a replace must keep?).
    assert s3.take() == {"PutObject": files + 3 + 1, "ListObjectsV2": 3, "GetObject": 1 + 3, "DeleteObjects": 3}


class TakenFirstSecond(StorageWrapper):
    """Another transfer of the model holds the snapshot's second in one partition: its part 0 is refused, once
    `gate` is set (so that a later part is finished meanwhile, under the snapshot's second)."""

    def __init__(self, inner, dt: str, ts: str, gate: threading.Event):
        super().__init__(inner)
        self.refused, self.gate = layout.data_key(FOLDER, MODEL, dt, 0, ts), gate
        self.uploaded: list[str] = []

    def put_file(self, key, path, *, if_none_match=True) -> ObjectInfo:
        if key == self.refused:
            self.refused = ""
            assert self.gate.wait(30), "the writer never got past its second file"
            raise KeyExists(f"{key} exists")
        self.uploaded.append(key)
        return self.inner.put_file(key, path, if_none_match=if_none_match)


def test_later_parts_written_before_part_0_moved_the_timestamp_are_restamped(moto, monkeypatch) -> None:
    s3, clock, gate = CountedS3(moto), TestClock(tick=0.0), threading.Event()
    dt = "2026-10-01"
    ts = layout.format_ts(clock.now())
    storage = TakenFirstSecond(s3.storage, dt, ts, gate)
    restamped = []
    monkeypatch.setattr(upload, "restamp", lambda path, *a: restamped.append(path) or restamp(path, *a))
    submit = upload.Uploader._submit

    def submit_then_open_the_gate(self, partition, file):  # part 1 is finished while part 0 still waits
        submit(self, partition, file)
        if len(partition.parts) == 2:
            gate.set()

    monkeypatch.setattr(upload.Uploader, "_submit", submit_then_open_the_gate)
    [written] = write_transfer(
        storage, folder=FOLDER, model=MODEL, schema=SCHEMA, batches=batches(rows([dt], 400), 50),
        partition_column="updated_date", partitions=[dt], window=window_of([dt]), mode="replace",
        clock=clock.now, sleep=clock.sleep, limits=SMALL_FILES,
    )
    assert written.transfer_ts == layout.next_ts(ts) and written.taken == [ts] and len(written.files) > 2
    assert len(restamped) >= 2  # part 0, and part 1 finished while part 0 waited
    assert all(key.endswith(f"_{written.transfer_ts}.parquet") for key in storage.uploaded)
    stamps = _transferred_at(s3.storage, [f.key for f in written.files])
    assert stamps == {layout.parse_ts(written.transfer_ts).replace(tzinfo=None)}


def _transferred_at(storage, keys: list[str]) -> set:
    import pyarrow.parquet as pq

    filesystem, base = storage.arrow_filesystem()
    table = pq.read_table([f"{base}/{k}" for k in keys], filesystem=filesystem)
    return set(table.column(TRANSFERRED_AT_COLUMN).to_pylist())


class FailingUpload(StorageWrapper):
    """The n-th data file upload fails; the ones before it succeed."""

    def __init__(self, inner, n: int):
        super().__init__(inner)
        self.n, self.count = n, 0
        self._lock = threading.Lock()

    def put_file(self, key, path, *, if_none_match=True) -> ObjectInfo:
        with self._lock:
            self.count += 1
            failing = self.count == self.n
        if failing:
            raise StorageError(f"injected upload failure at {key}")
        return self.inner.put_file(key, path, if_none_match=if_none_match)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_failed_upload_among_overlapped_ones_leaves_nothing(moto, n: int) -> None:
    s3, clock = CountedS3(moto), TestClock(tick=1.0)
    dts = days("2026-10-01", 4)
    with pytest.raises(StorageError, match="injected upload failure"):
        write(FailingUpload(s3.storage, n), dts, rows(dts, 300), clock, limits=SMALL_FILES)
    assert data_keys(s3.storage) == [] and read_manifests(s3.storage, FOLDER, MODEL) == []
