"""The change sensor (append-mode syncs of today) and the nightly consolidation (replace yesterday)."""

import json
import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from zuora_assets.defs.assets import MODE_TAG
from zuora_assets.defs.resources import LakeResource, ZuoraSource
from zuora_assets.lake.manifest import high_water_mark
from zuora_assets.zuora.catalog import MODELS, ZuoraModel
from zuora_assets.zuora.changes import latest_change, probe_object

MODEL_TAG = "zuora/model"
SENSOR_INTERVAL_SECONDS = int(os.environ.get("ZUORA_SENSOR_INTERVAL_SECONDS", "300"))
CONSOLIDATION_CRON = os.environ.get("ZUORA_CONSOLIDATION_CRON", "30 2 * * *")
# An append run syncs one model's new changes: its few small steps run in the run's own process rather
# than one process per step (each of which would load the whole code location again).
APPEND_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def model_keys(model: ZuoraModel) -> list[dg.AssetKey]:
    return [dg.AssetKey(["zuora", model.name]), dg.AssetKey(["athena", model.name])]


def syncing_models(instance: dg.DagsterInstance) -> set[str]:
    """Models with a sync queued or running: the sensor does not pile more onto the zuora_api pool."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={MODE_TAG: "append"}))
    return {run.tags[MODEL_TAG] for run in runs if MODEL_TAG in run.tags}


def starting_point(cursor: dict, model: ZuoraModel, lake: LakeResource, today: datetime) -> datetime:
    """Where to look for changes of `model`: the last change seen, else the lake's high-water mark."""
    if model.name in cursor:
        return datetime.fromisoformat(cursor[model.name])
    hwm = high_water_mark(lake.storage(), lake.folder(), model.name)
    return max(hwm, today) if hwm else today


def append_request(model: ZuoraModel, changed_at: datetime, partition: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"append:{model.name}:{changed_at.isoformat()}",
        partition_key=partition,
        asset_selection=model_keys(model),
        run_config=APPEND_RUN_CONFIG,
        tags={MODE_TAG: "append", MODEL_TAG: model.name},
    )


@dg.sensor(
    name="zuora_changes",
    description="Polls Zuora for changed records (Object Query, one record per model) and requests "
    "append-mode syncs of today's partition for the models that changed.",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    asset_selection=dg.AssetSelection.groups("zuora", "athena"),
)
def zuora_changes(context: dg.SensorEvaluationContext, zuora: ZuoraSource, lake: LakeResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    busy = syncing_models(context.instance)
    settled = now - timedelta(seconds=zuora.lag_seconds)  # an append run reads up to here
    requests, unchanged, waiting, young, no_probe = [], 0, [], [], []
    latest: dict[tuple[str, datetime], datetime | None] = {}
    with zuora.client() as client:
        for model in MODELS.values():
            probe = probe_object(model)
            if probe is None:
                no_probe.append(model.name)
                continue
            since = starting_point(cursor, model, lake, today)
            if (probe, since) not in latest:
                latest[(probe, since)] = latest_change(client, probe, since)
            changed_at = latest[(probe, since)]
            if changed_at is None:
                unchanged += 1
            elif model.name in busy:
                waiting.append(model.name)
            elif changed_at > settled:
                young.append(model.name)
            else:
                requests.append(append_request(model, changed_at, today.date().isoformat()))
                cursor[model.name] = changed_at.isoformat()
    if not requests:
        reason = f"no Zuora changes since the last sync of {unchanged} model(s)"
        if waiting:
            reason += f"; changes of {', '.join(waiting)} wait for their running sync to finish"
        if young:
            reason += (
                f"; changes of {', '.join(young)} are younger than the {zuora.lag_seconds} s lag "
                "(ZUORA_LAG_SECONDS) and sync on a later tick"
            )
        if no_probe:
            reason += f"; {', '.join(no_probe)} have no cheap change probe and sync in the nightly consolidation"
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=json.dumps(cursor, sort_keys=True))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))


@dg.schedule(
    name="nightly_consolidation",
    cron_schedule=CONSOLIDATION_CRON,
    execution_timezone="UTC",
    target=dg.AssetSelection.groups("zuora", "athena"),
    description="Replaces yesterday's partition of every model with one clean transfer (one set of files per day).",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def nightly_consolidation(context: dg.ScheduleEvaluationContext):
    yesterday = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(
        run_key=f"consolidate:{yesterday}",
        partition_key=yesterday,
        tags={MODE_TAG: "replace"},
    )
