"""One entity's Dagster objects: its resources (settings bound to its own variables), assets, checks, sensor and
schedule, made by the existing factories in the entity's scope; and the scopes of the deployment's entities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from zuora_assets.defs.assets import zuora_assets
from zuora_assets.defs.automation import changes_sensor, consolidation_schedule
from zuora_assets.defs.catalog_assets import athena_assets
from zuora_assets.defs.checks import freshness_checks, rows_checks, schema_checks
from zuora_assets.defs.connection_check import connection_job
from zuora_assets.defs.io_manager import LakeIOManager
from zuora_assets.defs.resources import CatalogResource, LakeResource, SettingsResource, ZuoraSource
from zuora_assets.defs.scope import EntityScope
from zuora_assets.entities import Entity


def scope_of(entity: Entity) -> EntityScope:
    return EntityScope(entity.name, entity.pool)


def settings_resource(entity: Entity) -> SettingsResource:
    """The entity's settings: each field bound to the variable that feeds it (values resolve at run time, so
    secrets stay out of the definitions), or to the value derived for the entity (its folder, schema, lake)."""
    values = {
        var.lower(): dg.EnvVar(source.var) if source.var else source.value for var, source in entity.sources.items()
    }
    return SettingsResource(**values)


def entity_resources(entity: Entity, environ: Mapping[str, str]) -> dict:
    """The resources of one entity, under its scope's keys (`zuora`, `lake`, ... or `zuora_<entity>`, ...)."""
    scope = scope_of(entity)
    settings = settings_resource(entity)
    lake = LakeResource(settings=settings)
    resources = {
        "settings": settings,
        "zuora": ZuoraSource.from_environment(settings, environ),
        "lake": lake,
        "catalog": CatalogResource(settings=settings),
        "lake_io_manager": LakeIOManager(lake=lake),
    }
    return {scope.resource(key): resource for key, resource in resources.items()}


@dataclass
class EntityDefinitions:
    """What one entity adds to the code location."""

    assets: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    freshness: list = field(default_factory=list)
    sensors: list = field(default_factory=list)
    schedules: list = field(default_factory=list)
    jobs: list = field(default_factory=list)


def entity_definitions(entity: Entity, partitions: dg.PartitionsDefinition) -> EntityDefinitions:
    """The entity's `zuora/` and `athena/` assets, their checks, its change sensor, nightly consolidation and
    connection test."""
    scope = scope_of(entity)
    sources = zuora_assets(partitions, scope)
    return EntityDefinitions(
        assets=[*sources, *athena_assets(partitions, scope)],
        checks=[*rows_checks(partitions, scope), *schema_checks(scope)],
        freshness=freshness_checks(sources),
        sensors=[changes_sensor(scope)],
        schedules=[consolidation_schedule(scope)],
        jobs=[connection_job(scope)],
    )
