"""The Dagster code location: every model's `zuora/` and `athena/` assets, checks, sensor, schedule, jobs (per entity)."""

import os
from collections.abc import Mapping

import dagster as dg

from zuora_assets.defs.clock import Clock, ClockResource
from zuora_assets.defs.entities import entity_definitions, entity_resources
from zuora_assets.defs.partitions import daily_partitions
from zuora_assets.entities import Entity, load_entities

sync_job = dg.define_asset_job(
    "zuora_sync",
    selection=dg.AssetSelection.groups("zuora", "athena"),
    description="Extract every model for the selected days and keep its Athena table in sync.",
)


def build_resources(
    environ: Mapping[str, str] = os.environ, clock: Clock | None = None, entities: list[Entity] | None = None
) -> dict:
    """Resources bound to the environment variables that are set (values resolve at run time), per entity.

    `clock` (default: the wall clock) is what every asset, the sensor and the IO manager take as now.
    """
    entities = entities or load_entities(environ)
    resources = {"clock": clock or ClockResource()}
    for entity in entities:
        resources |= entity_resources(entity, environ)
    return resources


def build_definitions(environ: Mapping[str, str] = os.environ, clock: Clock | None = None) -> dg.Definitions:
    """The code location for these settings, with `clock` as now (default: the wall clock).

    One set of assets, checks, sensor and schedule per entity of ZUORA_ENTITIES (today's keys without it).
    """
    entities = load_entities(environ)
    partitions = daily_partitions(entities[0].env(environ), clock.now().date() if clock else None)
    parts = [entity_definitions(entity, partitions) for entity in entities]
    freshness = [check for part in parts for check in part.freshness]
    return dg.Definitions(
        assets=[asset for part in parts for asset in part.assets],
        asset_checks=[*(check for part in parts for check in part.checks), *freshness],
        jobs=[sync_job, *(job for part in parts for job in part.jobs)],
        sensors=[
            *(sensor for part in parts for sensor in part.sensors),
            dg.build_sensor_for_freshness_checks(freshness_checks=freshness, name="zuora_freshness"),
        ],
        schedules=[schedule for part in parts for schedule in part.schedules],
        resources=build_resources(environ, clock, entities),
    )


defs = build_definitions()
