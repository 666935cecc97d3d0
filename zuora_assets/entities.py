"""Several Zuora entities or tenants in one deployment: `ZUORA_ENTITIES` names them, and each entity's settings
are the shared settings with its own `ZUORA_<ENTITY>_*` overrides and its own lake folder and Glue database.

With `ZUORA_ENTITIES` unset there is one entity, unnamed, whose settings are exactly the shared ones (today's
asset keys, lake paths and Glue database). An entity is only a view of the environment: `Entity.sources` says
which variable (or derived value) feeds each setting, so the resources can still bind secrets by variable name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from zuora_assets.settings import DEFAULT_LOCAL_DIR, ENV_VARS, Settings, SettingsError
from zuora_assets.settings.aws import DEFAULT_FOLDER
from zuora_assets.zuora.catalog import MODELS

ENTITIES_VAR = "ZUORA_ENTITIES"
MAX_ENTITIES = 20
DEFAULT_POOL = "zuora_api"  # the pool of the first (or only) tenant
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
# ZUORA_<ENTITY>_<suffix> overrides the shared setting it names.
OVERRIDES = {
    "CLIENT_ID": "ZUORA_CLIENT_ID",
    "CLIENT_SECRET": "ZUORA_CLIENT_SECRET",
    "ENVIRONMENT": "ZUORA_ENVIRONMENT",
    "BASE_URL": "ZUORA_BASE_URL",
    "ENTITY_ID": "ZUORA_ENTITY_ID",
    "FOLDER": "AWS_FOLDER",
    "SCHEMA": "AWS_SCHEMA",
}
_OVERRIDE_RE = re.compile(rf"^ZUORA_(.+)_({'|'.join(OVERRIDES)})$")
_ENDPOINT_VARS = ("ZUORA_ENVIRONMENT", "ZUORA_BASE_URL")


@dataclass(frozen=True)
class Source:
    """Where one setting of an entity comes from: an environment variable, or a value derived from the shared ones."""

    var: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Entity:
    """One entity (or tenant) of the deployment: its name (None = the single default entity), the source of each of
    its settings, and the pool that caps export jobs against its tenant."""

    name: str | None
    sources: Mapping[str, Source]
    pool: str = DEFAULT_POOL
    settings: Settings | None = field(default=None, compare=False)

    def env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The entity's settings as the shared variable names (what `Settings.from_env` reads)."""
        values = {var: environ.get(s.var, "") if s.var else s.value or "" for var, s in self.sources.items()}
        return {var: value for var, value in values.items() if value.strip()}

    def var(self, suffix: str) -> str:
        """The name of this entity's override variable, e.g. ZUORA_EU_CLIENT_ID."""
        return f"ZUORA_{(self.name or '').upper()}_{suffix}"


def default_entity(environ: Mapping[str, str]) -> Entity:
    """The single entity of a deployment without ZUORA_ENTITIES: every setting from its own variable."""
    return Entity(None, {var: Source(var=var) for var in ENV_VARS if (environ.get(var) or "").strip()})


def load_entities(environ: Mapping[str, str], *, today: date | None = None) -> list[Entity]:
    """The deployment's entities, in the order of ZUORA_ENTITIES; raise `SettingsError` listing every problem.

    With several entities, each one's settings are validated now (they decide keys, paths and pools), and no
    two entities may read the same tenant and entity or write the same folder or Glue database.
    """
    problems: list[str] = []
    names = _names(environ, problems)
    problems += _stray_overrides(environ, names)
    if not names:
        if problems:
            raise SettingsError(problems)
        return [default_entity(environ)]
    entities = [Entity(name, _sources(name, environ)) for name in names]
    entities = [_validated(e, environ, problems, today) for e in entities]
    problems += _collisions(entities)
    entities = _with_pools(entities)
    if problems:
        raise SettingsError(list(dict.fromkeys(problems)))
    return entities


def _names(environ: Mapping[str, str], problems: list[str]) -> list[str]:
    raw = (environ.get(ENTITIES_VAR) or "").strip()
    if not raw:
        return []
    names = [n.strip() for n in raw.split(",")]
    bad = [n for n in names if not _NAME_RE.match(n) or n.endswith("_")]
    if bad:
        problems.append(
            f"{ENTITIES_VAR}: {raw!r} has the name(s) {', '.join(map(repr, bad))}: name each entity with 1-20 of "
            "a-z, 0-9 and '_', starting with a letter, separated by commas (e.g. eu,us)"
        )
    models = [n for n in names if n in MODELS]
    if models:
        problems.append(
            f"{ENTITIES_VAR}: {raw!r} names the entity {models[0]!r} like a model: its folder would nest in the "
            "model's folder; use another name"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"{ENTITIES_VAR}: {raw!r} names {', '.join(dupes)} twice: name each entity once")
    if len(names) > MAX_ENTITIES:
        problems.append(f"{ENTITIES_VAR}: {raw!r} names {len(names)} entities: at most {MAX_ENTITIES} are supported")
    return [] if bad or models or dupes or len(names) > MAX_ENTITIES else names


def _stray_overrides(environ: Mapping[str, str], names: list[str]) -> list[str]:
    """Per-entity variables of an entity that ZUORA_ENTITIES does not name (a typo would be silently ignored)."""
    known = {n.upper() for n in names}
    problems = []
    for var in sorted(environ):
        match = _OVERRIDE_RE.match(var)
        if match and match.group(1) not in known and (environ.get(var) or "").strip():
            problems.append(
                f"{var}: is set but {ENTITIES_VAR} does not name the entity {match.group(1).lower()!r}: add it to "
                f"{ENTITIES_VAR} (now {environ.get(ENTITIES_VAR) or 'unset'}) or unset {var}"
            )
    return problems


def _sources(name: str, environ: Mapping[str, str]) -> dict[str, Source]:
    """Shared variables, overridden by the entity's own; its own folder, Glue database and local lake by default."""
    entity = Entity(name, {})
    sources = default_entity(environ).sources | {}
    set_here = {s: entity.var(s) for s in OVERRIDES if (environ.get(entity.var(s)) or "").strip()}
    if any(OVERRIDES[s] in _ENDPOINT_VARS for s in set_here):  # its own endpoint replaces the shared one
        for var in _ENDPOINT_VARS:
            sources.pop(var, None)
    for suffix, var in set_here.items():
        sources[OVERRIDES[suffix]] = Source(var=var)
    shared = {var: (environ.get(var) or "").strip() for var in ("AWS_BUCKET", "AWS_FOLDER", "AWS_SCHEMA",
                                                                "ZUORA_ATHENA_HOME")}
    if "FOLDER" not in set_here and shared["AWS_BUCKET"]:
        sources["AWS_FOLDER"] = Source(value=f"{(shared['AWS_FOLDER'] or DEFAULT_FOLDER).rstrip('/')}/{name}")
    if "SCHEMA" not in set_here and shared["AWS_SCHEMA"]:
        sources["AWS_SCHEMA"] = Source(value=f"{shared['AWS_SCHEMA']}_{name}")
    sources["ZUORA_ATHENA_HOME"] = Source(value=f"{(shared['ZUORA_ATHENA_HOME'] or DEFAULT_LOCAL_DIR).rstrip('/')}/{name}")
    return sources


def _validated(entity: Entity, environ: Mapping[str, str], problems: list[str], today: date | None) -> Entity:
    """The entity with its validated settings; its problems are added, named by the variable that feeds them."""
    env = entity.env(environ)
    if "ZUORA_CLIENT_ID" not in env and "ZUORA_CLIENT_SECRET" not in env:
        problems.append(
            f"{ENTITIES_VAR}: the entity {entity.name!r} has no Zuora tenant: set ZUORA_CLIENT_ID and "
            f"ZUORA_CLIENT_SECRET (shared) or {entity.var('CLIENT_ID')} and {entity.var('CLIENT_SECRET')} "
            "(the embedded simulator serves one entity; unset ZUORA_ENTITIES to use it)"
        )
        return entity
    try:
        settings = Settings.from_env(env, today=today)
    except SettingsError as error:
        problems += [_renamed(entity, p) for p in error.problems]
        return entity
    return Entity(entity.name, entity.sources, settings=settings)


def _renamed(entity: Entity, problem: str) -> str:
    """A settings problem ("VAR: text") named after the variable the entity really reads."""
    var, _, text = problem.partition(": ")
    source = entity.sources.get(var)
    if source is not None and source.var and source.var != var:
        return f"{source.var}: {text}"
    suffix = next((s for s, v in OVERRIDES.items() if v == var), None)
    if source is not None and source.value is not None and suffix:
        return f"{entity.var(suffix)}: {text} (the default for entity {entity.name!r}; set {entity.var(suffix)})"
    if source is None and suffix:
        return f"{var} (or {entity.var(suffix)}): {text} (entity {entity.name!r})"
    return f"{var}: {text} (entity {entity.name!r})"


def _collisions(entities: list[Entity]) -> list[str]:
    """Two entities that would read the same data, or write to the same folder or Glue database."""
    problems: list[str] = []
    seen: dict[tuple, Entity] = {}
    for e in entities:
        s = e.settings
        if s is None or s.zuora is None:
            continue
        for what, key, var in _identities(s):
            other = seen.setdefault((what, *key), e)
            if other is not e:
                problems.append(
                    f"{e.var(var)}: the entities {other.name!r} and {e.name!r} {what} "
                    f"({', '.join(str(k) for k in key if k)}): give each its own {e.var(var)}"
                )
    return problems


def _identities(s: Settings) -> list[tuple[str, tuple, str]]:
    z = s.zuora
    found = [("read the same tenant and entity", (z.base_url, z.client_id, (z.entity_id or "").lower()), "ENTITY_ID")]
    if s.aws is not None:
        found += [
            ("write the same S3 folder", (s.aws.bucket, s.aws.folder), "FOLDER"),
            ("write the same Glue database", (s.aws.schema,), "SCHEMA"),
        ]
    return found


def tenant_of(entity: Entity) -> tuple[str, str] | None:
    """What identifies the entity's tenant without calling it: the REST base URL and the OAuth client id."""
    z = entity.settings.zuora if entity.settings else None
    return (z.base_url, z.client_id) if z else None


def _with_pools(entities: list[Entity]) -> list[Entity]:
    """Entities of one tenant share a pool: the first tenant's is `zuora_api`, each further tenant's is
    `zuora_api_<the first entity that reads it>`."""
    pools: dict[tuple[str, str] | None, str] = {}
    for e in entities:
        pools.setdefault(tenant_of(e), DEFAULT_POOL if not pools else f"{DEFAULT_POOL}_{e.name}")
    return [Entity(e.name, e.sources, pools[tenant_of(e)], e.settings) for e in entities]


def for_each_entity(environ: Mapping[str, str], command: Callable[[Mapping[str, str]], int], out=None) -> int:
    """Run a settings command (`check`, `iam-policy`) once per entity, each with its own settings; the worst exit
    code wins (2 = bad settings). Without ZUORA_ENTITIES, run it once with `environ`."""
    out = out or sys.stdout
    try:
        entities = load_entities(environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if entities[0].name is None:
        return command(environ)
    codes = []
    for entity in entities:
        print(f"# entity {entity.name} (pool {entity.pool})", file=out, flush=True)
        codes.append(command({**environ, **entity.env(environ)} | _unset_shared(entity, environ)))
        print(file=out, flush=True)
    return max(codes)


def _unset_shared(entity: Entity, environ: Mapping[str, str]) -> dict[str, str]:
    """Shared settings the entity does not use (an endpoint it replaced), blanked (empty = unset)."""
    return {var: "" for var in ENV_VARS if var in environ and var not in entity.sources}
