"""The SQL of a `<table>_current` view: the latest version of each key, without tombstones."""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot

from zuora_assets.athena.errors import CatalogError
from zuora_assets.athena.names import qualified, quote
from zuora_assets.common.contract import PARTITION_COLUMN

CURRENT_SUFFIX = "_current"
_ROW_NUMBER = "__version_rank"


def current_view_name(table: str) -> str:
    """`account` -> `account_current`."""
    return table + CURRENT_SUFFIX


def view_columns(columns: Sequence[str], *, deleted: str) -> list[str]:
    """The columns a current view shows: the table's data columns without the tombstone flag."""
    return [c for c in columns if c != deleted]


def current_view_columns(
    table: str,
    schema_columns: Sequence[str],
    table_columns: Sequence[str],
    *,
    key: str,
    order_by: Sequence[str],
    deleted: str,
) -> list[str]:
    """The columns the current view of `table` shows; raises if a column it needs is not in the table."""
    columns = view_columns([c for c in schema_columns if c != PARTITION_COLUMN], deleted=deleted)
    present = set(table_columns)
    missing = [c for c in dict.fromkeys([*columns, key, *order_by, deleted]) if c not in present]
    if missing:
        raise CatalogError(
            f"view {current_view_name(table)}: columns {missing} are not in table {table}; "
            f"sync the table with this schema before its view."
        )
    return columns


def current_view_sql(
    table: str,
    columns: Sequence[str],
    *,
    key: str,
    order_by: Sequence[str],
    deleted: str,
    database: str | None = None,
    dialect: str = "athena",
) -> str:
    """A SELECT over `table` returning `columns` of the latest version of each `key`.

    Versions are ranked by `order_by` descending (nulls last); on a full tie a tombstone wins. The winning
    version is dropped when it is a tombstone (`deleted` is true). The SQL is Athena (Trino) SQL with every
    identifier double-quoted; any other `dialect` is a sqlglot translation of it (e.g. "duckdb").
    """
    if not columns:
        raise CatalogError(f"view over {table}: no columns to show; sync the table with a non-empty schema.")
    ranking = [*order_by, deleted]
    needed = list(dict.fromkeys([*columns, key, *ranking]))
    order = ", ".join(f"{quote(c)} DESC NULLS LAST" for c in ranking)
    sql = (
        f"SELECT {', '.join(quote(c) for c in columns)} FROM ("
        f"SELECT {', '.join(quote(c) for c in needed)}, "
        f"row_number() OVER (PARTITION BY {quote(key)} ORDER BY {order}) AS {quote(_ROW_NUMBER)} "
        f"FROM {qualified(table, database)}"
        f") AS {quote('versions')} "
        f"WHERE {quote(_ROW_NUMBER)} = 1 AND NOT coalesce({quote(deleted)}, false)"
    )
    if dialect == "athena":
        return sql
    return sqlglot.transpile(sql, read="athena", write=dialect)[0]
