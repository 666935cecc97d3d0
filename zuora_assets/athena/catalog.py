"""The `Catalog` protocol: what keeps a model's table and `<model>_current` view in step with its files.

Two implementations share it, chosen once by the destination: `GlueCatalog` (AWS: Glue Data Catalog, queried
with Athena) and `DuckDBCatalog` (the embedded default: a DuckDB file beside the local lake).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

import pyarrow as pa

from zuora_assets.athena.sync import TableSync


class Catalog(Protocol):
    """Tables and `_current` views of one schema (a Glue database, or a DuckDB schema), touching only its own."""

    def describe(self) -> str:
        """Where the tables live, for logs: "Glue database <name>" or "DuckDB catalog <file>"."""
        ...

    def ensure_database(self) -> bool:
        """Create the schema if it is missing; True when this call created it."""
        ...

    def sync_table(
        self,
        name: str,
        schema: pa.Schema,
        location: str,
        first_day: date | None = None,
        register_partitions: list[str] | None = None,
    ) -> TableSync:
        """Create or update table `name` over the files at `location` so its columns cover `schema`.

        `location` is the model's folder in the lake (`s3://bucket/folder/model/` for Glue, `folder/model`
        under the lake root for DuckDB). `first_day` and `register_partitions` shape Athena's partitions;
        DuckDB reads every `dt=` folder by itself and ignores them.
        """
        ...

    def sync_current_view(
        self,
        name: str,
        schema: pa.Schema,
        *,
        key: str = "id",
        order_by: Sequence[str] = ("updated_date", "_transferred_at"),
        deleted: str = "_deleted",
    ) -> str:
        """Create or update the view `<name>_current` (latest version per `key`, deletes removed)."""
        ...

    def table_columns(self, name: str) -> list[tuple[str, str]]:
        """(column, Glue type) of table `name`'s data columns (not the `dt` partition key)."""
        ...
