"""Writing one model's rows into the lake: one transfer per owned partition, in replace or append mode.

The order of steps is what makes it safe (DESIGN.md 3):
1. upload every new data file under a fresh key (conditional put), while the batches are consumed;
   if the batches raise, a row is out of range or an upload fails, the files uploaded so far are deleted
   and nothing of the call remains;
2. commit each partition's transfer by writing its manifest;
3. replace mode only: delete the partition's files whose transfer timestamp is older than the new one.
A crash between 2 and 3 leaves duplicates, never gaps; a rerun converges. Concurrent replaces of one
partition never delete a newer transfer's files, so the newest transfer wins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.lake import layout
from zuora_assets.lake.manifest import Manifest, ManifestFile, write_manifest
from zuora_assets.lake.parquet import FileLimits, RollingParquetWriter, conform, lake_schema
from zuora_assets.lake.reservations import reserve_transfer_ts
from zuora_assets.lake.storage import ObjectInfo, Storage, StorageError

log = logging.getLogger(__name__)

TransferMode = Literal["replace", "append"]
ProgressCallback = Callable[[int, int, float], None]


@dataclass
class PartitionWrite:
    """What one transfer wrote to one partition."""

    dt: str
    transfer_ts: str
    files: list[ObjectInfo]
    rows: int
    bytes: int
    manifest_key: str
    deleted_keys: list[str]
    mode: TransferMode


@dataclass(frozen=True)
class _Request:
    """The validated arguments of one `write_transfer` call."""

    storage: Storage
    folder: str
    model: str
    input_schema: pa.Schema  # the caller's schema, timestamps as stored
    file_schema: pa.Schema  # input_schema + _transferred_at
    partition_column: str
    partitions: tuple[str, ...]
    window: tuple[datetime, datetime]
    mode: TransferMode
    clock: Callable[[], datetime]
    run_id: str | None
    limits: FileLimits

    @property
    def owned_range(self) -> str:
        return f"{self.partitions[0]}..{self.partitions[-1]} ({len(self.partitions)} partitions)"


@dataclass
class _PartitionTransfer:
    """One partition's transfer while it is being written: its timestamp and the files uploaded so far."""

    dt: str
    ts: str
    files: list[ObjectInfo] = field(default_factory=list)
    file_rows: list[int] = field(default_factory=list)


def write_transfer(
    storage: Storage,
    *,
    folder: str,
    model: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    partition_column: str,
    partitions: Iterable[str],
    window: tuple[datetime, datetime],
    mode: TransferMode,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_progress: ProgressCallback | None = None,
    run_id: str | None = None,
    limits: FileLimits | None = None,
) -> list[PartitionWrite]:
    """Write `batches` of `model` as one transfer per partition in `partitions`; return one write per partition.

    Rows go to the partition of the UTC date of `partition_column`; a row outside `partitions` is an error.
    Every owned partition gets a transfer (and a manifest), even with no rows. `on_progress(rows, bytes,
    seconds)` gets running totals of the rows and Arrow bytes consumed and the seconds since the start.
    """
    request = _validate(
        storage, folder, model, schema, partition_column, partitions, window, mode, clock, run_id, limits
    )
    uploader = _Uploader(request)
    try:
        _consume(request, batches, uploader, on_progress)
        uploader.finish()
    except BaseException as err:
        uploader.rollback(err)
        raise
    writes = _commit_all(request, uploader)
    if request.mode == "replace":
        _delete_replaced(request, writes)
    return writes


def _validate(
    storage: Storage,
    folder: str,
    model: str,
    schema: pa.Schema,
    partition_column: str,
    partitions: Iterable[str],
    window: tuple[datetime, datetime],
    mode: str,
    clock: Callable[[], datetime],
    run_id: str | None,
    limits: FileLimits | None,
) -> _Request:
    model = layout.check_model(model)
    where = f"model {model!r}"
    if mode not in get_args(TransferMode):
        raise ValueError(f"{where}: mode {mode!r} is not one of {get_args(TransferMode)}")
    for reserved in (layout.TRANSFERRED_AT_COLUMN, layout.PARTITION_COLUMN):
        if reserved in schema.names:
            raise ValueError(
                f"{where}: the schema has a column {reserved!r}, which the lake adds itself; drop it"
            )
    if partition_column not in schema.names:
        raise ValueError(
            f"{where}: partition column {partition_column!r} is not in the schema {schema.names}"
        )
    partition_type = schema.field(partition_column).type
    if not (pa.types.is_timestamp(partition_type) or pa.types.is_date(partition_type)):
        raise ValueError(
            f"{where}: partition column {partition_column!r} is {partition_type}, not a timestamp"
        )
    owned = tuple(sorted({layout.check_dt(dt) for dt in partitions}))
    if not owned:
        raise ValueError(f"{where}: no partitions given; pass the dt keys this transfer owns")
    start, end = window
    if start.tzinfo is None or end.tzinfo is None or start > end:
        raise ValueError(f"{where}: window {window} must be two tz-aware UTC datetimes with start <= end")
    input_schema = lake_schema(schema)
    file_schema = input_schema.append(pa.field(layout.TRANSFERRED_AT_COLUMN, pa.timestamp("ms")))
    return _Request(
        storage=storage,
        folder=layout.check_folder(folder),
        model=model,
        input_schema=input_schema,
        file_schema=file_schema,
        partition_column=partition_column,
        partitions=owned,
        window=(start.astimezone(UTC), end.astimezone(UTC)),
        mode=mode,  # type: ignore[arg-type]
        clock=clock,
        run_id=run_id,
        limits=limits or FileLimits(),
    )


def _consume(
    request: _Request,
    batches: Iterable[pa.RecordBatch],
    uploader: _Uploader,
    on_progress: ProgressCallback | None,
) -> None:
    """Feed every row of `batches` to the uploader, partition by partition."""
    started, rows, nbytes = time.monotonic(), 0, 0
    owned = set(request.partitions)
    for batch in batches:
        batch = conform(batch, request.input_schema, f"model {request.model!r}")
        for dt, rows_of_dt in _split_by_dt(batch, request):
            if dt not in owned:
                raise ValueError(
                    f"model {request.model!r}: rows with {request.partition_column} on {dt} fall outside the "
                    f"partitions this transfer owns, {request.owned_range}; make the window and the partitions agree"
                )
            uploader.write(dt, rows_of_dt)
        rows, nbytes = rows + batch.num_rows, nbytes + batch.nbytes
        if on_progress is not None:
            on_progress(rows, nbytes, time.monotonic() - started)


def _split_by_dt(batch: pa.RecordBatch, request: _Request) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The rows of `batch` per UTC date of the partition column, in date order."""
    if batch.num_rows == 0:
        return
    moments = batch.column(request.partition_column)
    if moments.null_count:
        raise ValueError(
            f"model {request.model!r}: {moments.null_count} row(s) have no {request.partition_column} (null), so "
            "they belong to no partition; every row needs one"
        )
    days = moments.cast(pa.date32())
    distinct = sorted(pc.unique(days).to_pylist())
    if len(distinct) == 1:
        yield distinct[0].isoformat(), batch
        return
    for day in distinct:
        yield day.isoformat(), batch.filter(pc.equal(days, pa.scalar(day, pa.date32())))


class _Uploader:
    """Writes and uploads the data files of each partition's transfer, one local file open at a time."""

    def __init__(self, request: _Request):
        self.request = request
        self.partitions: dict[str, _PartitionTransfer] = {}
        self._attempted: list[str] = []  # every key a put was tried for, to undo
        self._writer: RollingParquetWriter | None = None
        self._writing: _PartitionTransfer | None = None
        self._last_ts: str | None = None

    def write(self, dt: str, batch: pa.RecordBatch) -> None:
        """Add rows of partition `dt` (starting its transfer on first sight)."""
        if self._writing is None or self._writing.dt != dt:
            self._close_writer()
            target = self.partitions.get(dt) or self._start(dt)
            self._writing = target
            on_file = partial(self._upload, target)
            self._writer = RollingParquetWriter(self.request.file_schema, on_file, self.request.limits)
        assert self._writer is not None
        self._writer.write(_with_transferred_at(batch, self._writing.ts, self.request.file_schema))

    def finish(self) -> None:
        """Upload the last file; start (empty) transfers for the owned partitions that had no rows."""
        self._close_writer()
        for dt in self.request.partitions:
            if dt not in self.partitions:
                self._start(dt)

    def rollback(self, cause: BaseException, extra_keys: Iterable[str] = ()) -> None:
        """Delete every uncommitted file this call uploaded (new keys, so nobody else's); notes go on `cause`."""
        if self._writer is not None:
            self._writer.abort()
        keys = [*self._attempted, *extra_keys]
        if not keys:
            return
        try:
            self.request.storage.delete(keys)
        except StorageError as err:
            log.error(
                "model %r: could not remove the files of a failed transfer: %s", self.request.model, err
            )
            cause.add_note(f"and the files already uploaded could not all be removed: {err}")

    def forget(self, dt: str) -> None:
        """Partition `dt` is committed: its files are no longer to be rolled back."""
        committed = {info.key for info in self.partitions[dt].files}
        self._attempted = [key for key in self._attempted if key not in committed]

    def _start(self, dt: str) -> _PartitionTransfer:
        request = self.request
        now = request.clock()
        if now.tzinfo is None:
            raise ValueError(
                f"model {request.model!r}: the clock returned {now}, a naive time; return UTC-aware times"
            )
        not_before = layout.format_ts(now)
        if self._last_ts is not None and not_before <= self._last_ts:
            not_before = layout.next_ts(self._last_ts)
        note = {"dt": dt, "run_id": request.run_id, "mode": request.mode}
        ts = reserve_transfer_ts(request.storage, request.folder, request.model, not_before, note=note)
        self._last_ts = ts
        self.partitions[dt] = _PartitionTransfer(dt, ts)
        return self.partitions[dt]

    def _close_writer(self) -> None:
        writer, self._writer, self._writing = self._writer, None, None
        if writer is not None:
            writer.close()

    def _upload(self, target: _PartitionTransfer, path: Path, rows: int) -> None:
        request = self.request
        key = layout.data_key(request.folder, request.model, target.dt, len(target.files), target.ts)
        self._attempted.append(key)
        target.files.append(request.storage.put_file(key, path, if_none_match=True))
        target.file_rows.append(rows)


def _with_transferred_at(batch: pa.RecordBatch, transfer_ts: str, schema: pa.Schema) -> pa.RecordBatch:
    moment = layout.parse_ts(transfer_ts).replace(tzinfo=None)
    column = pa.repeat(pa.scalar(moment, pa.timestamp("ms")), batch.num_rows)
    return pa.RecordBatch.from_arrays([*batch.columns, column], schema=schema)


def _commit_all(request: _Request, uploader: _Uploader) -> list[PartitionWrite]:
    """Write each partition's manifest; if one fails, undo the partitions not yet committed and raise."""
    writes = []
    for dt in request.partitions:
        try:
            writes.append(_commit(request, uploader.partitions[dt]))
        except BaseException as err:
            failed_manifest = layout.manifest_key(
                request.folder, request.model, dt, uploader.partitions[dt].ts
            )
            uploader.rollback(err, extra_keys=[failed_manifest])  # the put may have landed before it failed
            if writes:
                err.add_note(
                    f"model {request.model!r}: partitions {[w.dt for w in writes]} were committed before the "
                    f"failure (their older files remain until a rerun); nothing of {dt} and later remains"
                )
            raise
        uploader.forget(dt)
    return writes


def _commit(request: _Request, target: _PartitionTransfer) -> PartitionWrite:
    """Write the manifest of one partition's transfer (recording, in replace mode, the files it replaces)."""
    replaced = _older_files(request, target.dt, target.ts) if request.mode == "replace" else []
    files = tuple(
        ManifestFile(info.key, rows, info.size, info.sha256 or "")
        for info, rows in zip(target.files, target.file_rows, strict=True)
    )
    manifest = Manifest(
        model=request.model,
        dt=target.dt,
        transfer_ts=target.ts,
        mode=request.mode,
        window_start=request.window[0],
        window_end=request.window[1],
        rows=sum(target.file_rows),
        bytes=sum(info.size for info in target.files),
        files=files,
        schema=tuple((f.name, str(f.type)) for f in request.file_schema),
        replaced_keys=tuple(replaced),
        run_id=request.run_id,
    )
    key = write_manifest(request.storage, request.folder, manifest)
    return PartitionWrite(
        dt=target.dt,
        transfer_ts=target.ts,
        files=list(target.files),
        rows=manifest.rows,
        bytes=manifest.bytes,
        manifest_key=key,
        deleted_keys=list(replaced),
        mode=request.mode,
    )


def _older_files(request: _Request, dt: str, transfer_ts: str) -> list[str]:
    """Keys of partition `dt`'s data files from transfers older than `transfer_ts` (never newer ones)."""
    prefix = layout.partition_prefix(request.folder, request.model, dt)
    older = []
    for info in request.storage.list(prefix):
        parsed = layout.parse_data_key(info.key)
        if parsed is not None and parsed[1] < transfer_ts and "/" not in info.key[len(prefix) :]:
            older.append(info.key)
    return older


def _delete_replaced(request: _Request, writes: list[PartitionWrite]) -> None:
    """Delete each committed partition's files older than its transfer; raise naming the partitions that failed.

    The partition is listed again here (not only before the manifest), so older files that a concurrent
    transfer uploaded meanwhile are replaced too; `deleted_keys` is updated to what was deleted.
    """
    failures = []
    for write in writes:
        try:
            older = _older_files(request, write.dt, write.transfer_ts)
            if older:
                request.storage.delete(older)
            write.deleted_keys = older
        except StorageError as err:
            failures.append(f"dt={write.dt}: {err}")
    if failures:
        raise StorageError(
            f"model {request.model!r}: the new transfers are committed, but older files could not be deleted, so "
            f"these partitions hold duplicate rows until a rerun succeeds: {'; '.join(failures)}"
        )
