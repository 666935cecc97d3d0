"""Schema evolution: merge a table's catalog columns with a new Arrow schema (add, widen, or refuse)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from zuora_assets.athena.errors import SchemaConflict, UnsupportedType
from zuora_assets.athena.names import check_name
from zuora_assets.athena.types import glue_columns, normalize_glue_type, widening_allowed
from zuora_assets.common.contract import PARTITION_COLUMN


@dataclass(frozen=True)
class ColumnMerge:
    """The columns a table should have after a sync, and what changed."""

    columns: list[dict]
    added: tuple[str, ...] = ()
    widened: tuple[str, ...] = ()


def data_schema(schema: pa.Schema) -> pa.Schema:
    """The schema without the `dt` partition column (it lives in the path, never in a file)."""
    return pa.schema([f for f in schema if f.name != PARTITION_COLUMN])


def merge_columns(table: str, catalog: list[dict], schema: pa.Schema) -> ColumnMerge:
    """Columns for `table`: the catalog's columns in their order (none is ever dropped), widened where
    the new type is a lossless widening, then the schema's new columns in schema order.

    An all-null (Arrow `null`) field carries no type: it keeps the catalog type, or becomes `string`.
    Raises SchemaConflict on any other type change.
    """
    schema = data_schema(schema)
    for f in schema:
        check_name(f.name, f"table {table}: column")
    columns = [dict(c) for c in catalog]
    index = {c["Name"]: i for i, c in enumerate(columns)}
    untyped = {f.name for f in schema if pa.types.is_null(f.type)}
    added, widened = [], []
    try:
        incoming = glue_columns(schema)
    except UnsupportedType as e:
        raise UnsupportedType(f"table {table}: {e}") from None
    for new in incoming:
        name = new["Name"]
        if name not in index:
            columns.append(new)
            added.append(name)
            continue
        old_type = columns[index[name]]["Type"]
        if name in untyped or widening_allowed(new["Type"], old_type):
            continue  # same type, or the catalog type is already the wider one
        if not widening_allowed(old_type, new["Type"]):
            raise SchemaConflict(table, name, old_type, new["Type"])
        columns[index[name]] = {**columns[index[name]], "Type": normalize_glue_type(new["Type"])}
        widened.append(name)
    return ColumnMerge(columns, tuple(added), tuple(widened))
