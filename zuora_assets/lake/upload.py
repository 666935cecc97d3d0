"""Uploading a transfer's data files, partition by partition, under the transfer's timestamp.

Files are encoded on the caller's thread and uploaded by a small pool of threads meanwhile (pyarrow and the
HTTP client release the GIL): a finished file waits in a bounded queue (`UploadPool`), so encoding stops when
`pending` files are still on their way, and disk and memory stay bounded whatever the size of the range.

The transfer's timestamp in a partition is taken by its first conditional put there (data file part 0); the
later parts of the partition wait for it. If another transfer of the model took the same second in that
partition (`KeyExists`), the uploader waits until the clock has passed that second and goes on under the next
one: a file whose `_transferred_at` differs from its partition's final timestamp is rewritten (`restamp`)
before its upload. A timestamp is never later than the clock. Everything uploaded can be rolled back until
its partition commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa

from zuora_assets.common.contract import TRANSFERRED_AT_COLUMN
from zuora_assets.lake import layout, memory
from zuora_assets.lake.memory import DEFAULT_BUDGET
from zuora_assets.lake.parquet import (
    FileLimits,
    FinishedFile,
    RollingParquetWriter,
    Stamp,
    restamp,
    writer_options,
)
from zuora_assets.lake.storage import KeyExists, ObjectInfo, Storage, StorageError

log = logging.getLogger(__name__)

MAX_WAITS = 100  # sleeps to let the clock pass one second: far more than any real clock needs
UPLOAD_WORKERS = 2  # threads uploading finished files while the next one is encoded


@dataclass
class PartitionTransfer:
    """One partition's transfer while it is being written: its timestamp and the files uploaded so far."""

    dt: str
    ts: str
    files: list[ObjectInfo] = field(default_factory=list)
    file_rows: list[int] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # timestamps other transfers held when this one tried them
    parts: list[Future] = field(default_factory=list)  # the uploads of its files, part by part

    def moment(self) -> pa.Scalar:
        """The `_transferred_at` value of its rows."""
        return pa.scalar(layout.parse_ts(self.ts).replace(tzinfo=None), pa.timestamp("ms"))


@dataclass(frozen=True)
class TransferSpec:
    """One transfer: where it writes, the model, its mode, window, snapshot and file schema, and its clock."""

    storage: Storage
    folder: str
    model: str
    mode: str
    window: tuple[datetime, datetime]
    file_schema: pa.Schema
    snapshot_ts: str
    limits: FileLimits
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    run_id: str | None = None
    upload_workers: int = UPLOAD_WORKERS
    pending_files: int = DEFAULT_BUDGET.pending_files
    unique_columns: tuple[str, ...] = ()  # written without a dictionary (`parquet.writer_options`)
    detected_by: str | None = None  # see Manifest.detected_by


class Uploader:
    """Writes the data files of each partition's transfer (one local file open at a time) and has them uploaded."""

    def __init__(self, target: TransferSpec):
        self.target = target
        self.partitions: dict[str, PartitionTransfer] = {}
        self._attempted: list[str] = []  # every key this call may have created, to undo
        self._lock = threading.Lock()  # guards `_attempted` and the partitions' timestamps across upload threads
        self._writer: RollingParquetWriter | None = None
        self._writing: PartitionTransfer | None = None
        self._options = writer_options(target.file_schema, target.unique_columns)
        self._pool = UploadPool(target.upload_workers, target.pending_files, f"upload {target.model}")

    def write(self, dt: str, batch: pa.RecordBatch) -> None:
        """Add rows of partition `dt` (without `_transferred_at`; the writer adds it per row group)."""
        if self._writing is None or self._writing.dt != dt:
            self._close_writer()
            partition = self.start(dt)
            self._writing = partition
            stamp = Stamp(TRANSFERRED_AT_COLUMN, partition.moment)
            self._writer = RollingParquetWriter(
                self.target.file_schema, lambda file: self._submit(partition, file), self.target.limits, stamp,
                self._options,
            )
        assert self._writer is not None
        self._writer.write(batch)

    def start(self, dt: str) -> PartitionTransfer:
        """The transfer of partition `dt` (started under the snapshot's timestamp on first sight)."""
        if dt not in self.partitions:
            self.partitions[dt] = PartitionTransfer(dt, self.target.snapshot_ts)
        return self.partitions[dt]

    def finish(self, owned: Iterable[str]) -> None:
        """Upload the last file and wait for every upload; start (empty) transfers for the partitions without rows."""
        self._close_writer()
        self._pool.wait()
        for partition in self.partitions.values():
            for part in partition.parts:
                info, rows = part.result()
                partition.files.append(info)
                partition.file_rows.append(rows)
            partition.parts.clear()
        for dt in owned:
            self.start(dt)

    def next_second(self, partition: PartitionTransfer) -> None:
        """`partition`'s timestamp is taken: wait until the clock has passed it, then move to the next second."""
        taken = partition.ts
        passed = layout.parse_ts(taken) + timedelta(seconds=1)
        for _ in range(MAX_WAITS):
            now = self.target.clock()
            if now >= passed:
                break
            self.target.sleep((passed - now).total_seconds())
        else:
            raise StorageError(
                f"model {self.target.model!r}, dt={partition.dt}: the clock did not pass {taken} after "
                f"{MAX_WAITS} waits; check the clock"
            )
        partition.taken.append(taken)
        partition.ts = layout.next_ts(taken)
        log.info(
            "model %r, dt=%s: transfer timestamp %s is taken by another transfer of this model; using %s",
            self.target.model, partition.dt, taken, partition.ts,
        )

    def attempted(self, key: str) -> None:
        """`key` is about to be put by this call: roll it back on failure."""
        with self._lock:
            self._attempted.append(key)

    def keep(self, key: str) -> None:
        """Never roll `key` back: a put found it present (another transfer's), or it is committed."""
        with self._lock:
            self._attempted.remove(key)

    def forget(self, dt: str) -> None:
        """Partition `dt` is committed: its files are no longer to be rolled back."""
        committed = {info.key for info in self.partitions[dt].files}
        with self._lock:
            self._attempted = [key for key in self._attempted if key not in committed]

    def rollback(self, cause: BaseException) -> None:
        """Stop the uploads, then delete every uncommitted object this call put (new keys, so nobody else's);
        notes go on `cause`."""
        if self._writer is not None:
            self._writer.abort()
        self._pool.stop()
        if not self._attempted:
            return
        try:
            self.target.storage.delete(self._attempted)
        except StorageError as err:
            log.error("model %r: could not remove the files of a failed transfer: %s", self.target.model, err)
            cause.add_note(f"and the files already uploaded could not all be removed: {err}")

    def _close_writer(self) -> None:
        writer, self._writer, self._writing = self._writer, None, None
        if writer is not None:
            writer.close()

    def _submit(self, partition: PartitionTransfer, file: FinishedFile) -> None:
        """Queue `file` (the next part of `partition`) for upload; the upload threads own it from here."""
        memory.release()  # the rows of the file are freed: hand their memory back before the next file grows
        part = len(partition.parts)
        first = partition.parts[0] if partition.parts else None
        partition.parts.append(self._pool.submit(file, lambda: self._upload_part(partition, part, file, first)))

    def _upload_part(
        self, partition: PartitionTransfer, part: int, file: FinishedFile, first: Future | None
    ) -> tuple[ObjectInfo, int]:
        """Upload part `part` (after part 0, which fixes the timestamp), restamped if the timestamp moved."""
        if first is not None:
            first.result()  # raises part 0's error: this part is not uploaded either
        if file.stamps != {partition.moment().as_py()}:
            return self._upload_restamped(partition, part, file)
        return self._upload(partition, part, file), file.rows

    def _upload(self, partition: PartitionTransfer, part: int, file: FinishedFile) -> ObjectInfo:
        while True:
            key = layout.data_key(self.target.folder, self.target.model, partition.dt, part, partition.ts)
            self.attempted(key)
            try:
                return self.target.storage.put_file(key, file.path, if_none_match=True)
            except KeyExists:
                self.keep(key)
                if part > 0:
                    raise StorageError(
                        f"model {self.target.model!r}: {self.target.storage.uri(key)} exists although this "
                        f"transfer holds {partition.ts} in dt={partition.dt}; remove the stray file and rerun"
                    ) from None
                self.next_second(partition)
                return self._upload_restamped(partition, part, file)[0]

    def _upload_restamped(self, partition: PartitionTransfer, part: int, file: FinishedFile) -> tuple[ObjectInfo, int]:
        """Upload a copy of `file` whose `_transferred_at` is the partition's (new) timestamp."""
        copy = restamp(file.path, TRANSFERRED_AT_COLUMN, layout.parse_ts(partition.ts), self._options)
        try:
            moved = FinishedFile(copy, file.rows, frozenset({partition.moment().as_py()}))
            return self._upload(partition, part, moved), file.rows
        finally:
            copy.release()


class UploadPool:
    """Threads that run uploads of finished files in order of submission, at most `pending` files at a time.

    `submit` waits while `pending` files are queued or uploading (back-pressure on the encoder) and raises the
    first error of an earlier upload, so a failure stops the transfer at its next file. Each file is released
    after its upload (or when the pool stops before it).
    """

    def __init__(self, workers: int, pending: int, name: str):
        self._executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(max(1, pending))
        self._futures: list[Future] = []
        self._stopped = False

    def submit(self, file: FinishedFile, upload: Callable[[], tuple[ObjectInfo, int]]) -> Future:
        try:
            self._raise_failure()
            self._slots.acquire()
        except BaseException:
            file.release()
            raise
        future = self._executor.submit(self._run, file, upload)
        self._futures.append(future)
        return future

    def wait(self) -> None:
        """Wait for every upload; raise the first error (in submission order)."""
        for future in self._futures:
            future.result()
        self._executor.shutdown()

    def stop(self) -> None:
        """Upload nothing more; wait for the uploads in flight (so that what they put can be rolled back)."""
        self._stopped = True
        self._executor.shutdown(wait=True)

    def _run(self, file: FinishedFile, upload: Callable[[], tuple[ObjectInfo, int]]) -> tuple[ObjectInfo, int]:
        try:
            if self._stopped:
                raise StorageError("the transfer stopped before this file was uploaded")
            return upload()
        finally:
            file.release()
            self._slots.release()

    def _raise_failure(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
