"""The lake IO manager: writes a model's transfer as Hive-style Parquet, one transfer per `dt`, and
loads partitions back lazily. In the nightly consolidation it also prunes the manifests of replaced
transfers that are older than the retention period."""

# No `from __future__ import annotations`: Dagster reads these resources' field annotations at run time to
# resolve the resources bound with `configure_at_launch` (see definitions.build_resources).
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from zuora_assets.defs.failures import fail_fast_unless_transient
from zuora_assets.defs.resources import LakeResource
from zuora_assets.lake.readers import partition_dataset, scan
from zuora_assets.lake.retention import prune_replaced_manifests
from zuora_assets.lake.state import load_state
from zuora_assets.lake.storage import Storage
from zuora_assets.lake.transfer import PartitionWrite, write_transfer

PARTITION_COLUMN = "updated_date"  # partition D holds the record versions updated on UTC day D
PROGRESS_EVERY_SECONDS = 5.0


@dataclass
class ModelTransfer:
    """What a `zuora/<model>` asset returns: the rows of one window, not yet read, and how to write them.

    `snapshot` is when the window end was fixed (the transfer's name); `clock` has `now()` and `sleep()`;
    `prune_manifests` (the nightly consolidation) also removes replaced manifests past the retention;
    `add_partition_metadata(metadata, partition_key)` gives one partition's materialization its own figures
    (the asset's public `context.add_asset_metadata`: an output context has no per-partition metadata).
    """

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    window: tuple[datetime, datetime]
    mode: str  # "replace" | "append"
    snapshot: datetime
    clock: Any
    add_partition_metadata: Callable[[dict, str], None]
    prune_manifests: bool = False


class ProgressLog:
    """Logs rows, bytes and rows per second of a running transfer at most every few seconds."""

    def __init__(self, log, model: str, every: float = PROGRESS_EVERY_SECONDS):
        self._log, self._model, self._every = log, model, every
        self._last = time.monotonic()

    def __call__(self, rows: int, nbytes: int, seconds: float) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._log.info(self.line(rows, nbytes, seconds))

    def line(self, rows: int, nbytes: int, seconds: float) -> str:
        rate = rows / seconds if seconds > 0 else 0.0
        return f"{self._model}: {rows:,} rows, {nbytes / 1e6:,.1f} MB written, {rate:,.0f} rows/s"


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])


def partition_metadata(write: PartitionWrite, storage: Storage, folder: str, model: str, schema: pa.Schema) -> dict:
    partition_dir = f"{folder}/{model}/dt={write.dt}" if folder else f"{model}/dt={write.dt}"
    metadata = {
        "dagster/uri": dg.MetadataValue.path(storage.uri(partition_dir) + "/"),
        "dagster/column_schema": column_schema(schema),
        "rows": write.rows,
        "bytes": write.bytes,
        "files": len(write.files),
        "transfer": write.transfer_ts,
        "mode": write.mode,
        "replaced_files": len(write.deleted_keys),
        "manifest": write.manifest_key,
    }
    if write.taken:
        metadata["timestamps_taken"] = dg.MetadataValue.text(
            f"{', '.join(write.taken)} held by another transfer of {model} in this partition; written as "
            f"{write.transfer_ts}"
        )
    if write.superseded_by is not None:
        # Its files were removed: the partition holds the newer snapshot, so no row count is claimed here.
        metadata["superseded_by"] = write.superseded_by
        metadata["manifest"] = "(removed: superseded)"
        return metadata
    return {"dagster/row_count": write.rows, "dagster/partition_row_count": write.rows, **metadata}


class LakeIOManager(dg.ConfigurableIOManager):
    """Writes `ModelTransfer`s to the lake and loads partitions as a polars LazyFrame or pyarrow dataset."""

    lake: LakeResource

    def handle_output(self, context: dg.OutputContext, obj: ModelTransfer) -> None:
        model = context.asset_key.path[-1]
        with fail_fast_unless_transient(f"zuora/{model}: opening the lake"):
            storage, folder = self.lake.storage(), self.lake.folder()
        progress = ProgressLog(context.log, model)
        started = time.monotonic()
        with fail_fast_unless_transient(f"zuora/{model} transfer to {storage.uri(folder or model)}"):
            writes = self._write(context, obj, storage, folder, model, progress)
        seconds = time.monotonic() - started
        rows, nbytes = sum(w.rows for w in writes), sum(w.bytes for w in writes)
        context.log.info(progress.line(rows, nbytes, seconds) + f" in {len(writes)} partition(s)")
        for write in writes:
            if write.superseded_by is not None:
                context.log.warning(
                    f"{model} dt={write.dt}: transfer {write.transfer_ts} is superseded by {write.superseded_by}, a "
                    "newer snapshot that committed first; its files were removed"
                )
        transfer = {"transfer_seconds": round(seconds, 1), "rows_per_second": round(rows / seconds) if seconds else 0}
        if obj.prune_manifests:
            with fail_fast_unless_transient(f"zuora/{model}: pruning replaced manifests"):
                transfer["pruned_manifests"] = self._prune(context, storage, folder, model, obj)
        self._add_metadata(context, writes, storage, folder, model, obj, transfer)

    def _prune(self, context, storage: Storage, folder: str, model: str, obj: ModelTransfer) -> int:
        days = self.lake.settings.load().manifest_retention_days
        pruned = prune_replaced_manifests(
            storage,
            folder,
            model,
            load_state(storage, folder, model),
            now=obj.clock.now(),
            retention=timedelta(days=days),
        )
        context.log.info(
            f"{model}: removed {len(pruned.manifests)} manifest(s) of replaced transfers in {len(pruned.partitions)} "
            f"partition(s) replaced over {days} days ago (ZUORA_MANIFEST_RETENTION_DAYS); {pruned.waiting} wait"
        )
        return len(pruned.manifests)

    def _write(self, context, obj: ModelTransfer, storage, folder, model, progress) -> list[PartitionWrite]:
        return write_transfer(
            storage,
            folder=folder,
            model=model,
            schema=obj.schema,
            batches=obj.batches,
            partition_column=PARTITION_COLUMN,
            partitions=list(context.asset_partition_keys),
            window=obj.window,
            mode=obj.mode,
            snapshot=obj.snapshot,
            clock=obj.clock.now,
            sleep=obj.clock.sleep,
            on_progress=progress,
            run_id=context.run_id,
        )

    def _add_metadata(self, context, writes, storage, folder, model, obj: ModelTransfer, transfer: dict) -> None:
        file_schema = obj.schema.append(pa.field("_transferred_at", pa.timestamp("ms")))
        per_partition = {w.dt: partition_metadata(w, storage, folder, model, file_schema) for w in writes}
        window = {"window_start": obj.window[0].isoformat(), "window_end": obj.window[1].isoformat(), **transfer}
        if len(per_partition) == 1:
            context.add_output_metadata({**next(iter(per_partition.values())), **window})
            return
        # A range run makes one materialization per partition; give each its own figures.
        superseded = sum(w.superseded_by is not None for w in writes)
        context.add_output_metadata(
            {**window, "partitions": len(writes), "total_rows": sum(w.rows for w in writes), "superseded": superseded}
        )
        for dt, metadata in per_partition.items():
            obj.add_partition_metadata(metadata, dt)

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame | pads.Dataset:
        model = context.asset_key.path[-1]
        dts = list(context.asset_partition_keys) if context.has_asset_partitions else None
        storage, folder = self.lake.storage(), self.lake.folder()
        if context.dagster_type.typing_type is pads.Dataset:
            return partition_dataset(storage, folder, model, dts)
        return scan(storage, folder, model, dts)
