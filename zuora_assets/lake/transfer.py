"""Writing one model's rows into the lake: one transfer per owned partition, in replace or append mode.

A transfer is named by its snapshot: the second its window end was fixed (before its export), shared by
every partition it writes and never later than the clock. The order of steps is what makes it safe
(DESIGN.md 3):
1. upload every new data file under a fresh key (conditional put), while the batches are consumed
   (`upload`); if the batches raise, a row is out of range or an upload fails, the files uploaded so far are
   deleted and nothing of the call remains;
2. commit each partition's transfer by writing its manifest (`commit`);
3. order by snapshot (`commit.settle`): yield to a newer committed replace, or (replace) delete the older
   files; a crash before this leaves duplicates, never gaps, and a rerun converges;
4. merge the commits into the model's sync state (`state`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.common.contract import PARTITION_COLUMN, TRANSFERRED_AT_COLUMN
from zuora_assets.common.failures import InvalidValue
from zuora_assets.lake import layout, memory
from zuora_assets.lake.commit import PartitionWrite, commit_all, settle_all
from zuora_assets.lake.memory import DEFAULT_BUDGET, MemoryBudget
from zuora_assets.lake.parquet import FileLimits, conform, lake_schema, remove_stale_temp_files
from zuora_assets.lake.state import Commit, record_commits
from zuora_assets.lake.storage import Storage, StorageError
from zuora_assets.lake.upload import TransferSpec, Uploader

__all__ = ["PartitionWrite", "TransferMode", "write_transfer"]

log = logging.getLogger(__name__)

TransferMode = Literal["replace", "append"]
ProgressCallback = Callable[[int, int, float], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Request:
    """The validated arguments of one `write_transfer` call."""

    spec: TransferSpec
    input_schema: pa.Schema  # the caller's schema, timestamps as stored
    partition_column: str
    partitions: tuple[str, ...]

    @property
    def owned_range(self) -> str:
        return f"{self.partitions[0]}..{self.partitions[-1]} ({len(self.partitions)} partitions)"


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
    snapshot: datetime | None = None,
    clock: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: ProgressCallback | None = None,
    run_id: str | None = None,
    limits: FileLimits | None = None,
    budget: MemoryBudget = DEFAULT_BUDGET,
    unique_columns: Iterable[str] = (),
    detected_by: str | None = None,
) -> list[PartitionWrite]:
    """Write `batches` of `model` as one transfer per partition in `partitions`; return one write per partition.

    `snapshot` (tz-aware; default: the clock now) is when the window end was fixed: every partition is written
    under its second, `YYYYMMDDHHMMSS`, unless another transfer of the model holds that second there (then the
    next free one, waiting for the clock to pass it with `sleep`). Rows go to the partition of the UTC date of
    `partition_column`; a row outside `partitions` is an error. Every owned partition gets a transfer (and a
    manifest), even with no rows. `on_progress(rows, bytes, seconds)` gets running totals of the rows and
    Arrow bytes consumed and the seconds since the start. `budget` bounds the memory (row groups of
    `budget.row_group_bytes` unless `limits` says otherwise) and the finished files waiting for upload.
    `unique_columns` (a key whose values never repeat) are written without a dictionary.
    `detected_by` (e.g. "reconciliation") marks rows found by a comparison rather than a window of changes: the
    manifest says so, a later replace of the partition keeps them, and the sync state does not move.
    """
    request = _validate(
        storage, folder, model, schema, partition_column, partitions, window, mode, snapshot, clock, sleep,
        run_id, limits or FileLimits(row_group_bytes=budget.row_group_bytes), budget.pending_files,
        tuple(unique_columns), detected_by,
    )
    _remove_stale_temp_files(storage)
    uploader = Uploader(request.spec)
    try:
        _consume(request, batches, uploader, on_progress)
        uploader.finish(request.partitions)
    except BaseException as err:
        uploader.rollback(err)
        raise
    finally:
        memory.release()
    writes = commit_all(request.spec, uploader, request.partitions)
    try:
        settle_all(request.spec, writes)
    except BaseException as err:
        _record(request, writes, cause=err)
        raise
    _record(request, writes)
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
    snapshot: datetime | None,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    run_id: str | None,
    limits: FileLimits,
    pending_files: int,
    unique_columns: tuple[str, ...],
    detected_by: str | None = None,
) -> _Request:
    model = layout.check_model(model)
    where = f"model {model!r}"
    if mode not in get_args(TransferMode):
        raise InvalidValue(f"{where}: mode {mode!r} is not one of {get_args(TransferMode)}")
    for reserved in (TRANSFERRED_AT_COLUMN, PARTITION_COLUMN):
        if reserved in schema.names:
            raise InvalidValue(
                f"{where}: the schema has a column {reserved!r}, which the lake adds itself; drop it"
            )
    if partition_column not in schema.names:
        raise InvalidValue(
            f"{where}: partition column {partition_column!r} is not in the schema {schema.names}"
        )
    partition_type = schema.field(partition_column).type
    if not (pa.types.is_timestamp(partition_type) or pa.types.is_date(partition_type)):
        raise InvalidValue(
            f"{where}: partition column {partition_column!r} is {partition_type}, not a timestamp"
        )
    owned = tuple(sorted({layout.check_dt(dt) for dt in partitions}))
    if not owned:
        raise InvalidValue(f"{where}: no partitions given; pass the dt keys this transfer owns")
    start, end = window
    if start.tzinfo is None or end.tzinfo is None or start > end:
        raise InvalidValue(f"{where}: window {window} must be two tz-aware UTC datetimes with start <= end")
    snapshot = clock() if snapshot is None else snapshot
    if snapshot.tzinfo is None:
        raise InvalidValue(
            f"{where}: the snapshot (or clock) gave {snapshot}, a naive time; use UTC-aware times"
        )
    input_schema = lake_schema(schema)
    file_schema = input_schema.append(pa.field(TRANSFERRED_AT_COLUMN, pa.timestamp("ms")))
    spec = TransferSpec(
        storage=storage,
        folder=layout.check_folder(folder),
        model=model,
        mode=mode,
        window=(start.astimezone(UTC), end.astimezone(UTC)),
        file_schema=file_schema,
        snapshot_ts=layout.format_ts(snapshot),
        limits=limits,
        clock=clock,
        sleep=sleep,
        run_id=run_id,
        pending_files=pending_files,
        unique_columns=unique_columns,
        detected_by=detected_by,
    )
    return _Request(spec, input_schema, partition_column, owned)


def _remove_stale_temp_files(storage: Storage) -> None:
    """Temp files of killed writers (never a live one's) go before a new transfer starts."""
    removed = [*storage.remove_stale_temp_files(), *map(str, remove_stale_temp_files())]
    if removed:
        log.info("removed %d temp file(s) that killed writers left behind: %s", len(removed), removed[:5])


def _consume(
    request: _Request,
    batches: Iterable[pa.RecordBatch],
    uploader: Uploader,
    on_progress: ProgressCallback | None,
) -> None:
    """Feed every row of `batches` to the uploader, partition by partition."""
    started, rows, nbytes = time.monotonic(), 0, 0
    owned = set(request.partitions)
    model = request.spec.model
    for batch in batches:
        batch = conform(batch, request.input_schema, f"model {model!r}")
        for dt, rows_of_dt in _split_by_dt(batch, request):
            if dt not in owned:
                raise InvalidValue(
                    f"model {model!r}: rows with {request.partition_column} on {dt} fall outside the "
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
        raise InvalidValue(
            f"model {request.spec.model!r}: {moments.null_count} row(s) have no {request.partition_column} "
            "(null), so they belong to no partition; every row needs one"
        )
    days = moments.cast(pa.date32())
    distinct = sorted(pc.unique(days).to_pylist())
    if len(distinct) == 1:
        yield distinct[0].isoformat(), batch
        return
    for day in distinct:
        yield day.isoformat(), batch.filter(pc.equal(days, pa.scalar(day, pa.date32())))


def _record(request: _Request, writes: list[PartitionWrite], cause: BaseException | None = None) -> None:
    """Merge the committed (not superseded) partitions into the sync state."""
    spec = request.spec
    if spec.detected_by is not None:
        return  # rows found by a comparison: no window of changes was synced
    commits = [
        Commit(w.dt, w.transfer_ts, w.mode, spec.window[1], replaced_older=bool(w.deleted_keys))
        for w in writes
        if w.superseded_by is None
    ]
    if not commits:
        return
    try:
        record_commits(spec.storage, spec.folder, spec.model, commits)
    except StorageError as err:
        if cause is None:
            raise
        cause.add_note(f"and the sync state could not be updated either: {err}")
