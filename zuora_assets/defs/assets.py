"""`zuora/<model>` assets: one per model of the catalog, made by one factory.

A run fixes its snapshot (the clock, to the second) first, derives its window from it, then extracts the
window of its partition (or of its whole partition range, in one set of export jobs) and hands the rows to
the lake IO manager, which splits them by `dt` and writes one transfer per partition, all named by the
snapshot. The run tag `zuora/mode` picks the write mode: `replace` (default: materializations, backfills,
the nightly consolidation) or `append` (the change sensor's incremental syncs of today, and of yesterday's
tail after midnight).
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from zuora_assets.athena.silent import SilentChanges
from zuora_assets.defs.clock import snapshot_of
from zuora_assets.defs.failures import RETRY_POLICY, fail_fast_unless_transient
from zuora_assets.defs.io_manager import ModelTransfer
from zuora_assets.defs.partitions import pin_first_day
from zuora_assets.defs.resources import LakeResource, ZuoraSource, describe_mode, table_name
from zuora_assets.defs.scope import SINGLE, EntityScope
from zuora_assets.lake import layout
from zuora_assets.lake.readers import model_files, partition_dataset
from zuora_assets.lake.state import load_state
from zuora_assets.settings import Settings
from zuora_assets.zuora.catalog import MODELS, ZuoraModel, snake_case

MODE_TAG = "zuora/mode"
MODES = ("replace", "append")
CONSOLIDATION_TAG = "zuora/consolidation"  # "true" on the nightly consolidation: it also prunes manifests
REREAD_TAG = "zuora/reread"  # "true" on the silent-field re-read: it counts rows changed only in silent fields
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


def replace_window(partition_window, snapshot: datetime) -> tuple[datetime, datetime]:
    """The whole partition (range), but never past the snapshot: later changes are the next run's."""
    start, end = partition_window.start.astimezone(UTC), partition_window.end.astimezone(UTC)
    return start, max(start, min(end, snapshot))


def append_window(
    partition_window, snapshot: datetime, synced_until: datetime | None, lag: timedelta, lookback: timedelta
) -> tuple[datetime, datetime]:
    """`[synced_until - lookback, snapshot - lag)` clipped to the partition's day, so every row stays in its
    `dt`; the whole day so far when the partition's progress is not known."""
    day_start, day_end = partition_window.start.astimezone(UTC), partition_window.end.astimezone(UTC)
    start = day_start if synced_until is None else min(max(day_start, synced_until - lookback), day_end)
    end = min(day_end, snapshot - lag)
    return start, max(start, end)


def transfer_window(
    context: dg.AssetExecutionContext,
    zuora: ZuoraSource,
    lake: LakeResource,
    model: ZuoraModel,
    mode: str,
    snapshot: datetime,
) -> tuple[datetime, datetime]:
    if mode == "replace":
        return replace_window(context.partition_time_window, snapshot)
    if len(context.partition_keys) != 1:
        raise TransferSettingsError(
            description=f"{model.name}: append mode syncs one partition (today, or yesterday's tail); this run "
            f"targets {len(context.partition_keys)}. Launch a replace-mode backfill for ranges.",
            allow_retries=False,
        )
    state = load_state(lake.storage(), lake.folder(), model.name)
    return append_window(
        context.partition_time_window,
        snapshot,
        state.partition_synced_until(context.partition_key),
        lag=timedelta(seconds=zuora.sync.lag_seconds),
        lookback=timedelta(seconds=zuora.sync.lookback_seconds),
    )


def zuora_asset(
    model: ZuoraModel, partitions_def: dg.PartitionsDefinition, settings: Settings, scope: EntityScope = SINGLE
) -> dg.AssetsDefinition:
    """The `zuora/<model>` asset of one catalog model, named for the destination of `settings`
    (`zuora/<entity>/<model>` in an entity's scope)."""

    @dg.asset(
        key=scope.asset_key("zuora", model.name),
        description=f"{model.description} Zuora object `{model.object}`, one partition per UTC day of UpdatedDate.",
        group_name="zuora",
        kinds={"zuora", "parquet", "local" if settings.aws is None else "s3"},
        tags={"zuora/object": model.object, **scope.tags},
        code_version=CODE_VERSION,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key=scope.resource("lake_io_manager"),
        pool=scope.pool,
        retry_policy=RETRY_POLICY,
        metadata={
            "dagster/table_name": table_name(settings, model.name),
            "primary_key": model.primary_key,
            "cursor": model.cursor,
            "exports_deletes": model.exports_deletes,
        },
        required_resource_keys={scope.resource("zuora"), scope.resource("lake"), "clock"},
    )
    def _asset(context: dg.AssetExecutionContext):
        zuora, lake = scope.resources(context, "zuora", "lake")
        with fail_fast_unless_transient(scope.label("zuora", model.name)):
            yield from extract(context, zuora, lake, context.resources.clock, model)

    return _asset


def extract(
    context: dg.AssetExecutionContext, zuora: ZuoraSource, lake: LakeResource, clock, model: ZuoraModel
):
    """Fix the snapshot, extract its window and hand it to the lake IO manager as one `ModelTransfer`."""
    mode = run_mode(context.run.tags)
    settings = lake.settings.load()
    context.log.info(describe_mode(settings, zuora.simulator_url))  # DESIGN 6: say loudly which mode runs
    pin_first_day(
        settings,
        lake.storage(),
        lake.folder(),
        min(context.assets_def.partitions_def.start.date(), context.partition_time_window.start.date()),
    )
    snapshot = snapshot_of(clock)  # before the export job is submitted: the transfer's name and window end
    start, end = transfer_window(context, zuora, lake, model, mode, snapshot)
    context.log.info(
        f"{model.name}: {mode} transfer {snapshot:%Y%m%d%H%M%S} of window [{start.isoformat()}, "
        f"{end.isoformat()}) for partition(s) {context.partition_key_range.start}..{context.partition_key_range.end}"
    )
    # A generator keeps the client open while the IO manager streams the rows to the lake.
    with zuora.client() as client:
        extraction = zuora.extractor(client, context.log).extract(model, start, end)
        prune = context.run.tags.get(CONSOLIDATION_TAG) == "true"
        silent = silent_changes(context, lake, model) if context.run.tags.get(REREAD_TAG) == "true" else None
        transfer = ModelTransfer(
            extraction.schema,
            silent.observe(extraction.batches) if silent else extraction.batches,
            (start, end),
            mode,
            snapshot,
            clock,
            add_partition_metadata=lambda metadata, dt: context.add_asset_metadata(metadata, partition_key=dt),
            prune_manifests=prune,
            unique_columns=(snake_case(model.primary_key),),
            report=(lambda: silent.result.metadata() if silent.result else {}) if silent else None,
        )
        yield dg.Output(transfer)
        if silent is not None and silent.result is not None:
            r = silent.result
            context.log.info(
                f"{model.name}: re-read {r.rows:,} row(s): {r.silent_only:,} changed only in fields Zuora changes "
                f"without UpdatedDate ({', '.join(silent.silent)}), {r.other:,} in other fields, {r.new:,} new"
            )
        if extraction.dropped_fields:
            context.log.warning(
                f"{model.name}: fields dropped for this run: {', '.join(extraction.dropped_fields)}"
            )


def silent_changes(
    context: dg.AssetExecutionContext, lake: LakeResource, model: ZuoraModel
) -> SilentChanges | None:
    """The comparison of a re-read with the lake's previous versions (partitions from the run's first on), for a
    model with silent fields; the previous versions are copied before the re-read is written."""
    if not model.silent_fields:
        return None
    storage, folder = lake.storage(), lake.folder()
    first = context.partition_key_range.start
    files = model_files(storage, folder, model.name)
    dts = sorted({dt for o in files if (dt := layout.dt_of_key(o.key)) >= first})
    silent = [snake_case(f) for f in model.silent_fields]
    return SilentChanges(partition_dataset(storage, folder, model.name, dts), silent)


def zuora_assets(
    partitions_def: dg.PartitionsDefinition, settings: Settings, scope: EntityScope = SINGLE
) -> list[dg.AssetsDefinition]:
    """Every model's `zuora/<model>` asset over `partitions_def`, in the entity's scope."""
    return [zuora_asset(m, partitions_def, settings, scope) for m in MODELS.values()]
