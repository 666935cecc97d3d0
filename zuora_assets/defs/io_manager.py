"""The lake IO manager: writes a model's transfer as Hive-style Parquet, one transfer per `dt`, and
loads partitions back lazily."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from zuora_assets.defs.failures import fail_fast_unless_transient
from zuora_assets.defs.resources import LakeResource
from zuora_assets.lake.readers import partition_dataset, scan
from zuora_assets.lake.storage import Storage
from zuora_assets.lake.transfer import PartitionWrite, write_transfer

PARTITION_COLUMN = "updated_date"  # partition D holds the record versions updated on UTC day D
PROGRESS_EVERY_SECONDS = 5.0


@dataclass
class ModelTransfer:
    """What a `zuora/<model>` asset returns: the rows of one window, not yet read, and how to write them."""

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    window: tuple[datetime, datetime]
    mode: str  # "replace" | "append"


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
    return {
        "dagster/uri": dg.MetadataValue.path(storage.uri(partition_dir) + "/"),
        "dagster/row_count": write.rows,
        "dagster/partition_row_count": write.rows,
        "dagster/column_schema": column_schema(schema),
        "rows": write.rows,
        "bytes": write.bytes,
        "files": len(write.files),
        "transfer": write.transfer_ts,
        "mode": write.mode,
        "replaced_files": len(write.deleted_keys),
        "manifest": write.manifest_key,
    }


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
        transfer = {"transfer_seconds": round(seconds, 1), "rows_per_second": round(rows / seconds) if seconds else 0}
        self._add_metadata(context, writes, storage, folder, model, obj, transfer)

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
        context.add_output_metadata(
            {**window, "partitions": len(writes), "total_rows": sum(w.rows for w in writes)}
        )
        for dt, metadata in per_partition.items():
            context.step_context.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=dt)

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame | pads.Dataset:
        model = context.asset_key.path[-1]
        dts = list(context.asset_partition_keys) if context.has_asset_partitions else None
        storage, folder = self.lake.storage(), self.lake.folder()
        if context.dagster_type.typing_type is pads.Dataset:
            return partition_dataset(storage, folder, model, dts)
        return scan(storage, folder, model, dts)
