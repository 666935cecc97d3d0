"""Glue `TableInput` of a partitioned Parquet table: projection parameters, storage descriptor, writable fields."""

from __future__ import annotations

import copy
from datetime import date

from zuora_assets.athena.errors import CatalogError
from zuora_assets.common.contract import PARTITION_COLUMN, partition_folder

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARTITION_KEYS = [{"Name": PARTITION_COLUMN, "Type": "string"}]
RANGE_PARAMETER = "projection.dt.range"
PROJECTION_PARAMETER = "projection.enabled"

# The fields UpdateTable accepts back from GetTable (GetTable also returns read-only ones: CreateTime,
# DatabaseName, CatalogId, VersionId, ...). Same list as aws-sdk-pandas catalog/_get.py.
WRITABLE_FIELDS = (
    "Name",
    "Description",
    "Owner",
    "LastAccessTime",
    "LastAnalyzedTime",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "Parameters",
    "TargetTable",
)


def check_location(location: str, table: str) -> str:
    """Return `location` if it is an `s3://bucket/prefix/` folder, else raise."""
    if not location.startswith("s3://") or not location.endswith("/") or len(location) <= len("s3://") + 1:
        raise CatalogError(
            f"table {table}: location {location!r} is not an S3 folder; give 's3://<bucket>/<folder>/{table}/' "
            f"(scheme s3://, trailing '/')."
        )
    return location


def projection_range(first_day: date) -> str:
    """`projection.dt.range` from the first day with data to the current UTC day."""
    return f"{first_day.isoformat()},NOW"


def table_parameters(location: str, first_day_range: str, marker: str, *, projection: bool) -> dict[str, str]:
    """Table parameters: Hive/Glue conventions, Athena partition projection of `dt`, and our marker.

    With `projection=False` the projection keys stay but are switched off, so partitions registered in
    Glue are used instead (for engines that cannot project).
    """
    return {
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        PROJECTION_PARAMETER: "true" if projection else "false",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        RANGE_PARAMETER: first_day_range,
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": location + partition_folder("${" + PARTITION_COLUMN + "}") + "/",
        marker: "true",
    }


def storage_descriptor(location: str, columns: list[dict]) -> dict:
    """Storage descriptor of a Parquet table at `location` with these Glue columns."""
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    }


def writable_input(table: dict | None) -> dict:
    """The part of a GetTable answer that UpdateTable accepts (UpdateTable replaces the whole table)."""
    return {k: copy.deepcopy(v) for k, v in (table or {}).items() if k in WRITABLE_FIELDS}


def overlay(base: dict, wanted: dict) -> dict:
    """`base` with `wanted` laid over it: nested dicts merge, any other value of `wanted` replaces.

    Keeping what Glue or a user added (extra parameters, storage-descriptor defaults) makes a second
    sync of an unchanged table compare equal, so it writes nothing.
    """
    merged = copy.deepcopy(base)
    for key, value in wanted.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = overlay(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def same_input(a: dict, b: dict) -> bool:
    """True when two table inputs are equal, taking an absent field as equal to an empty one
    (Glue may leave out an empty `PartitionKeys` or `SerdeInfo` that was sent)."""
    return _without_empty(a) == _without_empty(b)


def _without_empty(value):
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [], "", None)}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def external_table_input(name: str, location: str, columns: list[dict], parameters: dict[str, str]) -> dict:
    """The `TableInput` of our external Parquet table, partitioned by `dt string`."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": copy.deepcopy(PARTITION_KEYS),
        "StorageDescriptor": storage_descriptor(location, columns),
        "Parameters": parameters,
    }
