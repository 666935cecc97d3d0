"""The Dagster code location: every model's `zuora/` and `athena/` assets, checks, sensor, schedule, jobs."""

import os
from collections.abc import Mapping

import dagster as dg

from zuora_assets.defs.assets import zuora_assets
from zuora_assets.defs.automation import nightly_consolidation, zuora_changes
from zuora_assets.defs.catalog_assets import athena_assets
from zuora_assets.defs.checks import freshness_checks, rows_checks, schema_checks
from zuora_assets.defs.connection_check import test_connection
from zuora_assets.defs.io_manager import LakeIOManager
from zuora_assets.defs.resources import CatalogResource, LakeResource, SettingsResource, ZuoraSource

sync_job = dg.define_asset_job(
    "zuora_sync",
    selection=dg.AssetSelection.groups("zuora", "athena"),
    description="Extract every model for the selected days and keep its Athena table in sync.",
)


def build_resources(environ: Mapping[str, str] = os.environ) -> dict:
    """Resources bound to the environment variables that are set (values resolve at run time)."""
    settings = SettingsResource.from_environment(environ)
    lake = LakeResource(settings=settings)
    return {
        "settings": settings,
        "zuora": ZuoraSource.from_environment(settings, environ),
        "lake": lake,
        "catalog": CatalogResource(settings=settings),
        "lake_io_manager": LakeIOManager(lake=lake),
    }


def build_definitions(environ: Mapping[str, str] = os.environ) -> dg.Definitions:
    freshness = freshness_checks(zuora_assets)
    return dg.Definitions(
        assets=[*zuora_assets, *athena_assets],
        asset_checks=[*rows_checks, *schema_checks, *freshness],
        jobs=[sync_job, test_connection],
        sensors=[
            zuora_changes,
            dg.build_sensor_for_freshness_checks(freshness_checks=freshness, name="zuora_freshness"),
        ],
        schedules=[nightly_consolidation],
        resources=build_resources(environ),
    )


defs = build_definitions()
