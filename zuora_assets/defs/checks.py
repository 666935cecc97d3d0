"""Asset checks per model: rows against Zuora, the table's columns against the files, and freshness."""

import dataclasses
from datetime import UTC, datetime, time, timedelta

import dagster as dg

from zuora_assets.athena.schema_check import compare_schema
from zuora_assets.defs.catalog_assets import lake_schema
from zuora_assets.defs.clock import ClockParam
from zuora_assets.defs.resources import LakeResource, ZuoraSource
from zuora_assets.defs.scope import SINGLE, EntityScope
from zuora_assets.lake.counts import count_latest_in_window
from zuora_assets.zuora.catalog import MODELS, ZuoraModel


def zuora_count(zuora: ZuoraSource, model: ZuoraModel, start: datetime, end: datetime, log) -> int:
    """How many records (tombstones included) Zuora has in the window now: an export of their ids."""
    ids_only = dataclasses.replace(model, fields=(model.field(model.primary_key), model.field(model.cursor)))
    with zuora.client() as client:
        extraction = zuora.extractor(client, log).extract(ids_only, start, end)
        return sum(batch.num_rows for batch in extraction.batches)


def lake_count(
    lake: LakeResource,
    model: ZuoraModel,
    start: datetime,
    end: datetime,
    partitions_def: dg.PartitionsDefinition,
) -> int:
    """How many records the lake holds in the window: the latest version of each id, if it is in the window.

    Versions in later partitions count too (a record updated again moved there), so the scan covers
    every partition from the window's first day on. Exact, in memory that grows with neither the rows
    nor the window (`lake.counts`).
    """
    dts = [k for k in partitions_def.get_partition_keys() if k >= start.date().isoformat()]
    return count_latest_in_window(lake.storage(), lake.folder(), model.name, dts, start, end)


def rows_check(
    model: ZuoraModel, partitions_def: dg.PartitionsDefinition, scope: EntityScope = SINGLE
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=scope.asset_key("zuora", model.name),
        name="rows_match_zuora",
        description=f"The lake holds as many {model.name} records for the partitions' window as Zuora does now.",
        partitions_def=partitions_def,
        blocking=False,
        pool=scope.pool,
        required_resource_keys={scope.resource("zuora"), scope.resource("lake"), "clock"},
    )
    def _check(context: dg.AssetCheckExecutionContext):
        zuora, lake = scope.resources(context, "zuora", "lake")
        window = context.partition_time_window
        start = window.start.astimezone(UTC)
        end = min(window.end.astimezone(UTC), context.resources.clock.now().astimezone(UTC).replace(microsecond=0))
        expected = zuora_count(zuora, model, start, end, context.log)
        found = lake_count(lake, model, start, end, partitions_def)
        return dg.AssetCheckResult(
            passed=expected == found,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "zuora_records": expected,
                "lake_records": found,
                "window": f"[{start.isoformat()}, {end.isoformat()})",
            },
            description=None
            if expected == found
            else f"{model.name}: Zuora has {expected} records in the window, the lake {found}. Records that "
            "changed since the sync move between windows; if it persists, rematerialize these partitions.",
        )

    return _check


def schema_check(model: ZuoraModel, scope: EntityScope = SINGLE) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=scope.asset_key("athena", model.name),
        name="columns_match_files",
        description=f"The {model.name} table's columns equal the columns of its Parquet files.",
        blocking=False,
        required_resource_keys={scope.resource("lake"), scope.resource("catalog")},
    )
    def _check(context: dg.AssetCheckExecutionContext):
        lake, catalog = scope.resources(context, "lake", "catalog")
        schema = lake_schema(lake, model, None)
        columns = catalog.open().table_columns(model.name)
        differences = compare_schema(columns, schema)
        return dg.AssetCheckResult(
            passed=not differences,
            metadata={"differences": dg.MetadataValue.json(differences), "columns": len(columns)},
            description="; ".join(differences) or None,
        )

    return _check


FRESHNESS_CHECK = "yesterday_by_deadline"


def due_partition(now: datetime, hour: int) -> str:
    """The latest partition that must exist at `now`: yesterday's from `hour`:00 UTC on, else the day before."""
    now = now.astimezone(UTC)
    deadline = datetime.combine(now.date(), time(hour), UTC)
    return (now.date() - timedelta(days=1 if now >= deadline else 2)).isoformat()


def freshness_check(model: ZuoraModel, hour: int, scope: EntityScope = SINGLE) -> dg.AssetChecksDefinition:
    key = scope.asset_key("zuora", model.name)

    @dg.asset_check(
        asset=key,
        name=FRESHNESS_CHECK,
        description=f"Yesterday's partition of {model.name} exists by {hour:02d}:00 UTC (ZUORA_FRESHNESS_HOUR).",
        blocking=False,
    )
    def _check(context: dg.AssetCheckExecutionContext, clock: ClockParam):
        due = due_partition(clock.now(), hour)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[due]), limit=1
        ).records
        return dg.AssetCheckResult(
            passed=bool(records),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"partition": due, "deadline": f"{hour:02d}:00 UTC"},
            description=None
            if records
            else f"{model.name}: partition {due} is not materialized although its deadline ({hour:02d}:00 UTC the "
            "day after) has passed; check the nightly consolidation and the sensor's runs.",
        )

    return _check


def freshness_checks(hour: int, scope: EntityScope = SINGLE) -> list[dg.AssetChecksDefinition]:
    """Yesterday's partition of each model exists by `hour` (ZUORA_FRESHNESS_HOUR, UTC)."""
    return [freshness_check(m, hour, scope) for m in MODELS.values()]


def freshness_schedule(checks: list[dg.AssetChecksDefinition], hour: int) -> dg.ScheduleDefinition:
    """Runs the freshness checks every day at `hour`:00 UTC."""
    job = dg.define_asset_job(
        "zuora_freshness",
        selection=dg.AssetSelection.checks(*checks),
        description="Checks that yesterday's partition of every model exists (ZUORA_FRESHNESS_HOUR).",
    )
    return dg.ScheduleDefinition(
        name="zuora_freshness",
        job=job,
        cron_schedule=f"0 {hour} * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def rows_checks(
    partitions_def: dg.PartitionsDefinition, scope: EntityScope = SINGLE
) -> list[dg.AssetChecksDefinition]:
    return [rows_check(m, partitions_def, scope) for m in MODELS.values()]


def schema_checks(scope: EntityScope = SINGLE) -> list[dg.AssetChecksDefinition]:
    return [schema_check(m, scope) for m in MODELS.values()]
