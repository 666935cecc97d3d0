"""Type mapping, widening, identifier rules, view SQL and the schema check (no AWS needed)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from zuora_assets.athena.errors import CatalogError, SchemaConflict, UnsupportedType
from zuora_assets.athena.evolution import merge_columns
from zuora_assets.athena.names import check_name, quote
from zuora_assets.athena.presto_view import decode_view_text, encode_view_text
from zuora_assets.athena.schema_check import compare_schema
from zuora_assets.athena.table_input import same_input
from zuora_assets.athena.types import (
    arrow_type_from_glue,
    glue_columns,
    glue_type,
    normalize_glue_type,
    presto_type,
    widening_allowed,
)
from zuora_assets.athena.views import current_view_sql


@pytest.mark.parametrize(
    ("arrow", "glue"),
    [
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
        (pa.int8(), "tinyint"),
        (pa.int16(), "smallint"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.uint8(), "smallint"),
        (pa.uint32(), "bigint"),
        (pa.float32(), "float"),
        (pa.float64(), "double"),
        (pa.bool_(), "boolean"),
        (pa.decimal128(38, 9), "decimal(38,9)"),
        (pa.decimal128(10, 2), "decimal(10,2)"),
        (pa.date32(), "date"),
        (pa.timestamp("ms"), "timestamp"),
        (pa.timestamp("us", tz="UTC"), "timestamp"),
        (pa.binary(), "binary"),
        (pa.list_(pa.int64()), "array<bigint>"),
        (pa.map_(pa.string(), pa.decimal128(38, 9)), "map<string,decimal(38,9)>"),
        (pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]), "struct<a:int,b:array<string>>"),
        (pa.null(), "string"),
    ],
)
def test_glue_type_of_arrow_types(arrow, glue):
    assert glue_type(arrow) == glue


@pytest.mark.parametrize("arrow", [pa.uint64(), pa.time32("s"), pa.duration("ms"), pa.decimal256(50, 2)])
def test_types_without_a_faithful_athena_type_are_refused_with_the_column_name(arrow):
    with pytest.raises(
        UnsupportedType, match=r"column 'x': Arrow type .* has no Glue/Athena column type: cast it"
    ):
        glue_columns(pa.schema([pa.field("x", arrow)]))


@pytest.mark.parametrize(
    "arrow",
    [
        pa.string(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.bool_(),
        pa.decimal128(38, 9), pa.date32(), pa.timestamp("ms"), pa.binary(), pa.list_(pa.int64()),
        pa.map_(pa.string(), pa.int32()), pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]),
    ],
)  # fmt: skip
def test_glue_types_read_back_to_the_same_arrow_type(arrow):
    back = arrow_type_from_glue(glue_type(arrow))
    assert glue_type(back) == glue_type(arrow)
    assert back.equals(arrow)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("INTEGER", "int"),
        ("decimal(38, 9)", "decimal(38,9)"),
        ("decimal", "decimal(10,0)"),
        ("varchar(20)", "string"),
        ("Array< Struct<A:INT> >", "array<struct<A:int>>"),
        ("map<string, array<bigint>>", "map<string,array<bigint>>"),
    ],
)
def test_glue_type_spellings_are_normalized(spelling, canonical):
    assert normalize_glue_type(spelling) == canonical


@pytest.mark.parametrize(
    "bad", ["strin", "array<int", "decimal(40,2)", "map<int>", "int extra", "decimal(a,b)", ""]
)
def test_unreadable_glue_types_are_reported(bad):
    with pytest.raises(CatalogError, match=r"Glue column type .* cannot be read"):
        arrow_type_from_glue(bad)


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        ("int", "int", True),
        ("tinyint", "smallint", True),
        ("smallint", "bigint", True),
        ("int", "bigint", True),
        ("INTEGER", "bigint", True),
        ("float", "double", True),
        ("bigint", "int", False),
        ("double", "float", False),
        ("int", "double", False),
        ("decimal(10,2)", "decimal(12,2)", False),
        ("decimal(38,9)", "decimal(38,6)", False),
        ("string", "bigint", False),
        ("bigint", "string", False),
        ("timestamp", "string", False),
        ("date", "timestamp", False),
        ("array<int>", "array<bigint>", False),
    ],
)
def test_widening_is_allowed_only_along_the_documented_ladders(old, new, allowed):
    assert widening_allowed(old, new) is allowed


@pytest.mark.parametrize(
    ("glue", "presto"),
    [
        ("string", "varchar"),
        ("bigint", "bigint"),
        ("int", "integer"),
        ("float", "real"),
        ("decimal(38,9)", "decimal(38,9)"),
        ("boolean", "boolean"),
        ("date", "date"),
        ("timestamp", "timestamp(3)"),
        ("binary", "varbinary"),
        ("array<struct<a:int,b:string>>", "array(row(a integer, b varchar))"),
        ("map<string,bigint>", "map(varchar, bigint)"),
    ],
)
def test_presto_view_types(glue, presto):
    assert presto_type(glue) == presto


def test_merge_appends_new_columns_widens_keeps_dropped_and_refuses_conflicts():
    catalog = [
        {"Name": "id", "Type": "string", "Comment": "key"},
        {"Name": "n", "Type": "int"},
        {"Name": "old", "Type": "date"},
    ]
    schema = pa.schema([("new", pa.bool_()), ("n", pa.int64()), ("id", pa.null()), ("dt", pa.string())])

    merge = merge_columns("z.t", catalog, schema)

    assert merge.columns == [
        {"Name": "id", "Type": "string", "Comment": "key"},
        {"Name": "n", "Type": "bigint"},
        {"Name": "old", "Type": "date"},
        {"Name": "new", "Type": "boolean"},
    ]
    assert (merge.added, merge.widened) == (("new",), ("n",))
    with pytest.raises(SchemaConflict, match=r"table z\.t: column 'old' is date in the catalog but string"):
        merge_columns("z.t", catalog, pa.schema([("old", pa.string())]))


@pytest.mark.parametrize("name", ["Account", "my-table", "", "a b", "é", "x" * 256])
def test_names_outside_lowercase_a_z_0_9_underscore_are_rejected(name):
    with pytest.raises(CatalogError, match=r"not a valid Glue name: use 1-255 characters"):
        check_name(name, "table")


def test_names_glue_keeps_are_accepted_and_quoted():
    assert check_name("invoice_item", "table") == "invoice_item"
    assert check_name("_deleted", "column") == "_deleted"
    assert quote("order") == '"order"'
    assert quote('we"ird') == '"we""ird"'


def test_current_view_sql_quotes_every_identifier_and_translates_to_duckdb():
    sql = current_view_sql(
        "order", ["id", "from"], key="id", order_by=("updated_date",), deleted="_deleted", database="zuora"
    )
    assert sql == (
        'SELECT "id", "from" FROM (SELECT "id", "from", "updated_date", "_deleted", row_number() OVER '
        '(PARTITION BY "id" ORDER BY "updated_date" DESC NULLS LAST, "_deleted" DESC NULLS LAST) AS '
        '"__version_rank" FROM "zuora"."order") AS "versions" WHERE "__version_rank" = 1 AND NOT '
        'coalesce("_deleted", false)'
    )
    duck = current_view_sql("order", ["id"], key="id", order_by=("u",), deleted="d", dialect="duckdb")
    assert 'FROM "order"' in duck and "ROW_NUMBER()" in duck


def test_presto_view_text_round_trips_and_rejects_other_text():
    text = encode_view_text("SELECT 1", "zuora", [("a", "string"), ("t", "timestamp")])
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    assert decode_view_text(text) == {
        "originalSql": "SELECT 1",
        "catalog": "awsdatacatalog",
        "schema": "zuora",
        "columns": [{"name": "a", "type": "varchar"}, {"name": "t", "type": "timestamp(3)"}],
    }
    with pytest.raises(CatalogError, match="not an Athena"):
        decode_view_text("SELECT 1")


def test_the_schema_check_lists_every_difference_in_plain_words():
    table = [("id", "string"), ("amount", "decimal(38,9)"), ("n", "INTEGER"), ("gone", "date")]
    files = pa.schema(
        [
            ("n", pa.int32()),
            ("id", pa.string()),
            ("amount", pa.decimal128(18, 2)),
            ("extra", pa.bool_()),
            ("dt", pa.string()),
        ]
    )
    assert compare_schema(table, files) == [
        "column 'amount' is decimal(18,2) in the Parquet files but decimal(38,9) in the table",
        "column 'extra' (boolean) is in the Parquet files but not in the table",
        "column 'gone' (date) is in the table but in none of the Parquet files",
    ]
    same = pa.schema(
        [("amount", pa.decimal128(38, 9)), ("id", pa.string()), ("n", pa.int32()), ("gone", pa.date32())]
    )
    assert compare_schema(table, same) == []


def test_an_absent_field_compares_equal_to_an_empty_one_and_nothing_else_does():
    sent = {
        "Name": "v",
        "PartitionKeys": [],
        "StorageDescriptor": {"Columns": [{"Name": "a"}], "SerdeInfo": {}},
    }
    answered = {"Name": "v", "StorageDescriptor": {"Columns": [{"Name": "a"}]}}
    assert same_input(sent, answered)
    assert not same_input(sent, {"Name": "v", "StorageDescriptor": {"Columns": [{"Name": "b"}]}})
    assert not same_input({"Parameters": {"x": "1"}}, {"Parameters": {"x": "2"}})
