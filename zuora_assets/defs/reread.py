"""The silent-field re-read: a schedule (ZUORA_REREAD_CRON) that replaces, per model with fields Zuora changes
without touching UpdatedDate (catalog `silent`), the partitions of its re-read window (catalog `reread_days`,
ZUORA_REREAD_DAYS; every partition when "full"), so `<model>_current` converges. Each run is an ordinary
replace-mode run of `zuora/<model>` and `athena/<model>` over the window, in one set of export jobs; the run tag
`zuora/reread` makes it count the rows that changed only in silent fields (metadata and log)."""

from datetime import UTC, date, timedelta

import dagster as dg

from zuora_assets.defs.assets import MODE_TAG, REREAD_TAG
from zuora_assets.settings import UpkeepSettings

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def reread_window(today: date, first_day: date, days: int | None) -> tuple[str, str]:
    """The partitions a re-read replaces: the last `days` days up to today (every partition when None)."""
    start = first_day if days is None else max(first_day, today - timedelta(days=days - 1))
    return start.isoformat(), today.isoformat()


def reread_requests(settings: UpkeepSettings, today: date, first_day: date) -> list[dg.RunRequest]:
    requests = []
    for name, days in sorted(settings.reread_days.items()):
        start, end = reread_window(today, first_day, days)
        requests.append(dg.RunRequest(
            run_key=f"reread:{name}:{end}",
            asset_selection=[dg.AssetKey(["zuora", name]), dg.AssetKey(["athena", name])],
            tags={MODE_TAG: "replace", REREAD_TAG: "true", "zuora/model": name, RANGE_START: start, RANGE_END: end},
        ))
    return requests


def reread_schedule(settings: UpkeepSettings, partitions: dg.TimeWindowPartitionsDefinition) -> dg.ScheduleDefinition:
    models = ", ".join(f"{n} ({f'{d} days' if d else 'every partition'})" for n, d in sorted(settings.reread_days.items()))

    @dg.schedule(
        name="silent_field_reread",
        cron_schedule=settings.reread_cron,
        execution_timezone="UTC",
        target=dg.AssetSelection.assets(*[dg.AssetKey([g, n]) for n in settings.reread_days for g in ("zuora", "athena")]),
        description="Re-reads the models whose fields Zuora changes without touching UpdatedDate (balances) in "
        f"replace mode, and counts the rows changed only in those fields: {models or 'none'}.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def silent_field_reread(context: dg.ScheduleEvaluationContext):
        today = context.scheduled_execution_time.astimezone(UTC).date()
        return reread_requests(settings, today, partitions.start.date())

    return silent_field_reread
