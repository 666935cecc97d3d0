"""The Dagster code location: every model's `zuora/` and `athena/` assets, checks, sensor, schedule, jobs."""

import os
from collections.abc import Mapping

import dagster as dg

from zuora_assets.defs.assets import zuora_assets
from zuora_assets.defs.automation import nightly_consolidation, zuora_changes
from zuora_assets.defs.catalog_assets import athena_assets
from zuora_assets.defs.checks import freshness_checks, rows_checks, schema_checks
from zuora_assets.defs.clock import Clock, ClockResource
from zuora_assets.defs.connection_check import test_connection
from zuora_assets.defs.io_manager import LakeIOManager
from zuora_assets.defs.partitions import daily_partitions
from zuora_assets.defs.resources import CatalogResource, LakeResource, SettingsResource, ZuoraSource
from zuora_assets.defs.upkeep import upkeep_definitions

sync_job = dg.define_asset_job(
    "zuora_sync",
    selection=dg.AssetSelection.groups("zuora", "athena"),
    description="Extract every model for the selected days and keep its Athena table in sync.",
)


def build_resources(environ: Mapping[str, str] = os.environ, clock: Clock | None = None) -> dict:
    """Resources bound to the environment variables that are set (values resolve at run time).

    `clock` (default: the wall clock) is what every asset, the sensor and the IO manager take as now.
    """
    settings = SettingsResource.from_environment(environ)
    lake = LakeResource(settings=settings)
    return {
        "clock": clock or ClockResource(),
        "settings": settings,
        "zuora": ZuoraSource.from_environment(settings, environ),
        "lake": lake,
        "catalog": CatalogResource(settings=settings),
        "lake_io_manager": LakeIOManager(lake=lake),
    }


def build_definitions(environ: Mapping[str, str] = os.environ, clock: Clock | None = None) -> dg.Definitions:
    """The code location for these settings, with `clock` as now (default: the wall clock)."""
    partitions = daily_partitions(environ, clock.now().date() if clock else None)
    sources = zuora_assets(partitions)
    freshness = freshness_checks(sources)
    return dg.Definitions.merge(upkeep_definitions(partitions), dg.Definitions(
        assets=[*sources, *athena_assets(partitions)],
        asset_checks=[*rows_checks(partitions), *schema_checks(), *freshness],
        jobs=[sync_job, test_connection],
        sensors=[
            zuora_changes,
            dg.build_sensor_for_freshness_checks(freshness_checks=freshness, name="zuora_freshness"),
        ],
        schedules=[nightly_consolidation],
        resources=build_resources(environ, clock),
    ))


defs = build_definitions()
