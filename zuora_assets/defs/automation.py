"""The change sensor (append-mode syncs of today, and of yesterday's tail after midnight) and the nightly
consolidation (replace yesterday, prune replaced manifests)."""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from zuora_assets.defs.assets import CONSOLIDATION_TAG, MODE_TAG
from zuora_assets.defs.resources import LakeResource, ZuoraSource
from zuora_assets.defs.scope import SINGLE, EntityScope
from zuora_assets.lake.state import SyncState, load_state
from zuora_assets.zuora.catalog import MODELS, ZuoraModel
from zuora_assets.zuora.changes import latest_change, probe_object

MODEL_TAG = "zuora/model"
# An append run syncs one model's new changes: its few small steps run in the run's own process rather
# than one process per step (each of which would load the whole code location again).
APPEND_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def model_keys(model: ZuoraModel, scope: EntityScope = SINGLE) -> list[dg.AssetKey]:
    return [scope.asset_key("zuora", model.name), scope.asset_key("athena", model.name)]


def syncing_models(instance: dg.DagsterInstance, scope: EntityScope = SINGLE) -> set[str]:
    """Models (of the entity) with a sync queued or running: the sensor does not pile more onto its pool."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={MODE_TAG: "append", **scope.tags}))
    return {run.tags[MODEL_TAG].rsplit("/", 1)[-1] for run in runs if MODEL_TAG in run.tags}


def starting_point(cursor: dict, model: ZuoraModel, state: SyncState, day_start: datetime) -> datetime:
    """Where to look for changes of `model`: the last change seen, else the lake's high-water mark."""
    if model.name in cursor:
        return datetime.fromisoformat(cursor[model.name])
    hwm = state.high_water_mark
    return max(hwm, day_start) if hwm else day_start


def tail_since(state: SyncState, yesterday: date, midnight: datetime) -> datetime | None:
    """How far yesterday's partition is synced if that is before `midnight` (its tail needs an append), else
    None. A partition the state does not know counts as synced to the high-water mark when that is before
    midnight; a model never synced needs no tail (its backfill or the consolidation writes the day)."""
    synced = state.partition_synced_until(yesterday.isoformat())
    if synced is None and state.high_water_mark is not None and state.high_water_mark < midnight:
        synced = state.high_water_mark
    return synced if synced is not None and synced < midnight else None


def append_request(model: ZuoraModel, run_key: str, partition: str, scope: EntityScope = SINGLE) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        partition_key=partition,
        asset_selection=model_keys(model, scope),
        run_config=APPEND_RUN_CONFIG,
        # `<entity>/<model>` with entities: the run-tag limit "one sync of a model at a time" is per entity.
        tags={MODE_TAG: "append", MODEL_TAG: "/".join([*scope.prefix, model.name]), **scope.tags},
    )


class _Tick:
    """One evaluation of the sensor: its moments, and what it found per model."""

    def __init__(self, now: datetime, lag_seconds: int, cursor: dict, scope: EntityScope = SINGLE):
        self.settled = now - timedelta(seconds=lag_seconds)  # an append run reads up to here
        self.day = self.settled.date()  # the partition appends go to; yesterday's until midnight + lag
        self.midnight = datetime.combine(self.day, datetime.min.time(), UTC)
        self.yesterday = self.day - timedelta(days=1)
        self.cursor, self.scope = cursor, scope
        self.requests: list[dg.RunRequest] = []
        self.unchanged, self.waiting, self.young, self.no_probe, self.tails = 0, [], [], [], []

    def changed(self, model: ZuoraModel, changed_at: datetime) -> str:
        """The partition a settled change goes to: its own day if today's or yesterday's."""
        self.cursor[model.name] = changed_at.isoformat()
        dt = changed_at.date() if changed_at.date() >= self.yesterday else self.day
        return dt.isoformat()


def evaluate_model(tick: _Tick, model: ZuoraModel, state: SyncState, changed_at: datetime | None, busy: bool):
    """Add the requests for one model: its settled changes, and yesterday's tail if not synced to midnight."""
    tail = tail_since(state, tick.yesterday, tick.midnight)
    if busy and (changed_at is not None or tail is not None):
        tick.waiting.append(model.name)
        return
    partitions: dict[str, str] = {}
    if changed_at is None:
        tick.unchanged += 1
    elif changed_at > tick.settled:
        tick.young.append(model.name)
    else:
        partitions[tick.changed(model, changed_at)] = f"append:{model.name}:{changed_at.isoformat()}"
    if tail is not None:
        partitions[tick.yesterday.isoformat()] = f"tail:{model.name}:{tick.yesterday}:{tail.isoformat()}"
        tick.tails.append(model.name)
    tick.requests += [append_request(model, key, dt, tick.scope) for dt, key in sorted(partitions.items())]


def change_sensor(interval_seconds: int, scope: EntityScope = SINGLE) -> dg.SensorDefinition:
    """The `zuora_changes` sensor (`zuora_changes_<entity>`), polling every `interval_seconds`
    (ZUORA_SENSOR_INTERVAL_SECONDS)."""

    @dg.sensor(
        name=scope.named("zuora_changes"),
        description="Polls Zuora for changed records (Object Query, one record per model) and requests "
        "append-mode syncs of today's partition for the models that changed, and after midnight of "
        "yesterday's tail (changes and deletes up to midnight) for the models not synced that far.",
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        asset_selection=scope.selection(),
        required_resource_keys={scope.resource("zuora"), scope.resource("lake"), "clock"},
    )
    def _sensor(context: dg.SensorEvaluationContext, **_invoked_with: object):
        # Invoked directly (tests), Dagster also passes the resources as keywords; they are context.resources.
        zuora, lake = scope.resources(context, "zuora", "lake")
        return zuora_changes(context, zuora, lake, context.resources.clock.now(), scope)

    return _sensor


def zuora_changes(
    context: dg.SensorEvaluationContext, zuora: ZuoraSource, lake: LakeResource, now: datetime, scope: EntityScope
) -> dg.SensorResult:
    """One tick: probe each model for changes since its last one, request the append runs they need."""
    tick = _Tick(now, zuora.sync.lag_seconds, json.loads(context.cursor) if context.cursor else {}, scope)
    busy = syncing_models(context.instance, scope)
    storage, folder = lake.storage(), lake.folder()
    latest: dict[tuple[str, datetime], datetime | None] = {}
    with zuora.client() as client:
        for model in MODELS.values():
            probe = probe_object(model)
            if probe is None:
                tick.no_probe.append(model.name)
                continue
            state = load_state(storage, folder, model.name)  # one small read, however long the history
            since = starting_point(tick.cursor, model, state, tick.midnight)
            if (probe, since) not in latest:
                latest[(probe, since)] = latest_change(client, probe, since)
            evaluate_model(tick, model, state, latest[(probe, since)], model.name in busy)
    cursor = json.dumps(tick.cursor, sort_keys=True)
    if tick.requests:
        return dg.SensorResult(run_requests=tick.requests, cursor=cursor)
    return dg.SensorResult(
        skip_reason=dg.SkipReason(skip_reason(tick, zuora.sync.lag_seconds)), cursor=cursor
    )


def skip_reason(tick: _Tick, lag_seconds: int) -> str:
    reason = f"no Zuora changes since the last sync of {tick.unchanged} model(s)"
    if tick.waiting:
        reason += f"; changes of {', '.join(tick.waiting)} wait for their running sync to finish"
    if tick.young:
        reason += (
            f"; changes of {', '.join(tick.young)} are younger than the {lag_seconds} s lag "
            "(ZUORA_LAG_SECONDS) and sync on a later tick"
        )
    if tick.no_probe:
        reason += (
            f"; {', '.join(tick.no_probe)} have no cheap change probe and sync in the nightly consolidation"
        )
    return reason


def consolidation_schedule(cron: str, scope: EntityScope = SINGLE) -> dg.ScheduleDefinition:
    """The `nightly_consolidation` schedule (`nightly_consolidation_<entity>`), on `cron`
    (ZUORA_CONSOLIDATION_CRON, UTC)."""

    @dg.schedule(
        name=scope.named("nightly_consolidation"),
        cron_schedule=cron,
        execution_timezone="UTC",
        target=scope.selection(),
        description="Replaces yesterday's partition of every model with one clean transfer (one set of files per "
        "day) and removes the manifests of transfers replaced longer ago than ZUORA_MANIFEST_RETENTION_DAYS.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return nightly_consolidation(context, scope)

    return _schedule


def nightly_consolidation(context: dg.ScheduleEvaluationContext, scope: EntityScope = SINGLE) -> dg.RunRequest:
    yesterday = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(
        run_key=f"consolidate:{yesterday}",
        partition_key=yesterday,
        tags={MODE_TAG: "replace", CONSOLIDATION_TAG: "true", **scope.tags},
    )
