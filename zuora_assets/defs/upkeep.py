"""The scheduled upkeep of the lake as one set of definitions: the weekly reconciliation of deletes and the
silent-field re-read, with their settings read from the environment when the definitions load."""

from __future__ import annotations

import dagster as dg

from zuora_assets.defs.reconcile import reconcile_assets, reconcile_schedule
from zuora_assets.defs.reread import reread_schedule
from zuora_assets.defs.upkeep_settings import UpkeepSettings


def upkeep_definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    settings = UpkeepSettings.from_env()
    return dg.Definitions(
        assets=reconcile_assets(),
        schedules=[reconcile_schedule(settings), reread_schedule(settings, partitions)],
    )
