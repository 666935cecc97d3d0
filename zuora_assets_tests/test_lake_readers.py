"""Reading the lake back: our readers, independent readers (pyarrow hive dataset, DuckDB), the Parquet format."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.readers import files_in_partition, model_files, partition_dataset, scan
from zuora_assets.lake.storage import Storage
from zuora_assets_tests.lake_support import (  # noqa: F401 (storage_fixture is the `storage` fixture)
    FOLDER,
    MODEL,
    SCHEMA,
    batches,
    days,
    fixed_clock,
    rows,
    storage_fixture,
    window_of,
    write_records,
)

DTS = days("2026-11-01", 3)


def write(storage: Storage, records: list[dict], schema: pa.Schema = SCHEMA, dts: list[str] = DTS) -> None:
    write_records(storage, records, dts, schema=schema)


def expected_table(records: list[dict]) -> pa.Table:
    """What a reader must return: the rows as given, plus `dt` (the UTC date of updated_date), sorted by id."""
    table = pa.Table.from_pylist(records, schema=SCHEMA)
    dts = pa.array([r["updated_date"].date().isoformat() for r in records], pa.string())
    return table.append_column("dt", dts).sort_by("id")


def test_independent_readers_return_exactly_the_rows_written(storage: Storage) -> None:
    records = rows(DTS, 40)
    write(storage, records)
    expected = expected_table(records)
    columns = expected.column_names

    filesystem, base = storage.arrow_filesystem()
    independent = ds.dataset(
        f"{base}/{FOLDER}/{MODEL}", filesystem=filesystem, format="parquet", partitioning="hive"
    )
    from_pyarrow = independent.to_table().select(columns).cast(expected.schema).sort_by("id")
    assert from_pyarrow.equals(expected)

    connection = duckdb.connect()
    connection.register("lake", independent)
    from_duckdb = connection.sql(f"select {', '.join(columns)} from lake").arrow()
    assert pa.Table.from_batches(from_duckdb).cast(expected.schema).sort_by("id").equals(expected)

    ours = partition_dataset(storage, FOLDER, MODEL).to_table().select(columns).sort_by("id")
    assert ours.equals(expected)


def test_duckdb_reads_local_files_directly(tmp_path) -> None:
    lake = LocalStorage(tmp_path)
    records = rows(DTS, 10)
    write(lake, records)
    expected = expected_table(records)
    glob = f"{tmp_path}/{FOLDER}/{MODEL}/*/*.parquet"
    table = duckdb.sql(
        f"select {', '.join(expected.column_names)} from read_parquet('{glob}', hive_partitioning=true, "
        "hive_types={'dt': 'VARCHAR'})"
    ).arrow()
    assert pa.Table.from_batches(table).cast(expected.schema).sort_by("id").equals(expected)


def test_parquet_format_int64_millis_zstd_statistics_no_dt(storage: Storage) -> None:
    write(storage, rows(DTS, 10))
    filesystem, base = storage.arrow_filesystem()
    for info in model_files(storage, FOLDER, MODEL):
        with filesystem.open_input_file(f"{base}/{info.key}") as f:
            parquet = pq.ParquetFile(f)
            schema, metadata = parquet.schema, parquet.metadata
            assert "dt" not in schema.names
            for name in ("created_date", "updated_date", "_transferred_at"):
                column = schema.column(schema.names.index(name))
                assert column.physical_type == "INT64"
                logical = json.loads(column.logical_type.to_json())
                assert (logical["Type"], logical["timeUnit"], logical["isAdjustedToUTC"]) == (
                    "Timestamp",
                    "milliseconds",
                    False,
                )
            for group in range(metadata.num_row_groups):
                for i in range(metadata.num_columns):
                    chunk = metadata.row_group(group).column(i)
                    assert chunk.compression == "ZSTD"
                    assert chunk.statistics is not None and chunk.statistics.has_min_max


def test_unified_schema_across_files_with_different_columns(storage: Storage) -> None:
    write(storage, rows(DTS[:1], 5), dts=DTS[:1])
    wider = SCHEMA.append(pa.field("region__c", pa.string()))
    later = [{**r, "region__c": "EU"} for r in rows(DTS[1:2], 5)]
    write(storage, later, schema=wider, dts=DTS[1:2])

    dataset = partition_dataset(storage, FOLDER, MODEL)
    assert dataset.schema.names == [*SCHEMA.names, "_transferred_at", "region__c", "dt"]
    table = dataset.to_table().sort_by("id")
    assert table.column("region__c").to_pylist() == [None] * 5 + ["EU"] * 5

    frame = scan(storage, FOLDER, MODEL).filter(pl.col("dt") == DTS[1]).select("id", "region__c").collect()
    assert frame.height == 5 and set(frame["region__c"]) == {"EU"}


def test_partition_filters_and_file_listing(storage: Storage) -> None:
    write(storage, rows(DTS, 4))
    storage.put_bytes(f"{FOLDER}/{MODEL}_other/dt={DTS[0]}/0_20260101000000.parquet", b"not ours")

    assert partition_dataset(storage, FOLDER, MODEL, dts=DTS[1:]).count_rows() == 8
    assert scan(storage, FOLDER, MODEL, dts=[DTS[0]]).select(pl.len()).collect().item() == 4
    assert [o.key.split("/")[-2] for o in files_in_partition(storage, FOLDER, MODEL, DTS[2])] == [
        f"dt={DTS[2]}"
    ]
    assert all(f"/{MODEL}/" in o.key for o in model_files(storage, FOLDER, MODEL))


def test_model_without_files_is_an_empty_dataset(storage: Storage) -> None:
    empty = partition_dataset(storage, FOLDER, MODEL, schema=SCHEMA)
    assert empty.count_rows() == 0 and empty.schema.names == [*SCHEMA.names, "dt"]
    assert scan(storage, FOLDER, MODEL).collect().height == 0


def test_many_partitions_are_read_from_one_listing(storage: Storage) -> None:
    twenty = days("2026-11-01", 20)
    write(storage, rows(twenty, 1), dts=twenty)
    wanted = twenty[1:19]
    table = partition_dataset(storage, FOLDER, MODEL, dts=wanted).to_table()
    assert sorted(set(table.column("dt").to_pylist())) == wanted and table.num_rows == 18
