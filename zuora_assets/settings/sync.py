"""The operation settings: where the partitions start, and the sync's timing and limits (`.env.example`,
"Operation")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from zuora_assets.settings.reader import Reader, check_iso_date

DEFAULT_START_DAYS_AGO = 30
DEFAULT_MANIFEST_RETENTION_DAYS = 30
MAX_MANIFEST_RETENTION_DAYS = 3650
DEFAULT_CONSOLIDATION_CRON = "30 2 * * *"

SYNC_VARS = (
    "ZUORA_START_DATE",
    "ZUORA_MANIFEST_RETENTION_DAYS",
    "ZUORA_LAG_SECONDS",
    "ZUORA_LOOKBACK_SECONDS",
    "ZUORA_MAX_JOBS_IN_FLIGHT",
    "ZUORA_POLL_INITIAL_SECONDS",
    "ZUORA_SENSOR_INTERVAL_SECONDS",
    "ZUORA_CONSOLIDATION_CRON",
    "ZUORA_FRESHNESS_HOUR",
)

# The five fields of a cron expression: name and allowed range.
_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_CRON_ITEM_RE = re.compile(r"^(\*|(\d+)(-(\d+))?)(/(\d+))?$", re.ASCII)


@dataclass(frozen=True)
class SyncSettings:
    """How the sync runs: its lag and lookback, the export jobs it keeps in flight and how it polls them, when the
    sensor, the consolidation and the freshness check run, and how long replaced manifests are kept."""

    lag_seconds: int = 900
    lookback_seconds: int = 3600
    max_jobs_in_flight: int = 4
    poll_initial_seconds: float = 1.0
    sensor_interval_seconds: int = 300
    consolidation_cron: str = DEFAULT_CONSOLIDATION_CRON
    freshness_hour: int = 6
    manifest_retention_days: int = DEFAULT_MANIFEST_RETENTION_DAYS


def read_sync(r: Reader) -> SyncSettings:
    d = SyncSettings()
    return SyncSettings(
        lag_seconds=r.integer("ZUORA_LAG_SECONDS", d.lag_seconds, 0, 86400, "seconds"),
        lookback_seconds=r.integer("ZUORA_LOOKBACK_SECONDS", d.lookback_seconds, 0, 7 * 86400, "seconds"),
        max_jobs_in_flight=r.integer("ZUORA_MAX_JOBS_IN_FLIGHT", d.max_jobs_in_flight, 1, 32, "export jobs"),
        poll_initial_seconds=r.number("ZUORA_POLL_INITIAL_SECONDS", d.poll_initial_seconds, 0, 30, "seconds"),
        sensor_interval_seconds=r.integer(
            "ZUORA_SENSOR_INTERVAL_SECONDS", d.sensor_interval_seconds, 1, 86400, "seconds"
        ),
        consolidation_cron=r.checked("ZUORA_CONSOLIDATION_CRON", check_cron, d.consolidation_cron)
        or d.consolidation_cron,
        freshness_hour=r.integer("ZUORA_FRESHNESS_HOUR", d.freshness_hour, 0, 23, "hours (UTC)"),
        manifest_retention_days=r.integer(
            "ZUORA_MANIFEST_RETENTION_DAYS", d.manifest_retention_days, 1, MAX_MANIFEST_RETENTION_DAYS, "days"
        ),
    )


def check_cron(value: str) -> str | None:
    """The rule a five-field cron expression (numbers, '*', ranges, steps and lists) breaks, if any."""
    rule = "use five fields: minute hour day-of-month month day-of-week, e.g. 30 2 * * *"
    fields = value.split()
    if len(fields) != 5:
        return f"is not a cron expression: {rule}"
    for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _CRON_ITEM_RE.match(item)
            numbers = [int(n) for n in (match.group(2), match.group(4)) if n] if match else []
            step = int(match.group(6)) if match and match.group(6) else 1
            if (
                not match
                or step < 1
                or any(not low <= n <= high for n in numbers)
                or numbers != sorted(numbers)
            ):
                return f"has the {name} field {text!r} out of {low}-{high}: {rule}"
    return None


def read_start_date(r: Reader, today: date, *, required: bool) -> date | None:
    """ZUORA_START_DATE (ISO day, not in the future); required when data goes to S3 (AWS_BUCKET)."""
    if required and r.get("ZUORA_START_DATE") is None:
        r.problem(
            "ZUORA_START_DATE",
            "is missing: it is required when AWS_BUCKET is set. It is the first partition day and the start of "
            "the Athena projection range, so it must not move with the calendar; set the first day to export, "
            "e.g. ZUORA_START_DATE=2024-01-01",
        )
        return None
    value = r.checked("ZUORA_START_DATE", check_iso_date)
    if value is None:
        return None
    day = date.fromisoformat(value)
    if day > today:
        r.problem(
            "ZUORA_START_DATE",
            f"{value!r} is in the future (today is {today.isoformat()} UTC): the first partition day must be today "
            "or earlier",
        )
        return None
    return day
