"""The embedded catalog: the same tables and `_current` views as Glue, as DuckDB views over the local lake.

A table is a view over `read_parquet(<lake_root>/<location>/*/*.parquet)` with every column cast to the
table's type; the Glue-style column list and the managed-by marker live in the view's comment, so schema
evolution follows exactly the Glue rules (append, widen, refuse) and foreign objects are never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from zuora_assets.athena.errors import CatalogError, ForeignTable
from zuora_assets.athena.evolution import merge_columns
from zuora_assets.athena.names import check_name, qualified, quote
from zuora_assets.athena.sync import DEFAULT_MARKER, TableSync
from zuora_assets.athena.views import current_view_columns, current_view_name, current_view_sql

LOCK_ATTEMPTS = 20
_KIND = "DuckDB table or view"


def duckdb_type(glue: str) -> str:
    """The DuckDB type of a Glue type: `string` -> `TEXT`, `array<int>` -> `INT[]`."""
    return exp.DataType.build(glue, dialect="hive").sql("duckdb")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBCatalog:
    """Tables and `_current` views of one DuckDB schema over a local lake folder.

    Each operation opens the database file briefly (and waits while another process holds its lock),
    so several run processes can share one catalog file.
    """

    def __init__(
        self,
        db_path: Path,
        lake_root: Path,
        schema: str = "zuora",
        *,
        marker: str = DEFAULT_MARKER,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.db_path = Path(db_path)
        self.lake_root = Path(lake_root).absolute()
        self.schema = check_name(schema, "DuckDB schema")
        self.marker = marker
        self._sleep = sleep

    def describe(self) -> str:
        return f"DuckDB catalog {self.db_path}"

    def ensure_database(self) -> bool:
        """Create the schema if it is missing (the default schema `main` always exists)."""
        with self._connection() as con:
            found = con.execute(
                "select count(*) from information_schema.schemata where schema_name = ?", [self.schema]
            ).fetchone()[0]
            if not found:
                con.execute(f"create schema if not exists {quote(self.schema)}")
        return not found

    def sync_table(
        self,
        name: str,
        schema: pa.Schema,
        location: str,
        first_day: date | None = None,
        register_partitions: list[str] | None = None,
    ) -> TableSync:
        """Create or update the table (view) `name` over `<lake_root>/<location>/` to cover `schema`.

        `first_day` and `register_partitions` are Athena's: DuckDB reads every `dt=` folder of the location.
        """
        check_name(name, "table")
        with self._connection() as con:
            existing = self._managed(con, name)
            catalog = [{"Name": n, "Type": t} for n, t in (existing or {}).get("columns", [])]
            merge = merge_columns(self._where(name), catalog, schema)
            select = self._table_select(con, merge.columns, self._files(location))
            meta = {"columns": [[c["Name"], c["Type"]] for c in merge.columns]}
            action = self._replace_view(con, name, select, meta, existing)
        return TableSync(name, action, merge.added, merge.widened)

    def sync_current_view(
        self,
        name: str,
        schema: pa.Schema,
        *,
        key: str = "id",
        order_by: Sequence[str] = ("updated_date", "_transferred_at"),
        deleted: str = "_deleted",
    ) -> str:
        """Create or update the view `<name>_current` (the Athena view's SQL, translated to DuckDB)."""
        view = check_name(current_view_name(name), "view")
        with self._connection() as con:
            table = self._managed(con, name)
            if table is None:
                raise CatalogError(
                    f"table {self._where(name)} does not exist; sync the table before its view."
                )
            table_columns = [n for n, _ in table["columns"]]
            columns = current_view_columns(
                self._where(name), schema.names, table_columns, key=key, order_by=order_by, deleted=deleted
            )
            sql = current_view_sql(
                name,
                columns,
                key=key,
                order_by=order_by,
                deleted=deleted,
                database=self.schema,
                dialect="duckdb",
            )
            return self._replace_view(con, view, sql, {"table": name}, self._managed(con, view))

    def table_columns(self, name: str) -> list[tuple[str, str]]:
        """(column, Glue type) of table `name`, as the Glue catalog would list them."""
        with self._connection() as con:
            table = self._managed(con, check_name(name, "table"))
        if table is None:
            raise CatalogError(f"table {self._where(name)} does not exist; sync the table first.")
        return [(n, t) for n, t in table["columns"]]

    def query(self, sql: str, *, dialect: str = "duckdb") -> list[tuple]:
        """Rows of `sql` (DuckDB SQL, or another sqlglot `dialect` such as "athena", translated first)."""
        if dialect != "duckdb":
            sql = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
        with self._connection() as con:
            return con.execute(sql).fetchall()

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own connection."""

    def __enter__(self) -> DuckDBCatalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------------

    def _files(self, location: str) -> str | None:
        """The glob of the table's Parquet files, or None while it has none."""
        root = self.lake_root / location
        return str(root / "*" / "*.parquet") if any(root.glob("*/*.parquet")) else None

    def _table_select(self, con, columns: list[dict], files: str | None) -> str:
        """SELECT of the table's columns cast to their types; columns no file has yet are typed NULLs."""
        source = (
            f"read_parquet({_literal(files)}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'dt': VARCHAR}})"
            if files
            else None
        )
        present = (
            {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
            if source
            else set()
        )
        items = [
            f"CAST({quote(c['Name']) if c['Name'] in present else 'NULL'} AS {duckdb_type(c['Type'])}) "
            f"AS {quote(c['Name'])}"
            for c in columns
        ]
        items.append(f"CAST({quote('dt') if source else 'NULL'} AS VARCHAR) AS {quote('dt')}")
        return f"SELECT {', '.join(items)} " + (f"FROM {source}" if source else "WHERE false")

    def _replace_view(self, con, name: str, select: str, meta: dict, existing: dict | None) -> str:
        """(Re)create view `name` as `select` unless its stored definition is the same; returns the action."""
        statement = f"CREATE OR REPLACE VIEW {qualified(name, self.schema)} AS {select}"
        wanted = {self.marker: "true", **meta, "definition": hashlib.sha256(statement.encode()).hexdigest()}
        if existing == wanted:
            return "unchanged"
        con.begin()
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
        con.execute(statement)
        con.execute(f"COMMENT ON VIEW {qualified(name, self.schema)} IS {_literal(json.dumps(wanted))}")
        con.commit()
        return "updated" if existing else "created"

    def _managed(self, con, name: str) -> dict | None:
        """Our stored metadata of view `name` (None when absent); raises ForeignTable for anything else."""
        found = con.execute(
            "SELECT comment FROM duckdb_views() WHERE schema_name = ? AND view_name = ? "
            "UNION ALL SELECT '' FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [self.schema, name, self.schema, name],
        ).fetchall()
        if not found:
            return None
        try:
            meta = json.loads(found[0][0] or "")
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or meta.get(self.marker) != "true":
            raise ForeignTable(self._where(name), self.marker, kind=_KIND)
        return meta

    @contextlib.contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the catalog file, closed afterwards."""
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open the catalog file, waiting (with backoff) while another process holds its lock."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            try:
                return duckdb.connect(str(self.db_path))
            except duckdb.IOException as e:
                attempt += 1
                if "lock" not in str(e).lower() or attempt >= LOCK_ATTEMPTS:
                    raise CatalogError(
                        f"DuckDB catalog {self.db_path} cannot be opened ({e}); close other programs using it "
                        f"and run again."
                    ) from e
                self._sleep(min(0.05 * 2**attempt, 2.0))

    def _where(self, name: str) -> str:
        return f"{self.schema}.{name}"
