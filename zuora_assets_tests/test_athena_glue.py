"""GlueCatalog against a moto server: tables, projection, schema evolution, views, partition registration."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from zuora_assets.athena.errors import CatalogPermissionDenied
from zuora_assets.athena.glue import CatalogError, ForeignTable, GlueCatalog, SchemaConflict
from zuora_assets.athena.presto_view import decode_view_text
from zuora_assets.athena.views import current_view_sql
from zuora_assets_tests.athena_support import (
    DATABASE,
    MONEY,
    SCHEMAS,
    TS,
    CallRecorder,
    fail,
    location,
    model_schema,
)

FIRST_DAY = date(2024, 1, 1)
VIEW = {"key": "id", "order_by": ("updated_date", "_transferred_at"), "deleted": "_deleted"}


@pytest.fixture
def glue(moto):
    return moto.client("glue")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def catalog(glue, sleeps) -> GlueCatalog:
    return GlueCatalog(
        glue, DATABASE, clock=lambda: datetime(2024, 5, 17, 23, 0, tzinfo=UTC), sleep=sleeps.append
    )


def sync(catalog: GlueCatalog, name: str, schema: pa.Schema, **kwargs):
    table = catalog.sync_table(name, schema, location(name), first_day=FIRST_DAY, **kwargs)
    return table, catalog.sync_current_view(name, schema, **VIEW)


def sync_all(catalog: GlueCatalog) -> dict:
    catalog.ensure_database()
    return {name: sync(catalog, name, schema) for name, schema in SCHEMAS.items()}


def get_table(glue, name: str) -> dict:
    return glue.get_table(DatabaseName=DATABASE, Name=name)["Table"]


def column_types(glue, name: str) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in get_table(glue, name)["StorageDescriptor"]["Columns"]}


def test_first_sync_creates_the_database_a_table_and_a_view_per_name(catalog, glue):
    assert catalog.ensure_database() is True
    results = {name: sync(catalog, name, schema) for name, schema in SCHEMAS.items()}

    assert {name: (t.action, view) for name, (t, view) in results.items()} == {
        name: ("created", "created") for name in SCHEMAS
    }
    assert results["order"][0].added_columns == tuple(SCHEMAS["order"].names)
    tables = glue.get_tables(DatabaseName=DATABASE)["TableList"]
    assert {(t["Name"], t["TableType"]) for t in tables} == {
        (n, kind)
        for name in SCHEMAS
        for n, kind in ((name, "EXTERNAL_TABLE"), (f"{name}_current", "VIRTUAL_VIEW"))
    }
    assert catalog.ensure_database() is False


def test_a_second_sync_with_nothing_changed_makes_no_write_call(catalog, glue):
    sync_all(catalog)
    recorder = CallRecorder(glue)

    again = sync_all(catalog)

    assert {name: (t.action, view) for name, (t, view) in again.items()} == {
        name: ("unchanged", "unchanged") for name in SCHEMAS
    }
    assert recorder.names(), "the recorder must see the reads"
    assert recorder.writes() == []


def test_the_table_input_is_a_projected_parquet_table_marked_as_ours(catalog, glue):
    catalog.ensure_database()
    schema = SCHEMAS["account"].append(pa.field("dt", pa.string()))  # a dataset schema may carry dt
    catalog.sync_table("account", schema, location("account"), first_day=FIRST_DAY)

    table = get_table(glue, "account")
    sd = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert sd["Columns"] == [
        {"Name": "id", "Type": "string"},
        {"Name": "updated_date", "Type": "timestamp"},
        {"Name": "name", "Type": "string"},
        {"Name": "amount", "Type": "decimal(38,9)"},
        {"Name": "quantity", "Type": "int"},
        {"Name": "auto_pay", "Type": "boolean"},
        {"Name": "last_invoice_date", "Type": "date"},
        {"Name": "_deleted", "Type": "boolean"},
        {"Name": "_transferred_at", "Type": "timestamp"},
    ]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert sd["Location"] == "s3://lake/folder/account/"
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert sd["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    }
    assert table["Parameters"] == {
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2024-01-01,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": "s3://lake/folder/account/dt=${dt}/",
        "zuora_athena.managed": "true",
    }
    assert catalog.table_columns("account") == [(c["Name"], c["Type"]) for c in sd["Columns"]]


def test_projection_range_starts_today_for_a_new_table_and_is_kept_when_no_first_day_is_given(catalog, glue):
    catalog.ensure_database()
    catalog.sync_table("order", SCHEMAS["order"], location("order"))
    assert get_table(glue, "order")["Parameters"]["projection.dt.range"] == "2024-05-17,NOW"

    catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=FIRST_DAY)
    result = catalog.sync_table("order", SCHEMAS["order"], location("order"))

    assert result.action == "unchanged"
    assert get_table(glue, "order")["Parameters"]["projection.dt.range"] == "2024-01-01,NOW"


def test_the_projection_range_start_moves_earlier_never_later(catalog, glue):
    catalog.ensure_database()
    catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=FIRST_DAY)
    later = catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=date(2024, 3, 1))
    assert later.action == "unchanged", "a later first day keeps the table's earlier start"
    catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=date(2023, 12, 1))
    assert get_table(glue, "order")["Parameters"]["projection.dt.range"] == "2023-12-01,NOW"


def test_an_update_is_a_full_read_modify_write_with_skip_archive_and_version_id(catalog, glue):
    sync_all(catalog)
    version = get_table(glue, "account")["VersionId"]
    recorder = CallRecorder(glue)

    result = catalog.sync_table(
        "account", model_schema(pa.field("region__c", pa.string())), location("account"), first_day=FIRST_DAY
    )

    assert result.action == "updated"
    (update,) = recorder.params("UpdateTable")
    assert update["SkipArchive"] is True
    assert update["VersionId"] == version
    assert set(update["TableInput"]) <= {
        "Name", "Description", "Owner", "LastAccessTime", "LastAnalyzedTime", "Retention",
        "StorageDescriptor", "PartitionKeys", "ViewOriginalText", "ViewExpandedText", "TableType",
        "Parameters", "TargetTable",
    }  # fmt: skip
    assert update["TableInput"]["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]


def test_a_new_column_becomes_a_column_and_a_dropped_one_stays(catalog, glue):
    sync_all(catalog)
    before = list(column_types(glue, "account"))
    # `last_invoice_date` is gone from the new schema, `region__c` is new
    schema = pa.schema([f for f in SCHEMAS["account"] if f.name != "last_invoice_date"]).append(
        pa.field("region__c", pa.string())
    )

    table, view = sync(catalog, "account", schema)

    assert (table.action, table.added_columns, table.widened_columns) == ("updated", ("region__c",), ())
    assert list(column_types(glue, "account")) == [*before, "region__c"]
    assert view == "updated"
    shown = [
        c["name"] for c in decode_view_text(get_table(glue, "account_current")["ViewOriginalText"])["columns"]
    ]
    assert "region__c" in shown
    assert "last_invoice_date" not in shown


def test_a_lossless_widening_is_applied_and_a_narrower_type_keeps_the_wider_column(catalog, glue):
    sync_all(catalog)
    widened = pa.schema(
        [pa.field("quantity", pa.int64()) if f.name == "quantity" else f for f in SCHEMAS["order"]]
    )

    table, _ = sync(catalog, "order", widened)
    assert (table.action, table.added_columns, table.widened_columns) == ("updated", (), ("quantity",))
    assert column_types(glue, "order")["quantity"] == "bigint"

    again, view = sync(catalog, "order", SCHEMAS["order"])  # old files are still int32
    assert (again.action, view) == ("unchanged", "unchanged")
    assert column_types(glue, "order")["quantity"] == "bigint"


@pytest.mark.parametrize(
    ("column", "new_type", "catalog_type", "new_glue"),
    [
        ("amount", pa.decimal128(18, 2), "decimal(38,9)", "decimal(18,2)"),
        ("amount", pa.string(), "decimal(38,9)", "string"),
        ("name", pa.int64(), "string", "bigint"),
        ("updated_date", pa.string(), "timestamp", "string"),
        ("quantity", pa.float64(), "int", "double"),
    ],
)
def test_a_type_change_stops_only_that_table(catalog, glue, column, new_type, catalog_type, new_glue):
    sync_all(catalog)
    before = get_table(glue, "account")
    changed = pa.schema([pa.field(column, new_type) if f.name == column else f for f in SCHEMAS["account"]])
    recorder = CallRecorder(glue)

    with pytest.raises(SchemaConflict) as raised:
        catalog.sync_table("account", changed, location("account"), first_day=FIRST_DAY)

    message = str(raised.value)
    for part in ("zuora.account", repr(column), catalog_type, new_glue, "new table name", "rewrite"):
        assert part in message
    assert (raised.value.column, raised.value.catalog_type, raised.value.new_type) == (
        column,
        catalog_type,
        new_glue,
    )
    assert recorder.writes() == []
    assert get_table(glue, "account")["VersionId"] == before["VersionId"]
    # the other tables go on
    other, _ = sync(catalog, "order", model_schema(pa.field("note", pa.string())))
    assert other.added_columns == ("note",)


def test_a_foreign_table_or_view_of_the_same_name_is_never_touched(catalog, glue):
    catalog.ensure_database()
    foreign = {
        "Name": "account",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"owner": "someone else"},
        "StorageDescriptor": {"Columns": [{"Name": "x", "Type": "int"}], "Location": "s3://other/account/"},
    }
    glue.create_table(DatabaseName=DATABASE, TableInput=foreign)
    glue.create_table(DatabaseName=DATABASE, TableInput={**foreign, "Name": "order_current"})
    catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=FIRST_DAY)
    before = {n: get_table(glue, n) for n in ("account", "order_current")}
    recorder = CallRecorder(glue)

    with pytest.raises(ForeignTable, match=r"zuora\.account .*not managed by zuora-athena.*untouched"):
        catalog.sync_table("account", SCHEMAS["account"], location("account"), first_day=FIRST_DAY)
    with pytest.raises(ForeignTable, match=r"zuora\.order_current"):
        catalog.sync_current_view("order", SCHEMAS["order"], **VIEW)

    assert recorder.writes() == []
    assert {n: get_table(glue, n) for n in before} == before


def test_concurrent_modification_is_retried_from_a_fresh_read(catalog, glue, sleeps):
    sync_all(catalog)
    injected = fail(glue, "UpdateTable", "ConcurrentModificationException")
    recorder = CallRecorder(glue)

    result = catalog.sync_table(
        "order", model_schema(pa.field("note", pa.string())), location("order"), first_day=FIRST_DAY
    )

    assert injected == [1]
    assert result.action == "updated"
    assert recorder.names() == ["GetTable", "UpdateTable", "GetTable", "UpdateTable"]
    assert len(sleeps) == 1
    assert "note" in column_types(glue, "order")


def test_a_create_race_rereads_and_converges(catalog, glue):
    catalog.ensure_database()
    fail(glue, "CreateTable", "AlreadyExistsException")

    result = catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=FIRST_DAY)

    assert result.action == "created"
    assert list(column_types(glue, "order")) == SCHEMAS["order"].names


def test_endless_concurrent_modification_ends_with_a_clear_error(glue, sleeps):
    catalog = GlueCatalog(glue, DATABASE, sleep=sleeps.append, attempts=3)
    sync_all(catalog)

    fail(glue, "UpdateTable", "ConcurrentModificationException", times=None)
    with pytest.raises(CatalogError, match=r"zuora\.order kept changing .*3 attempts.*one sync per table"):
        catalog.sync_table("order", model_schema(pa.field("note", pa.string())), location("order"))
    assert len(sleeps) == 2  # between the attempts, none after the last


def test_access_denied_names_the_action_and_the_table(catalog, glue):
    catalog.ensure_database()
    fail(glue, "CreateTable", "AccessDeniedException")
    with pytest.raises(CatalogPermissionDenied, match=r"Glue CreateTable on zuora\.order .*grant glue:CreateTable") as caught:
        catalog.sync_table("order", SCHEMAS["order"], location("order"), first_day=FIRST_DAY)
    assert caught.value.action == "glue:CreateTable"


@pytest.mark.parametrize(
    ("name", "where", "schema"),
    [
        ("Account", location("account"), SCHEMAS["account"]),
        ("invoice-item", location("invoice_item"), SCHEMAS["account"]),
        ("account", "s3://lake/folder/account", SCHEMAS["account"]),
        ("account", "s3a://lake/folder/account/", SCHEMAS["account"]),
        ("account", location("account"), pa.schema([pa.field("Id", pa.string())])),
        ("account", location("account"), pa.schema([pa.field("n", pa.uint64())])),
    ],
)
def test_invalid_names_locations_and_types_are_rejected_before_any_write(catalog, glue, name, where, schema):
    catalog.ensure_database()
    recorder = CallRecorder(glue)
    with pytest.raises(
        CatalogError, match=r"(not a valid Glue name|not an S3 folder|no Glue/Athena column type)"
    ):
        catalog.sync_table(name, schema, where, first_day=FIRST_DAY)
    assert recorder.writes() == []


def test_a_moved_location_is_refused(catalog, glue):
    sync_all(catalog)
    with pytest.raises(
        CatalogError, match=r"points at s3://lake/folder/order/, but this sync writes to s3://x/y/order/"
    ):
        catalog.sync_table("order", SCHEMAS["order"], "s3://x/y/order/")


def test_the_view_is_an_athena_presto_view_of_the_current_versions(catalog, glue):
    sync_all(catalog)
    view = get_table(glue, "order_current")

    payload = decode_view_text(view["ViewOriginalText"])
    shown = [n for n in SCHEMAS["order"].names if n != "_deleted"]
    assert payload["originalSql"] == current_view_sql("order", shown, database=DATABASE, **VIEW)
    assert '"zuora"."order"' in payload["originalSql"]
    assert (payload["catalog"], payload["schema"]) == ("awsdatacatalog", DATABASE)
    assert payload["columns"] == [
        {"name": "id", "type": "varchar"},
        {"name": "updated_date", "type": "timestamp(3)"},
        {"name": "name", "type": "varchar"},
        {"name": "amount", "type": "decimal(38,9)"},
        {"name": "quantity", "type": "integer"},
        {"name": "_transferred_at", "type": "timestamp(3)"},
    ]
    assert view["TableType"] == "VIRTUAL_VIEW"
    assert view["ViewExpandedText"] == "/* Presto View */"
    assert view["Parameters"]["presto_view"] == "true"
    assert view["Parameters"]["zuora_athena.managed"] == "true"
    assert view["PartitionKeys"] == []
    assert [c["Type"] for c in view["StorageDescriptor"]["Columns"]] == [
        "string", "timestamp", "string", "decimal(38,9)", "int", "timestamp",
    ]  # fmt: skip


def test_a_view_needs_its_table_and_its_key_columns(catalog, glue):
    catalog.ensure_database()
    with pytest.raises(CatalogError, match=r"zuora\.order does not exist; sync the table first"):
        catalog.sync_current_view("order", SCHEMAS["order"], **VIEW)
    no_cursor = pa.schema([f for f in SCHEMAS["order"] if f.name != "updated_date"])
    catalog.sync_table("order", no_cursor, location("order"), first_day=FIRST_DAY)
    with pytest.raises(CatalogError, match=r"\['updated_date'\] are not in table zuora\.order"):
        catalog.sync_current_view("order", no_cursor, **VIEW)


def days(first: date, n: int) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def test_partition_registration_registers_only_new_partitions_in_batches_of_at_most_100(catalog, glue):
    catalog.ensure_database()
    recorder = CallRecorder(glue)

    first = catalog.sync_table(
        "order",
        SCHEMAS["order"],
        location("order"),
        first_day=FIRST_DAY,
        register_partitions=days(FIRST_DAY, 150),
    )
    second = catalog.sync_table(
        "order",
        SCHEMAS["order"],
        location("order"),
        first_day=FIRST_DAY,
        register_partitions=days(FIRST_DAY, 250),
    )
    batches = [len(p["PartitionInputList"]) for p in recorder.params("BatchCreatePartition")]
    recorder.clear()
    third = catalog.sync_table(
        "order",
        SCHEMAS["order"],
        location("order"),
        first_day=FIRST_DAY,
        register_partitions=days(FIRST_DAY, 250),
    )

    assert (len(first.partitions_registered), len(second.partitions_registered)) == (150, 100)
    assert second.partitions_registered == tuple(days(FIRST_DAY + timedelta(days=150), 100))
    assert (third.action, third.partitions_registered) == ("unchanged", ())
    assert recorder.writes() == []
    assert batches == [100, 50, 100]
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="order")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == days(FIRST_DAY, 250)
    some = next(p for p in partitions if p["Values"] == ["2024-01-05"])
    assert some["StorageDescriptor"]["Location"] == "s3://lake/folder/order/dt=2024-01-05/"
    assert get_table(glue, "order")["Parameters"]["projection.enabled"] == "false"


def test_partition_registration_tolerates_partitions_created_meanwhile(catalog, glue, moto):
    catalog.ensure_database()
    catalog.sync_table("order", SCHEMAS["order"], location("order"), register_partitions=[])
    other = moto.client("glue")

    def someone_else_registers_a_day(**_):
        other.batch_create_partition(
            DatabaseName=DATABASE, TableName="order", PartitionInputList=[{"Values": ["2024-01-02"]}]
        )

    glue.meta.events.register("before-call.glue.BatchCreatePartition", someone_else_registers_a_day)
    result = catalog.sync_table(
        "order", SCHEMAS["order"], location("order"), register_partitions=days(FIRST_DAY, 3)
    )

    assert result.partitions_registered == ("2024-01-01", "2024-01-03")


def test_partition_registration_without_permission_says_what_to_grant_or_turn_off(catalog, glue):
    catalog.ensure_database()
    fail(glue, "BatchCreatePartition", "AccessDeniedException")
    with pytest.raises(CatalogError, match=r"grant glue:BatchCreatePartition.*turn it off"):
        catalog.sync_table("order", SCHEMAS["order"], location("order"), register_partitions=["2024-01-01"])
    assert get_table(glue, "order")["Parameters"]["projection.enabled"] == "true", (
        "a new table is created queryable"
    )


def test_a_partition_value_must_be_a_day(catalog):
    catalog.ensure_database()
    with pytest.raises(CatalogError, match=r"'2024-1-1' is not a day"):
        catalog.sync_table("order", SCHEMAS["order"], location("order"), register_partitions=["2024-1-1"])


def test_a_switch_to_projection_turns_projection_back_on(catalog, glue):
    catalog.ensure_database()
    catalog.sync_table("order", SCHEMAS["order"], location("order"), register_partitions=["2024-01-01"])
    result = catalog.sync_table("order", SCHEMAS["order"], location("order"))
    assert result.action == "updated"
    assert get_table(glue, "order")["Parameters"]["projection.enabled"] == "true"


def test_types_of_every_supported_kind_reach_glue(catalog, glue):
    catalog.ensure_database()
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("attrs", pa.map_(pa.string(), pa.int64())),
            ("address", pa.struct([("city", pa.string()), ("zip", pa.int32())])),
            ("ratio", pa.float64()),
            ("ts", TS),
            ("money", MONEY),
        ]
    )
    catalog.sync_table("misc", schema, location("misc"), first_day=FIRST_DAY)
    assert column_types(glue, "misc") == {
        "id": "string",
        "tags": "array<string>",
        "attrs": "map<string,bigint>",
        "address": "struct<city:string,zip:int>",
        "ratio": "double",
        "ts": "timestamp",
        "money": "decimal(38,9)",
    }


SEED_GLUE_ACTIONS = [
    "glue:GetDatabases", "glue:GetDatabase", "glue:GetTables", "glue:GetTable", "glue:GetPartitions",
    "glue:CreateTable", "glue:CreateDatabase", "glue:UpdateTable", "glue:DeleteTable",
]  # fmt: skip


def test_the_seed_policy_is_enough_for_projection_but_not_for_partition_registration(moto):
    iam = moto.client("iam")
    iam.create_user(UserName="connector")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": SEED_GLUE_ACTIONS, "Resource": "*"}],
    }
    iam.put_user_policy(UserName="connector", PolicyName="seed", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="connector")["AccessKey"]
    glue = moto.client(
        "glue", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    moto.set_iam_enforcement(True)
    catalog = GlueCatalog(glue, DATABASE)

    assert catalog.ensure_database() is True
    table, view = sync(catalog, "order", SCHEMAS["order"])
    assert (table.action, view) == ("created", "created")
    with pytest.raises(CatalogError, match=r"lacks glue:BatchCreatePartition.*turn it off"):
        catalog.sync_table("order", SCHEMAS["order"], location("order"), register_partitions=["2024-01-01"])
    moto.set_iam_enforcement(False)
    assert get_table(glue, "order")["Parameters"]["projection.enabled"] == "true", "still queryable"
