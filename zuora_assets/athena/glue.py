"""The Glue Data Catalog side: one database, one projected Parquet table and one `_current` view per name."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError

from zuora_assets.athena.errors import (
    CatalogError,
    CatalogPermissionDenied,
    ForeignTable,
    SchemaConflict,
    aws_error_message,
    error_code,
    is_access_denied,
)
from zuora_assets.athena.evolution import merge_columns
from zuora_assets.athena.names import check_name
from zuora_assets.athena.presto_view import view_table_input
from zuora_assets.athena.sync import DEFAULT_MARKER, TableSync
from zuora_assets.athena.table_input import (
    PROJECTION_PARAMETER,
    RANGE_PARAMETER,
    check_location,
    external_table_input,
    overlay,
    projection_range,
    same_input,
    table_parameters,
    writable_input,
)
from zuora_assets.athena.views import current_view_columns, current_view_name, current_view_sql

__all__ = ["CatalogError", "ForeignTable", "GlueCatalog", "SchemaConflict", "TableSync"]

PARTITION_BATCH = 100  # BatchCreatePartition takes at most 100 partitions per call
ATTEMPTS = 5

Plan = Callable[[dict | None], tuple[dict, Any]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _method(operation: str) -> str:
    """`UpdateTable` -> `update_table`."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()


def _range_start(projection: str | None) -> date | None:
    """The first day of a `projection.dt.range` value like `2024-01-01,NOW` (None if it has no such day)."""
    try:
        return date.fromisoformat((projection or "").split(",", 1)[0].strip())
    except ValueError:
        return None


def check_dt(value: str, table: str) -> str:
    """Return a `dt` partition value if it is a `YYYY-MM-DD` day, else raise."""
    try:
        if date.fromisoformat(value).isoformat() == value:
            return value
    except (TypeError, ValueError):
        pass
    raise CatalogError(f"table {table}: partition value {value!r} is not a day in the form YYYY-MM-DD.")


class GlueCatalog:
    """Keeps tables and views of one Glue database in the wanted state, touching only what it created."""

    def __init__(
        self,
        glue_client,
        database: str,
        *,
        marker: str = DEFAULT_MARKER,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = ATTEMPTS,
    ):
        self._glue = glue_client
        self.database = check_name(database, "Glue database")
        self.marker = marker
        self._clock = clock
        self._sleep = sleep
        self._attempts = attempts

    # --- public API -------------------------------------------------------------------------------

    def describe(self) -> str:
        return f"Glue database {self.database}"

    def ensure_database(self) -> bool:
        """Create the database if it is missing; True when this call created it."""
        where = f"Glue database {self.database}"
        try:
            self._call("GetDatabase", where, expect=("EntityNotFoundException",), Name=self.database)
            return False
        except ClientError:
            pass
        try:
            self._call(
                "CreateDatabase",
                where,
                expect=("AlreadyExistsException",),
                DatabaseInput={"Name": self.database, "Description": "Zuora data exported by zuora-athena."},
            )
            return True
        except ClientError:
            return False  # created meanwhile by another run

    def sync_table(
        self,
        name: str,
        schema: pa.Schema,
        location: str,
        first_day: date | None = None,
        register_partitions: list[str] | None = None,
    ) -> TableSync:
        """Create or update table `name` over `location` so its columns cover `schema` (DESIGN.md 2.3).

        Partitions are projected from `first_day`, or from the table's current range start when that is
        earlier (kept from the table, or today, when None). With
        `register_partitions` (a list, maybe empty) projection is switched off and those `dt` partitions
        are registered in Glue instead. Raises SchemaConflict, ForeignTable or CatalogError.
        """
        check_name(name, "table")
        check_location(location, name)
        if register_partitions is None:
            action, merge = self._reconcile(name, self._table_plan(name, schema, location, first_day, True))
            return TableSync(name, action, merge.added, merge.widened)
        # Projection goes off only once the partitions are in Glue: a failed registration leaves a
        # table that Athena can still query.
        action, merge = self._reconcile(name, self._table_plan(name, schema, location, first_day, None))
        registered = self._register_partitions(name, location, register_partitions)
        switched, _ = self._reconcile(name, self._table_plan(name, schema, location, first_day, False))
        if action == "unchanged":
            action = switched
        return TableSync(name, action, merge.added, merge.widened, registered)

    def sync_current_view(
        self,
        name: str,
        schema: pa.Schema,
        *,
        key: str = "id",
        order_by: Sequence[str] = ("updated_date", "_transferred_at"),
        deleted: str = "_deleted",
    ) -> str:
        """Create or update the Athena view `<name>_current` over table `name`; returns the action.

        The view shows the schema's columns (without `deleted`), typed as in the table. An unchanged
        view makes no write call.
        """
        view = check_name(current_view_name(name), "view")
        types = dict(self.table_columns(name))
        columns = current_view_columns(
            self._where(name), schema.names, list(types), key=key, order_by=order_by, deleted=deleted
        )
        sql = current_view_sql(
            name, columns, key=key, order_by=order_by, deleted=deleted, database=self.database
        )
        wanted = view_table_input(
            view,
            sql,
            self.database,
            [(c, types[c]) for c in columns],
            {self.marker: "true"},
            f"Latest version of each {key} in {name}, without deleted records (managed by zuora-athena).",
        )

        def plan(existing: dict | None) -> tuple[dict, Any]:
            return overlay(self._owned_input(existing, view, "VIRTUAL_VIEW"), wanted), None

        action, _ = self._reconcile(view, plan)
        return action

    def table_columns(self, name: str) -> list[tuple[str, str]]:
        """(column, Glue type) of table `name`'s data columns (not the `dt` partition key)."""
        table = self._get_table(check_name(name, "table"))
        if table is None:
            raise CatalogError(f"table {self._where(name)} does not exist; sync the table first.")
        return [(c["Name"], c["Type"]) for c in (table.get("StorageDescriptor") or {}).get("Columns") or []]

    # --- reconciliation ---------------------------------------------------------------------------

    def _table_plan(
        self, name: str, schema: pa.Schema, location: str, first_day: date | None, projection: bool | None
    ) -> Plan:
        """The plan of our external table; `projection=None` keeps the table's setting (on when new)."""

        def plan(existing: dict | None) -> tuple[dict, Any]:
            base = self._owned_input(existing, name, "EXTERNAL_TABLE")
            self._check_same_location(base, name, location)
            sd_columns = (base.get("StorageDescriptor") or {}).get("Columns") or []
            merge = merge_columns(self._where(name), sd_columns, schema)
            current = (base.get("Parameters") or {}).get(PROJECTION_PARAMETER, "true") == "true"
            on = current if projection is None else projection
            parameters = table_parameters(location, self._range(base, first_day), self.marker, projection=on)
            return overlay(base, external_table_input(name, location, merge.columns, parameters)), merge

        return plan

    def _reconcile(self, name: str, plan: Plan) -> tuple[str, Any]:
        """Bring Glue object `name` to `plan(current object)`: create, update (read-modify-write of the
        full input, SkipArchive, VersionId) or leave it. Races (AlreadyExists, ConcurrentModification)
        are retried from a fresh read."""
        where = self._where(name)
        for attempt in range(self._attempts):
            existing = self._get_table(name)
            wanted, info = plan(existing)
            if existing is None:
                try:
                    self._call(
                        "CreateTable",
                        where,
                        expect=("AlreadyExistsException",),
                        DatabaseName=self.database,
                        TableInput=wanted,
                    )
                    return "created", info
                except ClientError:
                    self._backoff(attempt)
                    continue
            if same_input(wanted, writable_input(existing)):
                return "unchanged", info
            version = {"VersionId": existing["VersionId"]} if existing.get("VersionId") else {}
            try:
                self._call(
                    "UpdateTable",
                    where,
                    expect=("ConcurrentModificationException",),
                    DatabaseName=self.database,
                    TableInput=wanted,
                    SkipArchive=True,
                    **version,
                )
                return "updated", info
            except ClientError:
                self._backoff(attempt)
        raise CatalogError(
            f"Glue object {where} kept changing under this sync ({self._attempts} attempts ended in "
            f"AlreadyExists/ConcurrentModification); make sure one sync per table runs at a time, then run again."
        )

    def _owned_input(self, existing: dict | None, name: str, table_type: str) -> dict:
        """The writable part of `existing` if this project manages it ({} when absent); raises otherwise."""
        if existing is None:
            return {}
        if (existing.get("Parameters") or {}).get(self.marker) != "true":
            raise ForeignTable(self._where(name), self.marker)
        if existing.get("TableType") != table_type:
            raise CatalogError(
                f"Glue object {self._where(name)} is a {existing.get('TableType')}, but zuora-athena wants a "
                f"{table_type} of that name; drop the object so the next sync recreates it."
            )
        return writable_input(existing)

    def _check_same_location(self, base: dict, name: str, location: str) -> None:
        current = (base.get("StorageDescriptor") or {}).get("Location")
        if current and current != location:
            raise CatalogError(
                f"table {self._where(name)} points at {current}, but this sync writes to {location}. "
                f"Configure another schema (database) for the new location, or drop the table to move it."
            )

    def _range(self, base: dict, first_day: date | None) -> str:
        """The projection range: from `first_day`, unless the table's range starts earlier (a start only moves
        earlier, so a partition once visible in Athena stays visible)."""
        kept = (base.get("Parameters") or {}).get(RANGE_PARAMETER)
        kept_first = _range_start(kept)
        if first_day is None:
            return kept or projection_range(self._clock().date())
        if kept_first is not None and kept_first < first_day:
            return projection_range(kept_first)
        return projection_range(first_day)

    # --- partition registration -------------------------------------------------------------------

    def _register_partitions(self, name: str, location: str, values: list[str]) -> tuple[str, ...]:
        """Register the `dt` partitions Glue does not have yet, in batches of at most 100."""
        wanted = sorted({check_dt(v, self._where(name)) for v in values})
        existing = self._partition_values(name) if wanted else set()
        new = [v for v in wanted if v not in existing]
        if not new:
            return ()
        sd = self._get_table(name)["StorageDescriptor"]
        registered: list[str] = []
        for start in range(0, len(new), PARTITION_BATCH):
            batch = new[start : start + PARTITION_BATCH]
            response = self._call(
                "BatchCreatePartition",
                self._where(name),
                hint=" Partition registration is opt-in: turn it off to rely on partition projection.",
                DatabaseName=self.database,
                TableName=name,
                PartitionInputList=[
                    {"Values": [v], "StorageDescriptor": {**sd, "Location": f"{location}dt={v}/"}}
                    for v in batch
                ],
            )
            raced = self._check_partition_errors(name, response.get("Errors") or [])
            registered += [v for v in batch if v not in raced]
        return tuple(registered)

    def _check_partition_errors(self, name: str, errors: list[dict]) -> set[str]:
        """The values that already existed; raises on any other per-partition error."""
        raced, failed = set(), []
        for e in errors:
            code = (e.get("ErrorDetail") or {}).get("ErrorCode")
            value = (e.get("PartitionValues") or ["?"])[0]
            if code == "AlreadyExistsException":
                raced.add(value)
            else:
                failed.append(f"dt={value}: {code}: {(e.get('ErrorDetail') or {}).get('ErrorMessage', '')}")
        if failed:
            raise CatalogError(
                f"Glue BatchCreatePartition on table {self._where(name)} failed for {len(failed)} partitions "
                f"({'; '.join(failed[:5])}); fix the cause, then run again (registered partitions are skipped)."
            )
        return raced

    def _partition_values(self, name: str) -> set[str]:
        values: set[str] = set()
        params = {"DatabaseName": self.database, "TableName": name, "ExcludeColumnSchema": True}
        while True:
            page = self._call("GetPartitions", self._where(name), **params)
            values.update(p["Values"][0] for p in page.get("Partitions") or [] if p.get("Values"))
            if not page.get("NextToken"):
                return values
            params["NextToken"] = page["NextToken"]

    # --- Glue calls -------------------------------------------------------------------------------

    def _get_table(self, name: str) -> dict | None:
        try:
            response = self._call(
                "GetTable",
                self._where(name),
                expect=("EntityNotFoundException",),
                DatabaseName=self.database,
                Name=name,
            )
        except ClientError:
            return None
        return response["Table"]

    def _call(self, operation: str, where: str, *, expect: tuple[str, ...] = (), hint: str = "", **params):
        """Call Glue `operation`; errors with a code in `expect` propagate as ClientError for the caller,
        any other becomes a CatalogError naming the operation and the object."""
        try:
            return getattr(self._glue, _method(operation))(**params)
        except ClientError as e:
            if error_code(e) in expect:
                raise
            message = aws_error_message("Glue", operation, where, e) + hint
            if is_access_denied(e):
                raise CatalogPermissionDenied(message, f"glue:{operation}") from e
            raise CatalogError(message) from e

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(0.2 * 2**attempt, 5.0) * (0.5 + random.random()))

    def _where(self, name: str) -> str:
        return f"{self.database}.{name}"
