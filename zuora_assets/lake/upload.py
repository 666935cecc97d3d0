"""Uploading a transfer's data files, partition by partition, under the transfer's timestamp.

The transfer's timestamp in a partition is taken by its first conditional put there (data file part 0). If
another transfer of the model took the same second in that partition (`KeyExists`), the uploader waits until
the clock has passed that second and goes on under the next one (rewriting part 0's `_transferred_at`): a
timestamp is never later than the clock. Everything uploaded can be rolled back until its partition commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pyarrow as pa

from zuora_assets.lake import layout
from zuora_assets.lake.parquet import FileLimits, RollingParquetWriter, restamp
from zuora_assets.lake.storage import KeyExists, ObjectInfo, Storage, StorageError

log = logging.getLogger(__name__)

MAX_WAITS = 100  # sleeps to let the clock pass one second: far more than any real clock needs


@dataclass
class PartitionTransfer:
    """One partition's transfer while it is being written: its timestamp and the files uploaded so far."""

    dt: str
    ts: str
    files: list[ObjectInfo] = field(default_factory=list)
    file_rows: list[int] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # timestamps other transfers held when this one tried them


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
    detected_by: str | None = None  # see Manifest.detected_by


class Uploader:
    """Writes and uploads the data files of each partition's transfer, one local file open at a time."""

    def __init__(self, target: TransferSpec):
        self.target = target
        self.partitions: dict[str, PartitionTransfer] = {}
        self._attempted: list[str] = []  # every key this call may have created, to undo
        self._writer: RollingParquetWriter | None = None
        self._writing: PartitionTransfer | None = None

    def write(self, dt: str, batch: pa.RecordBatch) -> None:
        """Add rows of partition `dt` (without `_transferred_at`; it is added here)."""
        if self._writing is None or self._writing.dt != dt:
            self._close_writer()
            partition = self.start(dt)
            self._writing = partition
            on_file = partial(self._upload, partition)
            self._writer = RollingParquetWriter(self.target.file_schema, on_file, self.target.limits)
        assert self._writer is not None
        self._writer.write(_with_transferred_at(batch, self._writing.ts, self.target.file_schema))

    def start(self, dt: str) -> PartitionTransfer:
        """The transfer of partition `dt` (started under the snapshot's timestamp on first sight)."""
        if dt not in self.partitions:
            self.partitions[dt] = PartitionTransfer(dt, self.target.snapshot_ts)
        return self.partitions[dt]

    def finish(self, owned: Iterable[str]) -> None:
        """Upload the last file; start (empty) transfers for the owned partitions that had no rows."""
        self._close_writer()
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
        self._attempted.append(key)

    def keep(self, key: str) -> None:
        """Never roll `key` back: a put found it present (another transfer's), or it is committed."""
        self._attempted.remove(key)

    def forget(self, dt: str) -> None:
        """Partition `dt` is committed: its files are no longer to be rolled back."""
        committed = {info.key for info in self.partitions[dt].files}
        self._attempted = [key for key in self._attempted if key not in committed]

    def rollback(self, cause: BaseException) -> None:
        """Delete every uncommitted object this call put (new keys, so nobody else's); notes go on `cause`."""
        if self._writer is not None:
            self._writer.abort()
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

    def _upload(self, partition: PartitionTransfer, path: Path, rows: int) -> None:
        part = len(partition.files)
        while True:
            key = layout.data_key(self.target.folder, self.target.model, partition.dt, part, partition.ts)
            self.attempted(key)
            try:
                info = self.target.storage.put_file(key, path, if_none_match=True)
                break
            except KeyExists:
                self.keep(key)
                if part > 0:
                    raise StorageError(
                        f"model {self.target.model!r}: {self.target.storage.uri(key)} exists although this "
                        f"transfer holds {partition.ts} in dt={partition.dt}; remove the stray file and rerun"
                    ) from None
                self.next_second(partition)
                if self._writer is not None and self._writing is partition:  # rows of its next parts
                    moment = layout.parse_ts(partition.ts).replace(tzinfo=None)
                    self._writer.set_buffered(layout.TRANSFERRED_AT_COLUMN, pa.scalar(moment, pa.timestamp("ms")))
                self._upload_restamped(partition, path, rows)
                return
        partition.files.append(info)
        partition.file_rows.append(rows)

    def _upload_restamped(self, partition: PartitionTransfer, path: Path, rows: int) -> None:
        """Upload part 0 again under the partition's new timestamp, its `_transferred_at` rewritten to match."""
        copy = restamp(path, layout.TRANSFERRED_AT_COLUMN, layout.parse_ts(partition.ts))
        try:
            self._upload(partition, copy.path, rows)
        finally:
            copy.release()


def _with_transferred_at(batch: pa.RecordBatch, transfer_ts: str, schema: pa.Schema) -> pa.RecordBatch:
    moment = layout.parse_ts(transfer_ts).replace(tzinfo=None)
    column = pa.repeat(pa.scalar(moment, pa.timestamp("ms")), batch.num_rows)
    return pa.RecordBatch.from_arrays([*batch.columns, column], schema=schema)
