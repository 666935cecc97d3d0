"""The schema check: does the lake's Parquet schema equal a table's columns? Differences in plain words."""

from __future__ import annotations

import pyarrow as pa

from zuora_assets.athena.errors import UnsupportedType
from zuora_assets.athena.evolution import data_schema
from zuora_assets.athena.types import glue_type, normalize_glue_type


def compare_schema(table_columns: list[tuple[str, str]], arrow_schema: pa.Schema) -> list[str]:
    """Human-readable differences between a table's (column, Glue type) list and a Parquet schema
    (its `dt` partition column ignored, column order ignored); [] when they are equal."""
    table = {name: normalize_glue_type(t) for name, t in table_columns}
    files = {f.name: _file_type(f) for f in data_schema(arrow_schema)}
    differences = []
    for name, file_type in files.items():
        if name not in table:
            differences.append(f"column {name!r} ({file_type}) is in the Parquet files but not in the table")
        elif file_type != table[name]:
            differences.append(
                f"column {name!r} is {file_type} in the Parquet files but {table[name]} in the table"
            )
    differences += [
        f"column {name!r} ({t}) is in the table but in none of the Parquet files"
        for name, t in table.items()
        if name not in files
    ]
    return differences


def _file_type(f: pa.Field) -> str:
    try:
        return glue_type(f.type)
    except UnsupportedType:
        return f"unsupported Arrow type {f.type}"
