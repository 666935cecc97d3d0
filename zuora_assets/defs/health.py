"""The lake health report: one `health/<model>` asset per model (one step computes the selected ones), its
figures as UI metadata, one JSON summary at `<folder>/_zuora/health.json`, and a daily schedule."""

from collections.abc import Sequence

import dagster as dg

from zuora_assets.athena.views import view_columns
from zuora_assets.common.contract import DELETED_COLUMN, ID_COLUMN, VERSION_ORDER
from zuora_assets.defs.clock import ClockParam
from zuora_assets.defs.failures import fail_fast_unless_transient
from zuora_assets.defs.resources import LakeResource
from zuora_assets.lake.health import ModelHealth, Versions, model_health
from zuora_assets.lake.health_file import report_key, write_report
from zuora_assets.lake.storage import PermissionDenied, StorageError
from zuora_assets.zuora.catalog import MODELS

GROUP = "health"
CODE_VERSION = "1"
DAYS_SHOWN = 92  # partitions in the UI table and chart (the newest); the figures cover every partition
VERSIONS = Versions(key=ID_COLUMN, order_by=VERSION_ORDER, deleted=DELETED_COLUMN)
_BAR = 30  # characters of the longest bar in the chart


def view_reads(columns: Sequence[str]) -> list[str]:
    """The file columns a full read of `<model>_current` reads: what it shows plus key, order and tombstone flag
    (athena/views.py), i.e. every column the files have."""
    shown = view_columns([c for c in columns if c != "dt"], deleted=VERSIONS.deleted)
    return list(dict.fromkeys([*shown, *VERSIONS.columns]))


def per_day_table(report: ModelHealth) -> dg.TableMetadataValue:
    partitions = report.per_partition[-DAYS_SHOWN:]
    names = ("dt", "files", "bytes", "rows", "small_files", "transfers", "tombstones", "duplicates")
    schema = dg.TableSchema(
        columns=[dg.TableColumn(n, "string" if n == "dt" else "int") for n in names],
    )
    records = [dg.TableRecord({n: getattr(p, n) for n in names}) for p in reversed(partitions)]
    return dg.MetadataValue.table(records, schema)


def per_day_chart(report: ModelHealth) -> dg.MarkdownMetadataValue:
    """Bytes and rows per day as text bars (the UI renders markdown; it has no chart metadata type)."""
    partitions = report.per_partition[-DAYS_SHOWN:]
    top_bytes = max((p.bytes for p in partitions), default=0) or 1
    top_rows = max((p.rows for p in partitions), default=0) or 1
    lines = ["| dt | bytes | | rows | |", "|---|---:|---|---:|---|"]
    for p in partitions:
        lines.append(
            f"| {p.dt} | {p.bytes:,} | `{'█' * round(_BAR * p.bytes / top_bytes)}` "
            f"| {p.rows:,} | `{'█' * round(_BAR * p.rows / top_rows)}` |"
        )
    if not partitions:
        lines.append("| (no partitions) | | | | |")
    return dg.MetadataValue.md("\n".join(lines))


def health_metadata(report: ModelHealth, report_uri: str) -> dict:
    """Numeric figures (the UI plots them across materializations), the per-day table and chart."""
    metadata: dict = {
        "rows": report.rows,
        "live_records": report.live,
        "deleted_records": report.deleted,
        "tombstones": report.tombstones,
        "duplicate_versions": report.duplicates,
        "files": report.files,
        "bytes": report.bytes,
        "small_files": report.small_files,
        "small_file_threshold_bytes": report.small_file_bytes,
        "uncommitted_files": report.uncommitted_files,
        "partitions": report.partitions,
        "athena_scan_bytes": report.scan_bytes,
        "oldest_dt": report.oldest_dt or "(none)",
        "newest_dt": report.newest_dt or "(none)",
        "per_day": per_day_table(report),
        "per_day_chart": per_day_chart(report),
        "report": dg.MetadataValue.path(report_uri),
    }
    if report.last_sync is not None:
        metadata["last_sync"] = dg.MetadataValue.timestamp(report.last_sync)
    if report.high_water_mark is not None:
        metadata["high_water_mark"] = dg.MetadataValue.timestamp(report.high_water_mark)
        metadata["lag_seconds"] = float(report.lag_seconds)
    return metadata


@dg.multi_asset(
    name="lake_health",
    specs=[
        dg.AssetSpec(
            ["health", model.name],
            deps=[dg.AssetKey(["zuora", model.name])],
            group_name=GROUP,
            kinds={"parquet"},
            code_version=CODE_VERSION,
            description=f"Health of the lake files of {model.name}: versions, live records, tombstones, duplicates "
            "awaiting consolidation, files and bytes per day, small files, sync lag, Athena's scan of "
            f"{model.name}_current.",
        )
        for model in MODELS.values()
    ],
    can_subset=True,
)
def lake_health(context: dg.AssetExecutionContext, lake: LakeResource, clock: ClockParam):
    """Compute the selected models' health, write `health.json`, report each model; a model that cannot be read
    fails the step after the others are reported."""
    with fail_fast_unless_transient("lake health"):
        options = lake.settings.load().health
        storage, folder = lake.storage(), lake.folder()
        now = clock.now()
        reports, failed = [], []
        for key in sorted(context.selected_asset_keys, key=lambda k: k.path[-1]):
            model = key.path[-1]
            try:
                reports.append(
                    model_health(
                        storage,
                        folder,
                        model,
                        VERSIONS,
                        now=now,
                        scanned_columns=view_reads,
                        small_file_bytes=options.small_file_bytes,
                        memory_limit_mb=options.memory_mb,
                    )
                )
            except PermissionDenied:
                raise  # the same for every model: fail now, naming the missing permission
            except StorageError as err:
                context.log.error(f"health/{model}: {err}")
                failed.append(f"{model}: {err}")
        uri = (
            storage.uri(write_report(storage, folder, reports))
            if reports
            else storage.uri(report_key(folder))
        )
    for report in reports:
        yield dg.MaterializeResult(asset_key=["health", report.model], metadata=health_metadata(report, uri))
    if failed:
        raise dg.Failure(
            description=f"lake health: {len(failed)} model(s) could not be read: " + "; ".join(failed),
            allow_retries=False,
        )


def health_schedule(cron: str) -> dg.ScheduleDefinition:
    """`lake_health_daily`: every model's report on `cron` (ZUORA_HEALTH_CRON, UTC)."""
    return dg.ScheduleDefinition(
        name="lake_health_daily",
        cron_schedule=cron,
        execution_timezone="UTC",
        target=dg.AssetSelection.groups(GROUP),
        description="Reports the lake's health (every model) daily, after the nightly consolidation "
        "(ZUORA_HEALTH_CRON, UTC). Reads listings, footers and four columns; no Athena query, no Zuora call.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
