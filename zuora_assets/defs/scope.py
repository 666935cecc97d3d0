"""`EntityScope`: what tells one entity's Dagster objects from another's (asset keys, resource keys, names, pool,
run tags). The default scope (no entity) gives today's keys and names exactly."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from zuora_assets.entities import DEFAULT_POOL

ENTITY_TAG = "zuora/entity"


@dataclass(frozen=True)
class EntityScope:
    """One entity's place in the code location: `zuora/<entity>/<model>` keys, `<resource>_<entity>` resource
    keys, `<name>_<entity>` sensors and schedules, and the pool of its tenant. `name=None` is the single entity."""

    name: str | None = None
    pool: str = DEFAULT_POOL

    def asset_key(self, layer: str, model: str) -> dg.AssetKey:
        return dg.AssetKey([layer, *self.prefix, model])

    def label(self, layer: str, model: str) -> str:
        """The asset's name in messages, e.g. zuora/eu/account."""
        return self.asset_key(layer, model).to_user_string()

    @property
    def prefix(self) -> tuple[str, ...]:
        return (self.name,) if self.name else ()

    def resource(self, key: str) -> str:
        """The key of this entity's resource `key` (the clock is shared and keeps its key)."""
        return f"{key}_{self.name}" if self.name else key

    def named(self, base: str) -> str:
        """The name of this entity's sensor, schedule or job `base`."""
        return f"{base}_{self.name}" if self.name else base

    @property
    def tags(self) -> dict[str, str]:
        return {ENTITY_TAG: self.name} if self.name else {}

    def selection(self) -> dg.AssetSelection:
        """This entity's `zuora/` and `athena/` assets."""
        if not self.name:
            return dg.AssetSelection.groups("zuora", "athena")
        return dg.AssetSelection.key_prefixes(["zuora", self.name], ["athena", self.name])

    def resources(self, context, *keys: str) -> tuple:
        """This entity's resources `keys` from a Dagster context (asset, check or sensor)."""
        return tuple(getattr(context.resources, self.resource(k)) for k in keys)


SINGLE = EntityScope()  # the single entity of a deployment without ZUORA_ENTITIES: today's keys and names
