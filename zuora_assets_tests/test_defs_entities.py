"""Several entities in one deployment: settings per entity, keys/sensors/schedules/pools per entity, and two
entities of a simulated multi-entity tenant syncing into separate, correct tables (local lake and moto)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import dagster as dg
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from zuora_assets.definitions import build_definitions, build_resources
from zuora_assets.defs.resources import duckdb_catalog
from zuora_assets.entities import load_entities
from zuora_assets.settings import SettingsError
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.zuora.catalog import MODELS
from zuora_assets_tests.pipeline import day_window, last_days, materialize, moto_settings
from zuora_assets_tests.test_defs_pipeline import arrow_fs

EU = "6a1f0e52-9c1d-4c7e-8a51-2f4f0b2d9e01"
US = "0c9b7a3e-55d2-4f0a-b7c4-7d1e2a6f3b02"
BUCKET = "zuora-entities-test"
MODELS_SYNCED = ["account", "invoice"]


def tenant_env(base_url: str = "https://rest.na.zuora.com", **extra: str) -> dict[str, str]:
    """Two entities (eu, us) of one multi-entity tenant reached with one OAuth client."""
    return {
        "ZUORA_ENTITIES": "eu,us",
        "ZUORA_BASE_URL": base_url,
        "ZUORA_CLIENT_ID": "sim-client-id",
        "ZUORA_CLIENT_SECRET": "sim-client-secret",
        "ZUORA_EU_ENTITY_ID": EU,
        "ZUORA_US_ENTITY_ID": US,
        **extra,
    }


# --- settings -------------------------------------------------------------------------------------------------


def test_each_entity_gets_its_own_folder_schema_and_local_lake_and_overrides_win():
    env = tenant_env(
        AWS_BUCKET=BUCKET, AWS_BUCKET_REGION="us-east-1", AWS_SCHEMA="billing", AWS_FOLDER="exports/zuora",
        ZUORA_START_DATE="2024-01-01", ZUORA_US_SCHEMA="billing_america", ZUORA_ATHENA_HOME="/data/lake",
    )
    eu, us = load_entities(env)
    assert (eu.name, us.name) == ("eu", "us")
    assert (eu.settings.zuora.entity_id, us.settings.zuora.entity_id) == (EU, US)
    assert (eu.settings.aws.folder, eu.settings.aws.schema) == ("exports/zuora/eu", "billing_eu")
    assert (us.settings.aws.folder, us.settings.aws.schema) == ("exports/zuora/us", "billing_america")
    assert str(eu.settings.local_dir) == "/data/lake/eu"
    assert eu.settings.aws.query_results_location == f"s3://{BUCKET}/exports/zuora/eu/_zuora/athena-results/"
    assert eu.pool == us.pool == "zuora_api", "two entities of one tenant share its pool"


def test_the_first_entity_can_keep_an_existing_lake_in_place():
    env = tenant_env(
        AWS_BUCKET=BUCKET, AWS_BUCKET_REGION="us-east-1", AWS_SCHEMA="billing", AWS_FOLDER="zuora",
        ZUORA_START_DATE="2024-01-01", ZUORA_EU_FOLDER="zuora", ZUORA_EU_SCHEMA="billing",
    )
    eu, us = load_entities(env)
    assert (eu.settings.aws.folder, eu.settings.aws.schema) == ("zuora", "billing")
    assert (us.settings.aws.folder, us.settings.aws.schema) == ("zuora/us", "billing_us")


def test_without_zuora_entities_there_is_one_unnamed_entity_with_the_shared_settings():
    (only,) = load_entities({"ZUORA_CLIENT_ID": "x", "AWS_FOLDER": "f"})
    assert only.name is None and only.pool == "zuora_api"
    assert only.env({"ZUORA_CLIENT_ID": "x", "AWS_FOLDER": "f"}) == {"ZUORA_CLIENT_ID": "x", "AWS_FOLDER": "f"}


def two_tenants_env(**endpoint: str) -> dict[str, str]:
    """eu and us of one tenant, apac of a second tenant with its own endpoint and OAuth client."""
    return tenant_env(
        ZUORA_ENTITIES="eu,us,apac", ZUORA_APAC_CLIENT_ID="apac-client", ZUORA_APAC_CLIENT_SECRET="apac-secret",
        **endpoint,
    )


def test_two_tenants_each_get_their_own_pool_and_endpoint():
    env = two_tenants_env(ZUORA_APAC_ENVIRONMENT="apac-production")
    eu, us, apac = load_entities(env)
    assert apac.settings.zuora.base_url == "https://rest.ap.zuora.com", "its environment replaces the shared URL"
    assert apac.settings.zuora.client_secret.get_secret_value() == "apac-secret"
    assert (eu.pool, us.pool, apac.pool) == ("zuora_api", "zuora_api", "zuora_api_apac")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ZUORA_ENTITIES": "eu,EU-2"}, "ZUORA_ENTITIES: 'eu,EU-2' has the name(s) 'EU-2'"),
        ({"ZUORA_ENTITIES": "eu,eu"}, "ZUORA_ENTITIES: 'eu,eu' names eu twice"),
        ({"ZUORA_ENTITIES": "eu,account"}, "ZUORA_ENTITIES: 'eu,account' names the entity 'account' like a model"),
        ({"ZUORA_UK_CLIENT_ID": "c"}, "ZUORA_UK_CLIENT_ID: is set but ZUORA_ENTITIES does not name the entity 'uk'"),
        ({"ZUORA_US_ENTITY_ID": EU}, "ZUORA_US_ENTITY_ID: the entities 'eu' and 'us' read the same tenant and entity"),
        ({"ZUORA_US_ENTITY_ID": "not-a-uuid"}, "ZUORA_US_ENTITY_ID: 'not-a-uuid' is not a UUID"),
        ({"ZUORA_EU_BASE_URL": "http://rest.eu.zuora.com"}, "ZUORA_EU_BASE_URL: 'http://rest.eu.zuora.com' uses plain http"),
        ({"ZUORA_CLIENT_ID": "", "ZUORA_CLIENT_SECRET": ""}, "ZUORA_ENTITIES: the entity 'eu' has no Zuora tenant"),
        ({"ZUORA_US_FOLDER": "zuora/eu"}, "ZUORA_US_FOLDER: the entities 'eu' and 'us' write the same S3 folder"),
        ({"ZUORA_US_SCHEMA": "billing_eu"}, "ZUORA_US_SCHEMA: the entities 'eu' and 'us' write the same Glue database"),
        ({"ZUORA_US_SCHEMA": "Bad-Name"}, "ZUORA_US_SCHEMA: 'Bad-Name' is not valid"),
    ],
)
def test_bad_entity_settings_name_the_variable_and_the_rule(change, expected):
    env = {**tenant_env(AWS_BUCKET=BUCKET, AWS_BUCKET_REGION="us-east-1", AWS_SCHEMA="billing",
                        ZUORA_START_DATE="2024-01-01"), **change}
    with pytest.raises(SettingsError) as raised:
        load_entities(env)
    assert any(p.startswith(expected) for p in raised.value.problems), raised.value.problems
    assert "sim-client-secret" not in str(raised.value)


def test_iam_policy_and_check_run_per_entity_with_its_own_glue_database(capsys):
    env = tenant_env(AWS_BUCKET=BUCKET, AWS_BUCKET_REGION="us-east-1", AWS_SCHEMA="billing",
                     ZUORA_START_DATE="2024-01-01")
    assert main(["iam-policy"], env) == 0
    out = capsys.readouterr().out
    assert out.index("# entity eu (pool zuora_api)") < out.index("table/billing_eu/*") < out.index("# entity us")
    assert "table/billing_us/*" in out.split("# entity us")[1] and "table/billing/*" not in out

    env["ZUORA_US_CLIENT_ID"] = "us-only-client"
    env.pop("ZUORA_CLIENT_SECRET")
    assert main(["check"], env) == 2
    err = capsys.readouterr().err
    assert "ZUORA_CLIENT_SECRET (or ZUORA_US_CLIENT_SECRET): is missing" in err and "Traceback" not in err


def main(argv: list[str], env: dict[str, str]) -> int:
    from unittest import mock

    from zuora_assets.__main__ import main as cli

    with mock.patch.dict(os.environ, env, clear=True):
        return cli(argv)


def test_a_per_entity_variable_without_zuora_entities_stops_the_definitions_load():
    with pytest.raises(SettingsError, match="ZUORA_EU_CLIENT_ID: is set but ZUORA_ENTITIES"):
        build_definitions({"ZUORA_EU_CLIENT_ID": "x"})


# --- definitions ----------------------------------------------------------------------------------------------


def pools_of(defs: dg.Definitions) -> dict[str, str]:
    pools = {key.to_user_string(): a.op.pool for a in defs.assets for key in a.keys}
    pools |= {f"{c.asset_key.to_user_string()}:{c.name}": d.op.pool for d in defs.asset_checks
              for c in d.check_specs if d.op.pool}
    return pools


def test_definitions_for_two_tenants_have_keys_sensors_schedules_and_pools_per_entity():
    env = two_tenants_env(ZUORA_APAC_BASE_URL="https://rest.ap.zuora.com")
    defs = build_definitions(env)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    names = ("eu", "us", "apac")
    assert keys == {f"{layer}/{e}/{m}" for layer in ("zuora", "athena") for e in names for m in MODELS}
    for e in names:
        assert graph.get(dg.AssetKey(["athena", e, "account"])).parent_keys == {dg.AssetKey(["zuora", e, "account"])}
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert {"zuora/eu/account:rows_match_zuora", "athena/apac/invoice:columns_match_files"} <= checks

    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {"zuora_changes_eu", "zuora_changes_us", "zuora_changes_apac"}
    assert {s.name for s in repo.schedule_defs} == {*(f"nightly_consolidation_{e}" for e in names), "zuora_freshness"}
    assert {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")} == {
        "zuora_sync", "zuora_freshness", *(f"test_connection_{e}" for e in names)}
    freshness = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys
                 if k.name == "yesterday_by_deadline"}
    assert freshness == {f"zuora/{e}/{m}:yesterday_by_deadline" for e in names for m in MODELS}
    for e in names:  # each consolidation replaces its own entity's models, and says which entity it is
        schedule = defs.resolve_schedule_def(f"nightly_consolidation_{e}")
        job = defs.resolve_job_def(schedule.job_name)
        assert job.asset_layer.selected_asset_keys == {k for k in graph.get_all_asset_keys() if k.path[1] == e}
        request = schedule(dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 2, 30, tzinfo=UTC)))
        assert (request.partition_key, request.tags["zuora/entity"]) == ("2026-03-01", e)

    pools = pools_of(defs)
    assert {pools[f"zuora/{e}/account"] for e in ("eu", "us")} == {"zuora_api"}
    assert pools["zuora/apac/account"] == pools["zuora/apac/account:rows_match_zuora"] == "zuora_api_apac"
    assert pools["athena/eu/account"] == "catalog"

    resources = build_resources(env)
    assert {"zuora_eu", "lake_us", "catalog_apac", "lake_io_manager_eu", "clock"} <= set(resources)
    assert graph.get(dg.AssetKey(["zuora", "eu", "account"])).tags["zuora/entity"] == "eu"


def test_the_single_entity_keeps_todays_keys_names_and_pool():
    defs = build_definitions({})
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"{layer}/{m}" for layer in ("zuora", "athena", "health", "zuora_reconcile") for m in MODELS}
    pools = pools_of(defs)
    assert {pools[f"zuora/{m}"] for m in MODELS} == {pools[f"zuora_reconcile/{m}"] for m in MODELS} == {"zuora_api"}
    assert {pools[f"athena/{m}"] for m in MODELS} == {"catalog"}


# --- two entities sync into separate tables ---------------------------------------------------------------------


@pytest.fixture
def two_entity_tenant(monkeypatch):
    """A simulated multi-entity tenant (distinct data per entity) configured as the deployment's real tenant."""
    with Simulator(SimConfig(seed=23, accounts=15, days=6, entities=(EU, US))) as sim:
        for var, value in tenant_env(sim.base_url).items():
            monkeypatch.setenv(var, value)
        monkeypatch.delenv("ZUORA_SIMULATOR_URL", raising=False)
        monkeypatch.setenv("ZUORA_LAG_SECONDS", "0")
        yield sim


def truth(sim: Simulator, model: str, entity: str, days: list[str]):
    return sim.truth(model, day_window(days[0])[0], day_window(days[-1])[1], entity=entity)


def sync_both(days: list[str]) -> None:
    selection = [f"{layer}/{e}/{m}" for e in ("eu", "us") for m in MODELS_SYNCED for layer in ("zuora", "athena")]
    assert materialize(selection, days).success


def assert_separate_and_exact(sim: Simulator, days: list[str], lake_ids) -> None:
    """Each entity's files hold exactly its simulator truth, and no id of one entity is in the other's."""
    for model in MODELS_SYNCED:
        found = {e: lake_ids(e, model) for e in ("eu", "us")}
        expected = {e: sorted(truth(sim, model, uuid, days).column("id").to_pylist()) for e, uuid in
                    (("eu", EU), ("us", US))}
        assert expected["eu"] and expected["us"]
        assert found == expected, model
        assert not set(found["eu"]) & set(found["us"]), f"{model}: an id crossed entities"


def test_two_entities_sync_into_separate_local_lakes_and_catalogs(local_lake, two_entity_tenant):
    days = last_days(4)
    sync_both(days)

    def lake_ids(entity: str, model: str) -> list[str]:
        folder = local_lake / entity / "zuora" / model
        return sorted(pads.dataset(folder, partitioning="hive").to_table(columns=["id"]).column("id").to_pylist())

    assert_separate_and_exact(two_entity_tenant, days, lake_ids)
    assert not (local_lake / "zuora").exists(), "nothing goes to the single-entity folder"
    for entity, uuid in (("eu", EU), ("us", US)):
        settings = next(e.settings for e in load_entities(dict(os.environ)) if e.name == entity)
        assert settings.local_dir == local_lake / entity
        with duckdb_catalog(settings) as duck:
            full = truth(two_entity_tenant, "account", uuid, days)
            live = full.filter(pc.invert(full.column("_deleted")))
            assert duck.query('select id from "account_current" order by id') == [(i,) for i in live.column("id")
                                                                                 .to_pylist()]


def test_two_entities_sync_into_separate_s3_folders_and_glue_databases(moto, two_entity_tenant, monkeypatch):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    for var, value in moto_settings(moto.endpoint, bucket=BUCKET, folder="exports/zuora", schema="billing").items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_QUERY_RESULTS_LOCATION")  # the default, inside each entity's folder
    days = last_days(4)
    sync_both(days)

    def lake_ids(entity: str, model: str) -> list[str]:
        data = pads.dataset(f"{BUCKET}/exports/zuora/{entity}/{model}/", filesystem=arrow_fs(moto),
                            partitioning="hive")
        return sorted(data.to_table(columns=["id"]).column("id").to_pylist())

    assert_separate_and_exact(two_entity_tenant, days, lake_ids)
    glue = moto.client("glue")
    for entity in ("eu", "us"):
        tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=f"billing_{entity}")["TableList"]}
        assert set(MODELS_SYNCED) <= set(tables)
        location = tables["account"]["StorageDescriptor"]["Location"]
        assert location == f"s3://{BUCKET}/exports/zuora/{entity}/account/"
    assert "billing" not in {d["Name"] for d in glue.get_databases()["DatabaseList"]}


def test_each_entitys_sensor_sees_only_its_own_changes(local_lake, two_entity_tenant):
    sim = two_entity_tenant
    env = dict(os.environ)
    defs = build_definitions(env)
    repo = defs.get_repository_def()

    def tick(entity: str, instance, cursor):
        sensor = repo.get_sensor_def(f"zuora_changes_{entity}")
        with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                     resources=build_resources(env)) as context:
            return sensor.evaluate_tick(context)  # as the daemon evaluates it

    with dg.instance_for_test() as instance:
        cursors = {e: tick(e, instance, None).cursor for e in ("eu", "us")}
        sim.upsert("Account", {"Name": "Only In Europe GmbH"}, entity=EU)
        eu, us = (tick(e, instance, cursors[e]) for e in ("eu", "us"))
        assert [r.tags["zuora/model"] for r in eu.run_requests] == ["eu/account"]
        (request,) = eu.run_requests
        assert request.asset_selection == [dg.AssetKey(["zuora", "eu", "account"]),
                                           dg.AssetKey(["athena", "eu", "account"])]
        assert request.tags["zuora/entity"] == "eu"
        assert not us.run_requests and json.loads(us.cursor) == json.loads(cursors["us"])


def test_each_entitys_connection_test_reaches_its_own_entity(local_lake, two_entity_tenant):
    defs = build_definitions(dict(os.environ))
    for entity, uuid in (("eu", EU), ("us", US)):
        before = len(two_entity_tenant.requests())
        result = defs.get_job_def(f"test_connection_{entity}").execute_in_process()
        assert result.success
        calls = two_entity_tenant.requests()[before:]
        assert calls and {c["headers"].get("zuora-entity-ids") for c in calls if c["path"] != "/oauth/token"} == {uuid}
