"""The scheduled upkeep of the lake as one set of definitions: the weekly reconciliation of deletes and the
silent-field re-read, with their settings (`Settings.upkeep`)."""

from __future__ import annotations

import dagster as dg

from zuora_assets.defs.reconcile import reconcile_assets, reconcile_schedule
from zuora_assets.defs.reread import reread_schedule
from zuora_assets.settings import UpkeepSettings


def upkeep_definitions(partitions: dg.TimeWindowPartitionsDefinition, settings: UpkeepSettings) -> dg.Definitions:
    return dg.Definitions(
        assets=reconcile_assets(),
        schedules=[reconcile_schedule(settings), reread_schedule(settings, partitions)],
    )
