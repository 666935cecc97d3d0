"""Counting a model's records in a window exactly and in bounded memory: the latest version of each id, if it is
in the window, aggregated by DuckDB from the streamed `id` and `updated_date` columns, in buckets of ids.

The latest version of an id (`contract.VERSION_RANKING`: the greatest `updated_date`, then `_transferred_at`,
then `_deleted`) has the greatest `updated_date` of the id's versions, whichever version the later columns pick;
so "its latest version is in the window" is "the id's greatest `updated_date` is in the window", and only those
two columns are read. The memory grows with neither the rows nor the window: the files are read one small
batch at a time; beyond `ROWS_PER_BUCKET` versions, one pass writes them to a local temporary folder split by a
hash of the id into buckets of about that many, and each bucket is aggregated alone. The count stays exact: the
hash only chooses the bucket, all versions of one id land in the same one, and ids are compared as they are.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from zuora_assets.common.contract import ID_COLUMN, UPDATED_COLUMN
from zuora_assets.common.failures import Transient
from zuora_assets.lake.readers import partition_dataset
from zuora_assets.lake.storage import Storage

AGGREGATE_MEMORY_LIMIT = "64MB"  # DuckDB's share; the streamed batches and DuckDB's own code come on top
ROWS_PER_BUCKET = 2_000_000  # DuckDB aggregates 2M versions within 32 MB, 20M not within 96 MB
_SCAN_BATCH_ROWS = 16 * 1024  # rows per streamed batch: larger ones cost more memory, not less time
_FLUSH_ROWS = 64 * 1024  # rows a bucket's file buffers before it writes them (DuckDB's default: 512K rows)
_LATEST_IN_WINDOW = f"""
    select count(*) from (
        select max({UPDATED_COLUMN}) as latest from {{versions}} group by {ID_COLUMN}
    ) where latest >= $start and latest < $end
"""


class CountFailed(Transient, RuntimeError):
    """DuckDB could not count the records: out of its memory limit, or of local disk for what it spills."""


def count_latest_in_window(
    storage: Storage,
    folder: str,
    model: str,
    dts: Iterable[str],
    start: datetime,
    end: datetime,
    *,
    memory_limit: str = AGGREGATE_MEMORY_LIMIT,
    rows_per_bucket: int = ROWS_PER_BUCKET,
) -> int:
    """How many ids of `model` in partitions `dts` have their latest version in `[start, end)` (tz-aware).

    Versions outside `dts` are not seen: pass every partition from the window's first day on, so that a record
    updated again after the window (moved to a later partition) does not count. 0 when there is no file.
    CountFailed when DuckDB fails; it names the model, the window and the local folder of the spill."""
    dts = list(dts)
    try:
        return _count_latest(storage, folder, model, dts, start, end, memory_limit, rows_per_bucket)
    except duckdb.Error as err:
        raise CountFailed(
            f"{model}: counting the lake's records of [{start.isoformat()}, {end.isoformat()}) in partitions "
            f"{dts[0] + '..' + dts[-1] if dts else '(none)'} failed in DuckDB (memory limit {memory_limit}, "
            f"spill under {tempfile.gettempdir()}): {err}. Free local disk there (or point TMPDIR at a larger "
            "disk), then run the check again"
        ) from err


def _count_latest(
    storage: Storage,
    folder: str,
    model: str,
    dts: list[str],
    start: datetime,
    end: datetime,
    memory_limit: str,
    rows_per_bucket: int,
) -> int:
    dataset = partition_dataset(storage, folder, model, dts)
    if ID_COLUMN not in dataset.schema.names or UPDATED_COLUMN not in dataset.schema.names:
        return 0  # no file in `dts` (only `dt`), or files without the columns: no record to count
    buckets = max(1, -(-dataset.count_rows() // rows_per_bucket))  # from the files' footers
    window = {"start": _naive_utc(start), "end": _naive_utc(end)}
    with tempfile.TemporaryDirectory(prefix="zuora-count-") as spill:
        config = {
            "memory_limit": memory_limit,
            "temp_directory": f"{spill}/duckdb",
            "threads": 1,
            "preserve_insertion_order": False,
        }
        with duckdb.connect(config=config) as con:
            con.register("versions", _stream(dataset))
            if buckets == 1:
                return _count(con, _LATEST_IN_WINDOW.format(versions="versions"), window)
            con.execute(f"set partitioned_write_flush_threshold = {_FLUSH_ROWS}")
            con.execute(
                f"copy (select {ID_COLUMN}, {UPDATED_COLUMN}, hash({ID_COLUMN}) % {buckets} as bucket"
                f" from versions) to {_literal(f'{spill}/buckets')}"
                f" (format parquet, partition_by (bucket), row_group_size {_FLUSH_ROWS})"
            )
            files = _literal(f"{spill}/buckets/*/*.parquet")
            queries = (_LATEST_IN_WINDOW.format(versions=_bucket(files, b)) for b in range(buckets))
            return sum(_count(con, query, window) for query in queries)


def _stream(dataset: ds.Dataset) -> pa.RecordBatchReader:
    """The `id` and `updated_date` of every version, read a small batch at a time."""
    return ds.Scanner.from_dataset(
        dataset,
        columns=[ID_COLUMN, UPDATED_COLUMN],
        batch_size=_SCAN_BATCH_ROWS,
        batch_readahead=1,  # the defaults read ahead 16 batches of 4 files at once: ~250 MB more for 2M rows
        fragment_readahead=1,
        use_threads=False,
        fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
    ).to_reader()


def _bucket(files: str, number: int) -> str:
    """The spilled versions of bucket `number` (a literal, so that DuckDB reads the bucket's folder alone)."""
    return f"(select * from read_parquet({files}, hive_partitioning = true) where bucket = {int(number)})"


def _count(con: duckdb.DuckDBPyConnection, query: str, parameters: dict) -> int:
    [(count,)] = con.execute(query, parameters).fetchall()
    return int(count)


def _literal(path: str) -> str:
    """`path` as a SQL string literal."""
    return "'" + path.replace("'", "''") + "'"


def _naive_utc(moment: datetime) -> datetime:
    """`moment` as the files hold timestamps: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)
