"""How many re-read rows changed only in given ("silent") columns: the re-read rows against the latest version of
each key the lake held before (the `_current` view's SQL, run in DuckDB over the lake's files), spilling to disk.

The previous versions are copied into DuckDB before the re-read is written (a replace removes the older files
once it commits); the re-read rows are added as they stream past; one join at the end counts them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from zuora_assets.athena.names import quote
from zuora_assets.athena.views import current_view_sql
from zuora_assets.common.contract import (
    DELETED_COLUMN,
    ID_COLUMN,
    PARTITION_COLUMN,
    TRANSFERRED_AT_COLUMN,
    VERSION_ORDER,
)

NOT_COMPARED = (PARTITION_COLUMN, TRANSFERRED_AT_COLUMN)  # set by the lake, not by the source


@dataclass(frozen=True)
class Comparison:
    """The re-read rows by what changed since the lake's previous version of the same key."""

    rows: int = 0
    new: int = 0  # keys the lake did not hold live
    unchanged: int = 0
    silent_only: int = 0  # some silent column changed, no other column did
    other: int = 0  # some other column changed (the source's change cursor moved too, normally)

    def metadata(self) -> dict[str, int]:
        return {"reread_rows": self.rows, "rows_changed_only_in_silent_fields": self.silent_only,
                "rows_changed_in_other_fields": self.other, "rows_unchanged": self.unchanged, "rows_new": self.new}


class SilentChanges:
    """Compares re-read rows with the previous latest versions in `previous`; `silent` are the silent columns."""

    def __init__(
        self,
        previous: ds.Dataset,
        silent: Sequence[str],
        *,
        key: str = ID_COLUMN,
        order_by: Sequence[str] = VERSION_ORDER,
        deleted: str = DELETED_COLUMN,
        memory_limit: str = "1GB",
    ):
        self._spill = tempfile.TemporaryDirectory(prefix="zuora-silent-")
        self._con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": self._spill.name,
                                           "preserve_insertion_order": False})
        self.key = key
        self.columns = [n for n in previous.schema.names if n not in (*NOT_COMPARED, deleted)]
        self.silent = [c for c in silent if c in self.columns]
        if key in previous.schema.names and all(c in previous.schema.names for c in (*order_by, deleted)):
            self._con.register("versions", previous)
            sql = current_view_sql("versions", self.columns, key=key, order_by=order_by, deleted=deleted,
                                   dialect="duckdb")
            self._con.execute(f"CREATE TEMP TABLE previous AS {sql}")
            self._con.unregister("versions")
        else:  # nothing in the lake yet
            self.columns = [key]
            self._con.execute(f"CREATE TEMP TABLE previous ({quote(key)} VARCHAR)")
        self._reread: list[str] | None = None
        self.result: Comparison | None = None

    def observe(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """`batches`, unchanged, each also kept for the comparison; compares once they are exhausted."""
        for batch in batches:
            self._keep(batch)
            yield batch
        self.result = self._compare()

    def _keep(self, batch: pa.RecordBatch) -> None:
        self._con.register("batch", batch)
        if self._reread is None:
            self._reread = [c for c in batch.schema.names if c in self.columns]
            cols = ", ".join(quote(c) for c in self._reread)
            self._con.execute(f"CREATE TEMP TABLE reread AS SELECT {cols} FROM batch")
        else:
            self._con.execute(f"INSERT INTO reread SELECT {', '.join(quote(c) for c in self._reread)} FROM batch")
        self._con.unregister("batch")

    def _compare(self) -> Comparison:
        try:
            if self._reread is None:
                return Comparison()
            common = [c for c in self._reread if c != self.key and c in self.columns]
            silent = [c for c in common if c in self.silent]
            loud = [c for c in common if c not in self.silent]

            def differs(columns: list[str]) -> str:
                return " OR ".join(f"r.{quote(c)} IS DISTINCT FROM p.{quote(c)}" for c in columns) or "false"

            k = quote(self.key)
            rows, matched, silent_only, other = self._con.execute(
                f"SELECT count(*), count(p.{k}), "
                f"count(*) FILTER (WHERE p.{k} IS NOT NULL AND ({differs(silent)}) AND NOT ({differs(loud)})), "
                f"count(*) FILTER (WHERE p.{k} IS NOT NULL AND ({differs(loud)})) "
                f"FROM reread AS r LEFT JOIN previous AS p ON r.{k} = p.{k}"
            ).fetchone()
            return Comparison(rows, rows - matched, matched - silent_only - other, silent_only, other)
        finally:
            self.close()

    def close(self) -> None:
        self._con.close()
        self._spill.cleanup()
