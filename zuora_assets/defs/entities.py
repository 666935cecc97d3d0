"""One entity's Dagster objects: its resources (settings bound to its own variables), assets, checks, sensor and
schedule, made by the existing factories in the entity's scope; and the scopes of the deployment's entities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from zuora_assets.defs.assets import zuora_assets
from zuora_assets.defs.automation import change_sensor, consolidation_schedule
from zuora_assets.defs.catalog_assets import athena_assets
from zuora_assets.defs.checks import freshness_checks, rows_checks, schema_checks
from zuora_assets.defs.connection_check import connection_job
from zuora_assets.defs.io_manager import LakeIOManager
from zuora_assets.defs.resources import CatalogResource, LakeResource, SettingsResource, ZuoraSource
from zuora_assets.defs.scope import EntityScope
from zuora_assets.entities import Entity
from zuora_assets.settings import Settings


def scope_of(entity: Entity) -> EntityScope:
    return EntityScope(entity.name, entity.pool)


def settings_bindings(entity: Entity, environ: Mapping[str, str], *, literal: bool = False) -> dict:
    """The entity's settings fields, each bound to the variable that feeds it (values resolve at run time, so
    secrets stay out of the definitions; `literal`: its value in `environ`), or to the value derived for the
    entity (its folder, schema, local lake)."""
    values = {}
    for var, source in entity.sources.items():
        if source.var is None:
            values[var.lower()] = source.value
        else:
            values[var.lower()] = environ[source.var] if literal else dg.EnvVar(source.var)
    return values


def entity_resources(entity: Entity, environ: Mapping[str, str], *, literal: bool = False) -> dict:
    """The resources of one entity, under its scope's keys (`zuora`, `lake`, ... or `zuora_<entity>`, ...).

    Each is bound once at the top level and the others refer to it (`configure_at_launch`), as Dagster
    resolves such references by identity."""
    scope = scope_of(entity)
    settings = SettingsResource.configure_at_launch(**settings_bindings(entity, environ, literal=literal))
    lake = LakeResource.configure_at_launch(settings=settings)
    resources = {
        "settings": settings,
        "zuora": ZuoraSource.configure_at_launch(settings=settings, **ZuoraSource.bindings(environ, literal=literal)),
        "lake": lake,
        "catalog": CatalogResource.configure_at_launch(settings=settings),
        "lake_io_manager": LakeIOManager.configure_at_launch(lake=lake),
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


def entity_definitions(entity: Entity, settings: Settings, partitions: dg.PartitionsDefinition) -> EntityDefinitions:
    """The entity's `zuora/` and `athena/` assets, their checks, its change sensor, nightly consolidation and
    connection test."""
    scope = scope_of(entity)
    sync = settings.sync
    return EntityDefinitions(
        assets=[*zuora_assets(partitions, settings, scope), *athena_assets(partitions, settings, scope)],
        checks=[*rows_checks(partitions, scope), *schema_checks(scope)],
        freshness=freshness_checks(sync.freshness_hour, scope),
        sensors=[change_sensor(sync.sensor_interval_seconds, scope)],
        schedules=[consolidation_schedule(sync.consolidation_cron, scope)],
        jobs=[connection_job(scope)],
    )
