"""`zuora/<model>` assets: one per model of the catalog, made by one factory.

A run extracts the window of its partition (or of its whole partition range, in one set of export
jobs) and hands the rows to the lake IO manager, which splits them by `dt` and writes one transfer
per partition. The run tag `zuora/mode` picks the write mode: `replace` (default: materializations,
backfills, the nightly consolidation) or `append` (the change sensor's incremental syncs of today).
"""


from datetime import UTC, datetime, timedelta

import dagster as dg

from zuora_assets.defs.failures import RETRY_POLICY, fail_fast_unless_transient
from zuora_assets.defs.io_manager import ModelTransfer
from zuora_assets.defs.partitions import daily
from zuora_assets.defs.resources import LakeResource, ZuoraSource
from zuora_assets.lake.manifest import high_water_mark
from zuora_assets.zuora.catalog import MODELS, ZuoraModel

MODE_TAG = "zuora/mode"
MODES = ("replace", "append")
CODE_VERSION = "1"


class TransferSettingsError(dg.Failure):
    """A run asked for something the connector can't do (a bad mode tag, append over a range)."""


def run_mode(tags) -> str:
    mode = tags.get(MODE_TAG, "replace")
    if mode not in MODES:
        raise TransferSettingsError(
            description=f"run tag {MODE_TAG}={mode!r} is not a write mode; use one of {', '.join(MODES)}",
            allow_retries=False,
        )
    return mode


def replace_window(partition_window, now: datetime) -> tuple[datetime, datetime]:
    """The whole partition (range), but never past now: later changes are the next run's."""
    start, end = partition_window.start.astimezone(UTC), partition_window.end.astimezone(UTC)
    return start, max(start, min(end, now))


def append_window(
    partition_window, now: datetime, hwm: datetime | None, lag: timedelta, lookback: timedelta
) -> tuple[datetime, datetime]:
    """`[hwm - lookback, now - lag)` clipped to the partition's day, so every row stays in its `dt`."""
    day_start, day_end = partition_window.start.astimezone(UTC), partition_window.end.astimezone(UTC)
    start = day_start if hwm is None else min(max(day_start, hwm - lookback), day_end)
    end = min(day_end, now - lag)
    return start, max(start, end)


def transfer_window(context: dg.AssetExecutionContext, zuora: ZuoraSource, lake: LakeResource, model: ZuoraModel):
    mode = run_mode(context.run.tags)
    now = datetime.now(UTC).replace(microsecond=0)
    if mode == "replace":
        return mode, replace_window(context.partition_time_window, now)
    if len(context.partition_keys) != 1:
        raise TransferSettingsError(
            description=f"{model.name}: append mode syncs one partition (today); this run targets "
            f"{len(context.partition_keys)}. Launch a replace-mode backfill for ranges.",
            allow_retries=False,
        )
    hwm = high_water_mark(lake.storage(), lake.folder(), model.name)
    window = append_window(
        context.partition_time_window,
        now,
        hwm,
        lag=timedelta(seconds=zuora.lag_seconds),
        lookback=timedelta(seconds=zuora.lookback_seconds),
    )
    return mode, window


def zuora_asset(model: ZuoraModel) -> dg.AssetsDefinition:
    """The `zuora/<model>` asset of one catalog model."""

    @dg.asset(
        key=["zuora", model.name],
        description=f"{model.description} Zuora object `{model.object}`, one partition per UTC day of UpdatedDate.",
        group_name="zuora",
        kinds={"zuora", "parquet", "s3"},
        owners=["team:data-platform"],
        tags={"zuora/object": model.object},
        code_version=CODE_VERSION,
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="lake_io_manager",
        pool="zuora_api",
        retry_policy=RETRY_POLICY,
        metadata={
            "dagster/table_name": f"zuora.{model.name}",
            "primary_key": model.primary_key,
            "cursor": model.cursor,
            "exports_deletes": model.exports_deletes,
        },
    )
    def _asset(context: dg.AssetExecutionContext, zuora: ZuoraSource, lake: LakeResource):
        with fail_fast_unless_transient(f"zuora/{model.name}"):
            yield from extract(context, zuora, lake, model)

    return _asset


def extract(context: dg.AssetExecutionContext, zuora: ZuoraSource, lake: LakeResource, model: ZuoraModel):
    """Extract the run's window and hand it to the lake IO manager as one `ModelTransfer`."""
    mode, (start, end) = transfer_window(context, zuora, lake, model)
    context.log.info(
        f"{model.name}: {mode} transfer of window [{start.isoformat()}, {end.isoformat()}) "
        f"for partition(s) {context.partition_key_range.start}..{context.partition_key_range.end}"
    )
    # A generator keeps the client open while the IO manager streams the rows to the lake.
    with zuora.client() as client:
        extraction = zuora.extractor(client, context.log).extract(model, start, end)
        yield dg.Output(ModelTransfer(extraction.schema, extraction.batches, (start, end), mode))
        if extraction.dropped_fields:
            context.log.warning(f"{model.name}: fields dropped for this run: {', '.join(extraction.dropped_fields)}")


zuora_assets = [zuora_asset(m) for m in MODELS.values()]
