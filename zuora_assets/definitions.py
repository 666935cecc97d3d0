"""The Dagster code location: every model's `zuora/` and `athena/` assets, checks, sensor, schedules, jobs
(one set per entity of ZUORA_ENTITIES).

The settings are read and validated once, here, when the definitions load: the partitions, the sensor's
interval, the schedules' crons and the freshness deadline are built from the validated values, and a bad
variable stops the load with one line naming it.
"""

import os
import warnings
from collections.abc import Mapping

import dagster as dg

from zuora_assets.defs.checks import freshness_schedule
from zuora_assets.defs.clock import Clock, WallClock
from zuora_assets.defs.entities import entity_definitions, entity_resources
from zuora_assets.defs.health import health_schedule, lake_health
from zuora_assets.defs.partitions import daily_partitions
from zuora_assets.defs.upkeep import upkeep_assets, upkeep_schedules
from zuora_assets.entities import Entity, load_entities
from zuora_assets.settings import Settings, SettingsError

sync_job = dg.define_asset_job(
    "zuora_sync",
    selection=dg.AssetSelection.groups("zuora", "athena"),
    description="Extract every model for the selected days and keep its Athena table in sync.",
)


def build_resources(
    environ: Mapping[str, str] = os.environ,
    clock: Clock | None = None,
    *,
    literal: bool = False,
    entities: list[Entity] | None = None,
) -> dict:
    """Resources bound to the environment variables that are set (values resolve at run time), or with
    `literal` to the values of `environ` themselves (in-process runs that leave `os.environ` alone); one set
    per entity (`zuora`, `lake`, ... or `zuora_<entity>`, `lake_<entity>`, ... with ZUORA_ENTITIES).

    `clock` (default: the wall clock) is what every asset, the sensor and the IO manager take as now.
    """
    resources: dict = {"clock": clock or WallClock()}
    for entity in entities or load_entities(environ):
        resources |= entity_resources(entity, environ, literal=literal)
    return resources


def build_definitions(
    environ: Mapping[str, str] = os.environ, clock: Clock | None = None, *, literal: bool = False
) -> dg.Definitions:
    """The code location for these settings, with `clock` as now (default: the wall clock); `literal` as in
    `build_resources`. One set of assets, checks, sensor, schedule and connection test per entity of
    ZUORA_ENTITIES (today's keys and names without it).

    Raises `SettingsError` (one line per wrong variable) when a setting is wrong.
    """
    today = (clock or WallClock()).now().date()
    entities = load_entities(environ, today=today)
    settings = entities[0].settings or Settings.from_env(environ, today=today)
    sync = settings.sync  # shared by every entity
    partitions = daily_partitions(settings, today)
    with warnings.catch_warnings():
        # Deliberate uses of features Dagster marks beta/preview: one run per partition range
        # (BackfillPolicy.single_run) and partitioned asset checks (rows against Zuora per day).
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=r"Parameter `backfill_policy`")
        warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=r"Specifying a partitions_def")
        parts = [entity_definitions(e, e.settings or settings, partitions) for e in entities]
    freshness = [check for part in parts for check in part.freshness]
    # The lake health report and the upkeep (reconciliation, silent-field re-read) run for the single default
    # entity; with ZUORA_ENTITIES they are not defined yet (README, "Several entities or tenants").
    single = len(entities) == 1 and entities[0].name is None
    upkeep = [lake_health, *upkeep_assets()] if single else []
    upkeep_runs = [health_schedule(settings.health.cron), *upkeep_schedules(partitions, settings.upkeep)] if single else []
    return dg.Definitions(
        assets=[*(asset for part in parts for asset in part.assets), *upkeep],
        asset_checks=[*(check for part in parts for check in part.checks), *freshness],
        jobs=[sync_job, *(job for part in parts for job in part.jobs)],
        sensors=[sensor for part in parts for sensor in part.sensors],
        schedules=[
            *(schedule for part in parts for schedule in part.schedules),
            freshness_schedule(freshness, sync.freshness_hour),
            *upkeep_runs,
        ],
        resources=build_resources(environ, clock, literal=literal, entities=entities),
    )


def load_definitions(environ: Mapping[str, str] = os.environ, clock: Clock | None = None) -> dg.Definitions:
    """The definitions (with `clock` as in `build_definitions`), or exit with one line per wrong setting (no
    traceback) so the user sees what to fix."""
    try:
        return build_definitions(environ, clock)
    except SettingsError as error:
        raise SystemExit(str(error)) from None


defs = load_definitions()
