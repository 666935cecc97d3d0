"""The athena/<model> assets against Glue on a moto server, and `<model>_current` on real lake files."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.compute as pc
import pytest

from zuora_assets.defs.resources import aws_clients, duckdb_catalog
from zuora_assets.settings import Settings
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.zuora.catalog import MODELS
from zuora_assets_tests.lake_support import TestClock
from zuora_assets_tests.pipeline import day_window, last_days, materialize
from zuora_assets_tests.test_defs_pipeline import SCHEMA, aws_env  # noqa: F401  (fixture)

GLUE_WRITES = {"CreateTable", "UpdateTable", "DeleteTable", "CreateDatabase", "BatchCreatePartition"}


@pytest.fixture
def tenant(aws_env, monkeypatch):  # noqa: F811
    with Simulator(SimConfig(seed=31, accounts=15, days=5)) as sim:
        monkeypatch.setenv("ZUORA_SIMULATOR_URL", sim.base_url)
        yield sim


def glue_write_counter() -> list[str]:
    """Names of the Glue write calls the project's own client makes from now on."""
    calls: list[str] = []
    glue = aws_clients(Settings.from_env().aws).glue
    glue.meta.events.register("before-call.glue", lambda model, **_: calls.append(model.name))
    return [calls, GLUE_WRITES]


def writes(counter) -> list[str]:
    calls, names = counter
    return [c for c in calls if c in names]


def step_failures(result) -> dict[str, str]:
    return {
        e.step_key: e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    }


def test_first_sync_creates_every_table_and_view_and_a_second_changes_nothing(tenant, aws_env):  # noqa: F811
    days = last_days(2)
    foreign = {"Name": "invoice", "StorageDescriptor": {"Columns": [{"Name": "x", "Type": "string"}]}}
    glue = aws_env.client("glue")
    glue.create_database(DatabaseInput={"Name": SCHEMA})
    glue.create_table(DatabaseName=SCHEMA, TableInput=foreign)
    before = glue.get_table(DatabaseName=SCHEMA, Name="invoice")["Table"]

    result = materialize(dg.AssetSelection.groups("zuora", "athena"), days, raise_on_error=False)
    failures = step_failures(result)
    assert list(failures) == ["athena__invoice"], "only the model whose table is not ours stops"
    assert "invoice" in failures["athena__invoice"] and "not managed by" in failures["athena__invoice"]
    assert glue.get_table(DatabaseName=SCHEMA, Name="invoice")["Table"] == before, "a foreign table is untouched"

    names = {t["Name"]: t.get("TableType") for p in glue.get_paginator("get_tables").paginate(DatabaseName=SCHEMA)
             for t in p["TableList"]}
    for model in MODELS:
        assert f"{model}_current" in names or model == "invoice"
        assert names.get(model) == ("EXTERNAL_TABLE" if model != "invoice" else None)

    counter = glue_write_counter()
    again = materialize(dg.AssetSelection.groups("athena"), days, raise_on_error=False)
    assert list(step_failures(again)) == ["athena__invoice"]
    assert writes(counter) == [], "nothing changed, so no write call at all"


def test_a_new_custom_field_becomes_a_column_and_a_type_change_stops_only_that_model(tenant, aws_env):  # noqa: F811
    today = last_days(1)
    selection = ["zuora/account", "athena/account", "zuora/contact", "athena/contact"]
    materialize(selection, today)
    glue = aws_env.client("glue")

    def columns(table):
        return {c["Name"]: c["Type"] for c in glue.get_table(DatabaseName=SCHEMA, Name=table)["Table"]
                ["StorageDescriptor"]["Columns"]}

    tenant.add_custom_field("Account", "Tier__c", "text")
    tenant.upsert("Account", {"Name": "Tiered Co", "Tier__c": "gold"})
    materialize(["zuora/account", "athena/account"], today)
    assert columns("account")["tier__c"] == "string"

    # The catalog says region__c held numbers (as if older files had another type); new files bring text.
    table = glue.get_table(DatabaseName=SCHEMA, Name="account")["Table"]
    for column in table["StorageDescriptor"]["Columns"]:
        if column["Name"] == "region__c":
            column["Type"] = "bigint"
    writable = ("Name", "StorageDescriptor", "PartitionKeys", "TableType", "Parameters")
    glue.update_table(DatabaseName=SCHEMA, TableInput={k: table[k] for k in writable})
    tenant.upsert("Account", {"Name": "Another Co", "Region__c": "EMEA"})
    tenant.upsert("Contact", {"FirstName": "Still", "LastName": "Fine"})
    result = materialize(selection, today, raise_on_error=False)
    failures = step_failures(result)
    assert list(failures) == ["athena__account"], "the type change stops only that model"
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == [], "a schema conflict fails at once: a retry cannot fix it"
    message = failures["athena__account"]
    assert "region__c" in message and "bigint" in message and "string" in message
    assert columns("account")["region__c"] == "bigint", "the table is left as it was"


def test_current_view_is_the_simulators_current_state_after_updates_and_deletes(local_lake, serve, monkeypatch):
    monkeypatch.setenv("ZUORA_LAG_SECONDS", "0")
    sim = serve(seed=41, accounts=20, days=6)
    days = last_days(7)
    models = ["account", "usage"]
    materialize([f"{g}/{m}" for m in models for g in ("zuora", "athena")], days)
    history = sim.truth("account", *window(days))
    alive = history.filter(pc.invert(history.column("_deleted"))).column("id").to_pylist()
    sim.upsert("Account", {"Id": alive[0], "Name": "Renamed Inc"})
    sim.upsert("Account", {"Id": alive[1], "Name": "Renamed Twice"})
    sim.upsert("Account", {"Id": alive[1], "Name": "Renamed Thrice"})
    sim.delete("Account", alive[2])
    # An append reads up to its snapshot, the clock's now to the second (minus the lag, 0 here): the run's
    # clock is one second later than the edits, instead of waiting for that second to pass.
    later = TestClock(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
    materialize(["zuora/account", "athena/account"], days[-1:], tags={"zuora/mode": "append"}, clock=later)

    with duckdb_catalog(Settings.from_env()) as duck:
        for model in models:
            truth = sim.truth(model, *window(days))
            expected = truth.filter(pc.invert(truth.column("_deleted"))).drop_columns(["_deleted"]).sort_by("id")
            got = duck.query(f'select {", ".join(expected.column_names)} from "{model}_current" order by id')
            assert got == [tuple(r.values()) for r in expected.to_pylist()], model
            if model == "account":
                names = dict(zip(expected.column("id").to_pylist(), expected.column("name").to_pylist(), strict=True))
                assert names[alive[1]] == "Renamed Thrice" and alive[2] not in names


def window(days: list[str]):
    return day_window(days[0])[0], day_window(days[-1])[1]
