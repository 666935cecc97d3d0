"""The embedded DuckDB catalog over real lake files, and the `_current` view SQL (also as stored in Glue)."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from zuora_assets.athena.duckdb_catalog import DuckDBCatalog
from zuora_assets.athena.glue import CatalogError, ForeignTable, GlueCatalog, SchemaConflict
from zuora_assets.athena.presto_view import decode_view_text
from zuora_assets_tests.test_athena_support import (
    DATABASE,
    FOLDER,
    SCHEMAS,
    location,
    model_schema,
    write_transfer,
)

VIEW = {"key": "id", "order_by": ("updated_date", "_transferred_at"), "deleted": "_deleted"}
REGION = pa.field("region__c", pa.string())
START = datetime(2024, 3, 1)


def make_history(seed: int = 7, ids: int = 40, transfers: int = 6):
    """Versions of `ids` records over several transfers: updates, deletes, re-sent duplicates (append mode)
    and equal `updated_date`s across transfers. From transfer 3 on, files carry a new column `region__c`.

    Returns {transfer time: rows} where each row is a dict of the new schema's columns.
    """
    rng = random.Random(seed)
    history: dict[datetime, list[dict]] = {}
    last: dict[str, dict] = {}
    for t in range(transfers):
        transferred = START + timedelta(days=t, hours=1)
        rows = []
        for i in rng.sample(range(ids), ids // 2):
            rid = f"id{i:03d}"
            if rid in last and rng.random() < 0.2:
                rows.append(dict(last[rid]))  # the same version sent again by an overlapping window
                continue
            updated = transferred - timedelta(hours=rng.choice([1, 2, 3]))
            if rid in last and rng.random() < 0.3:
                updated = last[rid]["updated_date"]  # same cursor value, later transfer wins
            row = {
                "id": rid,
                "updated_date": updated,
                "name": f"name {i} v{t}",
                "amount": Decimal(rng.randint(0, 10**6)) / 100,
                "quantity": rng.randint(-5, 5),
                "region__c": f"r{t}" if t >= 3 else None,
                "_deleted": rid in last and rng.random() < 0.2,
            }
            last[rid] = row
            rows.append(row)
        history[transferred] = rows
    return history


def assert_history_is_demanding(history) -> None:
    """The history must exercise every rule of the view, or the view test could pass by luck."""
    versions = [(r["id"], r["updated_date"], t) for t, rows in history.items() for r in rows]
    by_id_cursor: dict[tuple, set] = {}
    for rid, updated, t in versions:
        by_id_cursor.setdefault((rid, updated), set()).add(t)
    assert any(len(ts) > 1 for ts in by_id_cursor.values()), "a cursor value seen in two transfers"
    assert any(r["_deleted"] for rows in history.values() for r in rows), "tombstones"
    assert len({rid for rid, _, _ in versions}) < len(versions), "several versions of a record"


def write_history(root, model: str, history) -> None:
    """Write each transfer's rows split by `dt` (the day of `updated_date`), one file per partition."""
    for transferred, rows in history.items():
        schema = model_schema(REGION) if any(r["region__c"] for r in rows) else SCHEMAS["order"]
        by_day: dict[str, list[dict]] = {}
        for r in rows:
            by_day.setdefault(r["updated_date"].date().isoformat(), []).append(r)
        for dt, day_rows in by_day.items():
            data = {
                name: [r.get(name) for r in day_rows] for name in schema.names if name != "_transferred_at"
            }
            data["_transferred_at"] = [transferred] * len(day_rows)
            write_transfer(root, FOLDER, model, dt, transferred, pa.table(data, schema=schema))


def expected_current(history) -> set[tuple]:
    """The latest version per id by (updated_date, transferred_at, tombstone), without tombstones."""
    best: dict[str, tuple] = {}
    for transferred, rows in history.items():
        for r in rows:
            rank = (r["updated_date"], transferred, r["_deleted"])
            if r["id"] not in best or rank > best[r["id"]][0]:
                best[r["id"]] = (rank, r, transferred)
    return {
        (r["id"], r["updated_date"], r["name"], r["amount"], r["quantity"], transferred, r["region__c"])
        for _, r, transferred in best.values()
        if not r["_deleted"]
    }


CURRENT_COLUMNS = '"id", "updated_date", "name", "amount", "quantity", "_transferred_at", "region__c"'


@pytest.fixture
def lake(tmp_path):
    return tmp_path / "lake"


@pytest.fixture
def duck(tmp_path, lake):
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb", lake)
    yield catalog
    catalog.close()


def quantize(rows) -> set[tuple]:
    """Rows with decimals normalized to 2 places, as the expected values are."""
    return {tuple(v.quantize(Decimal("0.01")) if isinstance(v, Decimal) else v for v in row) for row in rows}


def test_the_current_view_returns_exactly_the_current_state_of_the_records(duck, lake):
    history = make_history()
    assert_history_is_demanding(history)
    write_history(lake, "order", history)
    schema = model_schema(REGION)

    table = duck.sync_table("order", schema, f"{FOLDER}/order")
    view = duck.sync_current_view("order", schema, **VIEW)

    assert (table.action, view) == ("created", "created")
    rows = duck.query(f'SELECT {CURRENT_COLUMNS} FROM "zuora"."order_current"')
    expected = expected_current(history)
    assert quantize(rows) == expected
    assert len(rows) == len(expected), "one row per id"
    deleted_ids = {r["id"] for rows in history.values() for r in rows if r["_deleted"]}
    assert deleted_ids - {r[0] for r in rows}, "the history must delete some records for good"
    total = sum(len(rows) for rows in history.values())
    assert duck.query('SELECT count(*) FROM "zuora"."order"') == [(total,)]


def test_a_tombstone_wins_a_full_tie_and_nulls_rank_last(duck, lake):
    schema = SCHEMAS["order"]
    t0, t1 = START, START + timedelta(hours=5)
    rows = [  # (id, updated_date, name, deleted, transferred_at)
        ("tie", t0, "kept?", False, t1),
        ("tie", t0, "gone", True, t1),
        ("null", None, "no cursor", False, t1),
        ("null", t0, "has cursor", False, t0),
        ("later", t0, "first", False, t0),
        ("later", t0, "second", False, t1),
    ]
    columns = list(zip(*rows, strict=True))
    data = {
        "id": columns[0], "updated_date": columns[1], "name": columns[2], "amount": [None] * len(rows),
        "quantity": [None] * len(rows), "_deleted": columns[3], "_transferred_at": columns[4],
    }  # fmt: skip
    write_transfer(lake, FOLDER, "order", "2024-03-01", t1, pa.table(data, schema=schema))
    duck.sync_table("order", schema, f"{FOLDER}/order")
    duck.sync_current_view("order", schema, **VIEW)

    rows = duck.query('SELECT "id", "name" FROM "zuora"."order_current" ORDER BY "id"')

    assert rows == [("later", "second"), ("null", "has cursor")]


def test_the_sql_stored_in_the_glue_view_gives_the_same_state_in_duckdb(duck, lake, moto):
    history = make_history(seed=11)
    write_history(lake, "order", history)
    schema = model_schema(REGION)
    duck.sync_table("order", schema, f"{FOLDER}/order")
    glue = GlueCatalog(moto.client("glue"), DATABASE)
    glue.ensure_database()
    glue.sync_table("order", schema, location("order"))
    glue.sync_current_view("order", schema, **VIEW)

    stored = moto.client("glue").get_table(DatabaseName=DATABASE, Name="order_current")["Table"]
    athena_sql = decode_view_text(stored["ViewOriginalText"])["originalSql"]
    rows = duck.query(f"SELECT {CURRENT_COLUMNS} FROM ({athena_sql}) AS v", dialect="athena")

    assert quantize(rows) == expected_current(history)


def test_a_model_without_files_gets_an_empty_typed_table_and_view(duck, lake):
    schema = SCHEMAS["account"]
    duck.sync_table("account", schema, f"{FOLDER}/account")
    duck.sync_current_view("account", schema, **VIEW)

    assert duck.query('SELECT * FROM "zuora"."account"') == []
    assert duck.query('SELECT * FROM "zuora"."account_current"') == []
    described = duck.query('DESCRIBE "zuora"."account"')
    assert [(name, kind) for name, kind, *_ in described] == [
        ("id", "VARCHAR"),
        ("updated_date", "TIMESTAMP"),
        ("name", "VARCHAR"),
        ("amount", "DECIMAL(38,9)"),
        ("quantity", "INTEGER"),
        ("auto_pay", "BOOLEAN"),
        ("last_invoice_date", "DATE"),
        ("_deleted", "BOOLEAN"),
        ("_transferred_at", "TIMESTAMP"),
        ("dt", "VARCHAR"),
    ]

    row = {
        "id": ["a"], "updated_date": [START], "name": ["n"], "amount": [Decimal("1.5")], "quantity": [1],
        "auto_pay": [True], "last_invoice_date": [START.date()], "_deleted": [False], "_transferred_at": [START],
    }  # fmt: skip
    write_transfer(lake, FOLDER, "account", "2024-03-01", START, pa.table(row, schema=schema))
    assert duck.sync_table("account", schema, f"{FOLDER}/account").action == "updated"
    assert duck.query('SELECT id, dt FROM "zuora"."account_current" JOIN "zuora"."account" USING (id)') == [
        ("a", "2024-03-01")
    ]


def test_a_second_sync_with_nothing_changed_is_unchanged(duck, lake):
    write_history(lake, "order", make_history(transfers=2))
    schema = SCHEMAS["order"]
    duck.sync_table("order", schema, f"{FOLDER}/order")
    duck.sync_current_view("order", schema, **VIEW)

    assert duck.sync_table("order", schema, f"{FOLDER}/order").action == "unchanged"
    assert duck.sync_current_view("order", schema, **VIEW) == "unchanged"


def test_schema_evolution_follows_the_glue_rules(duck, lake):
    old = pa.schema([pa.field("id", pa.string()), pa.field("n", pa.int32()), pa.field("gone", pa.string())])
    write_transfer(
        lake, FOLDER, "thing", "2024-03-01", START, pa.table({"id": ["a"], "n": [1], "gone": ["x"]}, old)
    )
    duck.sync_table("thing", old, f"{FOLDER}/thing")

    new = pa.schema([pa.field("id", pa.string()), pa.field("n", pa.int64()), pa.field("extra", pa.bool_())])
    later = START + timedelta(days=1)
    write_transfer(
        lake,
        FOLDER,
        "thing",
        "2024-03-02",
        later,
        pa.table({"id": ["b"], "n": [2**40], "extra": [True]}, new),
    )
    result = duck.sync_table("thing", new, f"{FOLDER}/thing")

    assert (result.action, result.added_columns, result.widened_columns) == ("updated", ("extra",), ("n",))
    assert duck.table_columns("thing") == [
        ("id", "string"),
        ("n", "bigint"),
        ("gone", "string"),
        ("extra", "boolean"),
    ]
    assert sorted(duck.query('SELECT id, n, gone, extra FROM "zuora"."thing"')) == [
        ("a", 1, "x", None),
        ("b", 2**40, None, True),
    ]
    conflict = pa.schema([pa.field("id", pa.string()), pa.field("n", pa.string())])
    with pytest.raises(SchemaConflict, match=r"zuora\.thing: column 'n' is bigint in the catalog but string"):
        duck.sync_table("thing", conflict, f"{FOLDER}/thing")
    assert duck.table_columns("thing")[1] == ("n", "bigint")


def test_a_foreign_duckdb_object_of_the_same_name_is_never_touched(duck):
    duck.query('CREATE SCHEMA "zuora"')
    duck.query('CREATE TABLE "zuora"."account" (x INTEGER)')
    duck.query('INSERT INTO "zuora"."account" VALUES (42)')
    duck.query('CREATE VIEW "zuora"."order" AS SELECT 1 AS y')

    with pytest.raises(ForeignTable, match=r"DuckDB table or view zuora\.account exists but is not managed"):
        duck.sync_table("account", SCHEMAS["account"], f"{FOLDER}/account")
    with pytest.raises(ForeignTable, match=r"zuora\.order "):
        duck.sync_table("order", SCHEMAS["order"], f"{FOLDER}/order")

    assert duck.query('SELECT * FROM "zuora"."account"') == [(42,)]
    assert duck.query('SELECT * FROM "zuora"."order"') == [(1,)]


def test_a_view_needs_its_table(duck):
    with pytest.raises(CatalogError, match=r"zuora\.order does not exist; sync the table before its view"):
        duck.sync_current_view("order", SCHEMAS["order"], **VIEW)


def test_athena_sql_can_be_queried_through_translation(duck, lake):
    write_history(lake, "order", make_history(transfers=2))
    duck.sync_table("order", SCHEMAS["order"], f"{FOLDER}/order")
    rows = duck.query(
        'SELECT approx_distinct("id") > 0, date_format(min("updated_date"), \'%Y\') FROM "zuora"."order"',
        dialect="athena",
    )
    assert rows == [(True, "2024")]


def test_a_catalog_file_locked_by_another_process_is_waited_for(tmp_path, lake):
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({str(path)!r}); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        waits = []

        def release_on_first_wait(seconds: float) -> None:
            waits.append(seconds)
            if holder.poll() is None:
                holder.stdin.close()
                holder.wait(timeout=30)

        catalog = DuckDBCatalog(path, lake, sleep=release_on_first_wait)
        assert catalog.sync_table("order", SCHEMAS["order"], f"{FOLDER}/order").action == "created"
        assert len(waits) >= 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_glue_and_duckdb_implement_the_catalog_protocol_with_the_same_signatures():
    import inspect

    from zuora_assets.athena.catalog import Catalog

    methods = [name for name in vars(Catalog) if not name.startswith("_")]
    assert set(methods) >= {"describe", "ensure_database", "sync_table", "sync_current_view", "table_columns"}
    for name in methods:
        wanted = inspect.signature(getattr(Catalog, name))
        for implementation in (GlueCatalog, DuckDBCatalog):
            got = inspect.signature(getattr(implementation, name))
            assert list(got.parameters) == list(wanted.parameters), (implementation.__name__, name)
            assert [p.kind for p in got.parameters.values()] == [p.kind for p in wanted.parameters.values()]
            assert [p.default for p in got.parameters.values()] == [p.default for p in wanted.parameters.values()]
