"""The reconciliation of deletes beyond Zuora's 30 days: per model, an Id-only export of every live record,
compared with the ids `<model>_current` holds; each id gone from Zuora gets a tombstone in today's partition.

One `zuora_reconcile/<model>` asset per model (one factory) and one weekly schedule (ZUORA_RECONCILE_CRON).
A run fixes its snapshot, exports `select Id, UpdatedDate from <Object>` for `[2000-01-01, snapshot + 1 day)` without
deleted records (AQuA stateless; UpdatedDate is the column the extractor splits too-large windows by), writes
the ids to a local Parquet file, and anti-joins them in DuckDB with the latest live version of each id in the
lake (the `_current` view's SQL), spilling beyond ZUORA_RECONCILE_MEMORY_LIMIT. Each id left over whose lake
version is older than the snapshot gets a tombstone (`_deleted` true, `updated_date` = the snapshot, other
columns null), appended as one transfer whose manifest says `"detected_by": "reconciliation"`: replaces keep it,
and it moves no sync state.
"""


import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from zuora_assets.athena.reconcile import gone_keys
from zuora_assets.common.contract import DELETED_COLUMN, ID_COLUMN, TRANSFERRED_AT_COLUMN, UPDATED_COLUMN
from zuora_assets.defs.clock import ClockParam, snapshot_of
from zuora_assets.defs.failures import RETRY_POLICY, fail_fast_unless_transient
from zuora_assets.defs.resources import LakeResource, ZuoraSource
from zuora_assets.lake import layout
from zuora_assets.lake.readers import model_files, partition_dataset
from zuora_assets.lake.transfer import write_transfer
from zuora_assets.settings import UpkeepSettings
from zuora_assets.zuora.catalog import MODELS, ZuoraModel

GROUP = "zuora_reconcile"
DETECTED_BY = "reconciliation"
IDS_FROM = datetime(2000, 1, 1, tzinfo=UTC)  # before any Zuora tenant's first record (Zuora's own advice)
AHEAD = timedelta(days=1)  # the Id export's window ends this far past the snapshot
KEY, CURSOR = ID_COLUMN, UPDATED_COLUMN


def reconcile_asset(model: ZuoraModel) -> dg.AssetsDefinition:
    """The `zuora_reconcile/<model>` asset of one catalog model."""

    @dg.asset(
        key=[GROUP, model.name],
        description=f"Tombstones for {model.object} records deleted in Zuora beyond its 30 days of deleted "
        "records: an Id-only export of the live records compared with the lake's current ids.",
        group_name=GROUP,
        deps=[dg.AssetKey(["zuora", model.name])],
        kinds={"zuora", "duckdb"},
        pool="zuora_api",
        retry_policy=RETRY_POLICY,
    )
    def _asset(context: dg.AssetExecutionContext, zuora: ZuoraSource, lake: LakeResource, clock: ClockParam):
        with fail_fast_unless_transient(f"{GROUP}/{model.name}"):
            return reconcile(context, zuora, lake, clock, model)

    return _asset


def reconcile(context, zuora: ZuoraSource, lake: LakeResource, clock, model: ZuoraModel) -> dg.MaterializeResult:
    storage, folder = lake.storage(), lake.folder()
    if not model_files(storage, folder, model.name):
        context.log.info(f"{model.name}: the lake holds no rows yet; nothing to reconcile, no export sent")
        return dg.MaterializeResult(metadata={"tombstones": 0, "zuora_live_ids": 0})
    memory_limit = lake.settings.load().upkeep.reconcile_memory_limit
    snapshot = snapshot_of(clock)
    with tempfile.TemporaryDirectory(prefix=f"zuora-ids-{model.name}-") as tmp:
        ids_file = Path(tmp) / "ids.parquet"
        with zuora.client() as client:
            # Past the snapshot too: a record updated while the export runs is still live (and `gone_keys` keeps
            # lake versions at or after the snapshot anyway).
            extraction = zuora.extractor(client, context.log).extract(model.ids_only(), IDS_FROM, snapshot + AHEAD)
            live = _write_ids(extraction.batches, ids_file)
        context.log.info(f"{model.name}: Zuora has {live:,} live record(s) at {snapshot.isoformat()}")
        if live == 0:
            raise dg.Failure(
                description=f"{model.name}: Zuora exported no live {model.object} record while the lake holds some; "
                "no tombstone written. If every record really was deleted, remove the model's folder from the lake; "
                "otherwise check the tenant and entity the settings reach (ZUORA_BASE_URL, ZUORA_ENTITY_ID).",
                allow_retries=False,
            )
        versions = partition_dataset(storage, folder, model.name)
        schema = _tombstone_schema(versions.schema)
        gone = gone_keys(versions, [ids_file], snapshot=snapshot, memory_limit=memory_limit,
                         temp_dir=tmp)
        tombstones = _tombstones(gone, schema, snapshot)
        first = next(tombstones, None)
        if first is None:
            context.log.info(f"{model.name}: every live id of the lake is live in Zuora; no tombstone written")
            return dg.MaterializeResult(
                metadata={"tombstones": 0, "zuora_live_ids": live, "snapshot": snapshot.isoformat()}
            )
        [write] = write_transfer(
            storage, folder=folder, model=model.name, schema=schema, batches=_chain(first, tombstones),
            partition_column=CURSOR, partitions=[snapshot.date().isoformat()], window=(IDS_FROM, snapshot),
            mode="append", snapshot=snapshot, clock=clock.now, sleep=clock.sleep, run_id=context.run.run_id,
            detected_by=DETECTED_BY,
        )
    context.log.warning(
        f"{model.name}: {write.rows:,} id(s) of the lake are gone from Zuora (deleted beyond its 30 days of deleted "
        f"records, or before the first sync); tombstones written to dt={write.dt} as transfer {write.transfer_ts}"
    )
    return dg.MaterializeResult(metadata={
        "tombstones": write.rows,
        "zuora_live_ids": live,
        "snapshot": snapshot.isoformat(),
        "detected_by": DETECTED_BY,
        "transfer": write.transfer_ts,
        "dt": write.dt,
        "manifest": write.manifest_key,
        "dagster/uri": dg.MetadataValue.path(storage.uri(layout.partition_prefix(folder, model.name, write.dt).rstrip("/"))),
    })


def _write_ids(batches, path: Path) -> int:
    """Stream the export's `id` column to one Parquet file; the number of ids."""
    rows = 0
    with pq.ParquetWriter(path, pa.schema([(KEY, pa.string())])) as writer:
        for batch in batches:
            writer.write_table(pa.table({KEY: batch.column(KEY)}))
            rows += batch.num_rows
    return rows


def _tombstone_schema(lake: pa.Schema) -> pa.Schema:
    """The lake's columns without the ones the lake adds itself (`dt`, `_transferred_at`)."""
    return pa.schema([f for f in lake if f.name not in (layout.PARTITION_COLUMN, TRANSFERRED_AT_COLUMN)])


def _tombstones(keys: Iterator[pa.RecordBatch], schema: pa.Schema, snapshot: datetime) -> Iterator[pa.RecordBatch]:
    moment = snapshot.astimezone(UTC).replace(tzinfo=None)
    for batch in keys:
        n = batch.num_rows
        if not n:
            continue
        given = {
            KEY: batch.column(0).cast(schema.field(KEY).type),
            CURSOR: pa.array([moment] * n, schema.field(CURSOR).type),
            DELETED_COLUMN: pa.array([True] * n, pa.bool_()),
        }
        yield pa.record_batch([given.get(f.name, pa.nulls(n, f.type)) for f in schema], schema=schema)


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def reconcile_assets() -> list[dg.AssetsDefinition]:
    return [reconcile_asset(m) for m in MODELS.values()]


def reconcile_schedule(settings: UpkeepSettings) -> dg.ScheduleDefinition:
    skipped = [dg.AssetKey([GROUP, name]) for name in sorted(settings.reconcile_skip)]
    selection = dg.AssetSelection.groups(GROUP) - dg.AssetSelection.assets(*skipped)
    return dg.ScheduleDefinition(
        name="weekly_reconciliation",
        cron_schedule=settings.reconcile_cron,
        execution_timezone="UTC",
        target=selection,
        description="Finds records deleted in Zuora beyond its 30 days of deleted records (one Id-only export per "
        "model) and writes their tombstones (ZUORA_RECONCILE_CRON; ZUORA_RECONCILE_SKIP leaves models out).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
