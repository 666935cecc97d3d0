"""The Dagster code location: every model's `zuora/` and `athena/` assets, checks, sensor, schedules, jobs.

The settings are read and validated once, here, when the definitions load: the partitions, the sensor's
interval, the schedules' crons and the freshness deadline are built from the validated values, and a bad
variable stops the load with one line naming it.
"""

import os
import warnings
from collections.abc import Mapping

import dagster as dg

from zuora_assets.defs.assets import zuora_assets
from zuora_assets.defs.automation import change_sensor, consolidation_schedule
from zuora_assets.defs.catalog_assets import athena_assets
from zuora_assets.defs.checks import freshness_checks, freshness_schedule, rows_checks, schema_checks
from zuora_assets.defs.clock import Clock, WallClock
from zuora_assets.defs.connection_check import test_connection
from zuora_assets.defs.io_manager import LakeIOManager
from zuora_assets.defs.partitions import daily_partitions
from zuora_assets.defs.resources import CatalogResource, LakeResource, SettingsResource, ZuoraSource
from zuora_assets.settings import Settings, SettingsError

sync_job = dg.define_asset_job(
    "zuora_sync",
    selection=dg.AssetSelection.groups("zuora", "athena"),
    description="Extract every model for the selected days and keep its Athena table in sync.",
)


def build_resources(
    environ: Mapping[str, str] = os.environ, clock: Clock | None = None, *, literal: bool = False
) -> dict:
    """Resources bound to the environment variables that are set (values resolve at run time), or with
    `literal` to the values of `environ` themselves (in-process runs that leave `os.environ` alone).

    `clock` (default: the wall clock) is what every asset, the sensor and the IO manager take as now.
    """
    # Each resource is bound once, at the top level, and the others refer to that one
    # (`configure_at_launch`): Dagster resolves such references by identity instead of initializing a copy
    # of the nested resource per user (which also warns that InitResourceContext.dagster_run is deprecated).
    settings = SettingsResource.configure_at_launch(**SettingsResource.bindings(environ, literal=literal))
    lake = LakeResource.configure_at_launch(settings=settings)
    return {
        "clock": clock or WallClock(),
        "settings": settings,
        "zuora": ZuoraSource.configure_at_launch(settings=settings, **ZuoraSource.bindings(environ, literal=literal)),
        "lake": lake,
        "catalog": CatalogResource.configure_at_launch(settings=settings),
        "lake_io_manager": LakeIOManager.configure_at_launch(lake=lake),
    }


def build_definitions(
    environ: Mapping[str, str] = os.environ, clock: Clock | None = None, *, literal: bool = False
) -> dg.Definitions:
    """The code location for these settings, with `clock` as now (default: the wall clock); `literal` as in
    `build_resources`.

    Raises `SettingsError` (one line per wrong variable) when a setting is wrong.
    """
    today = (clock or WallClock()).now().date()
    settings = Settings.from_env(environ, today=today)
    sync = settings.sync
    partitions = daily_partitions(settings, today)
    with warnings.catch_warnings():
        # Deliberate uses of features Dagster marks beta/preview: one run per partition range
        # (BackfillPolicy.single_run) and partitioned asset checks (rows against Zuora per day).
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=r"Parameter `backfill_policy`")
        warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=r"Specifying a partitions_def")
        sources = zuora_assets(partitions, settings)
        athena = athena_assets(partitions, settings)
        rows = rows_checks(partitions)
    freshness = freshness_checks(sync.freshness_hour)
    return dg.Definitions(
        assets=[*sources, *athena],
        asset_checks=[*rows, *schema_checks(), *freshness],
        jobs=[sync_job, test_connection],
        sensors=[change_sensor(sync.sensor_interval_seconds)],
        schedules=[
            consolidation_schedule(sync.consolidation_cron),
            freshness_schedule(freshness, sync.freshness_hour),
        ],
        resources=build_resources(environ, clock, literal=literal),
    )


def load_definitions(environ: Mapping[str, str] = os.environ, clock: Clock | None = None) -> dg.Definitions:
    """The definitions (with `clock` as in `build_definitions`), or exit with one line per wrong setting (no
    traceback) so the user sees what to fix."""
    try:
        return build_definitions(environ, clock)
    except SettingsError as error:
        raise SystemExit(str(error)) from None


defs = load_definitions()
