"""The scheduled upkeep of the lake: the weekly reconciliation of deletes (its assets and schedule) and the
silent-field re-read (its schedule), with their settings (`Settings.upkeep`)."""

from __future__ import annotations

import dagster as dg

from zuora_assets.defs.reconcile import reconcile_assets, reconcile_schedule
from zuora_assets.defs.reread import reread_schedule
from zuora_assets.settings import UpkeepSettings


def upkeep_assets() -> list[dg.AssetsDefinition]:
    return reconcile_assets()


def upkeep_schedules(
    partitions: dg.TimeWindowPartitionsDefinition, settings: UpkeepSettings
) -> list[dg.ScheduleDefinition]:
    return [reconcile_schedule(settings), reread_schedule(settings, partitions)]
