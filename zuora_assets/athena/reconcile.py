"""Keys a table still holds live but a full list of the source's keys no longer has: a DuckDB anti-join of the
`<table>_current` view's SQL (run over the lake's files) with that list, spilling to disk beyond its memory limit.

Nothing here holds all keys in Python: DuckDB reads the versions (only the key and ranking columns) from an
Arrow dataset and the present keys from Parquet files, sorts and joins out of core under `memory_limit`, and the
result streams back in batches.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from zuora_assets.athena.names import quote
from zuora_assets.athena.views import current_view_sql
from zuora_assets.common.contract import DELETED_COLUMN, ID_COLUMN, VERSION_ORDER

DEFAULT_MEMORY_LIMIT = "1GB"
BATCH_ROWS = 100_000


def gone_keys(
    versions: ds.Dataset,
    present_files: Sequence[str | Path],
    *,
    snapshot: datetime,
    key: str = ID_COLUMN,
    order_by: Sequence[str] = VERSION_ORDER,
    deleted: str = DELETED_COLUMN,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    temp_dir: str | Path | None = None,
) -> Iterator[pa.RecordBatch]:
    """Batches of the one column `key`: keys whose latest version in `versions` is live and older than `snapshot`
    (by `order_by[0]`) but absent from the Parquet `present_files` (each with a column `key`).

    `snapshot` (aware) is when the present keys were listed: a key whose latest version is at or after it may
    have been created or restored since, so it is never reported. With no present files, every live key older
    than the snapshot is reported.
    """
    if snapshot.tzinfo is None:
        raise ValueError(f"snapshot {snapshot.isoformat()} has no time zone: pass an aware UTC datetime")
    with tempfile.TemporaryDirectory(prefix="zuora-reconcile-", dir=temp_dir) as spill:
        con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": spill,
                                     "preserve_insertion_order": False})
        try:
            con.register("versions", versions)
            latest = current_view_sql(
                "versions", [key, order_by[0]], key=key, order_by=order_by, deleted=deleted, dialect="duckdb"
            )
            present = _present(con, present_files, key)
            sql = (
                f"SELECT latest.{quote(key)} FROM ({latest}) AS latest "
                f"WHERE latest.{quote(order_by[0])} < $snapshot "
                f"AND NOT EXISTS (SELECT 1 FROM {present} AS present WHERE present.{quote(key)} = latest.{quote(key)})"
            )
            moment = snapshot.astimezone(UTC).replace(tzinfo=None)
            reader = con.sql(sql, params={"snapshot": moment}).to_arrow_reader(BATCH_ROWS)
            yield from reader
        finally:
            con.close()


def _present(con: duckdb.DuckDBPyConnection, files: Sequence[str | Path], key: str) -> str:
    """The relation of present keys: the Parquet files, or an empty table when there are none."""
    if not files:
        con.execute(f"CREATE TEMP TABLE present_keys ({quote(key)} VARCHAR)")
        return "present_keys"
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{paths}])"
