"""The lake health report's settings (`.env.example`, "Lake health report"): when it runs, what a small file is,
and the memory its scan may use before spilling to disk."""

from __future__ import annotations

from dataclasses import dataclass

from zuora_assets.settings.reader import Reader
from zuora_assets.settings.sync import check_cron

DEFAULT_HEALTH_CRON = "30 4 * * *"  # two hours after the nightly consolidation's default 02:30

HEALTH_VARS = ("ZUORA_HEALTH_CRON", "ZUORA_HEALTH_SMALL_FILE_MB", "ZUORA_HEALTH_MEMORY_MB")


@dataclass(frozen=True)
class HealthSettings:
    cron: str = DEFAULT_HEALTH_CRON
    small_file_mb: int = 16
    memory_mb: int = 512

    @property
    def small_file_bytes(self) -> int:
        return self.small_file_mb * 1024 * 1024


def read_health(r: Reader) -> HealthSettings:
    d = HealthSettings()
    return HealthSettings(
        cron=r.checked("ZUORA_HEALTH_CRON", check_cron, d.cron) or d.cron,
        small_file_mb=r.integer("ZUORA_HEALTH_SMALL_FILE_MB", d.small_file_mb, 1, 5120, "MiB"),
        memory_mb=r.integer("ZUORA_HEALTH_MEMORY_MB", d.memory_mb, 64, 65536, "MiB"),
    )
