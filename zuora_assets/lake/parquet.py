"""Parquet as the lake writes it: Athena-friendly settings, ~128 MB row groups, a new file part every ~512 MB.

Row groups are cut by a row count chosen from the bytes per row of the buffered batches (Arrow's in-memory
size stands for "uncompressed"), so at most one row group of rows (~128 MB) is held in memory per writer.
Files go to local temp files (in `TEMP_DIR`, locked while in use); each finished file is handed over (to be
uploaded) and then deleted.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from zuora_assets.common.failures import InvalidValue
from zuora_assets.lake import tempfiles
from zuora_assets.lake.memory import DEFAULT_BUDGET

MiB = 1024 * 1024
TEMP_DIR = Path(tempfile.gettempdir()) / "zuora-athena-lake"
_TEMP_SUFFIX = ".parquet"

# zstd, statistics, INT64 millisecond timestamps (never INT96: no flavor="spark"), data page v1.
# Chosen by measurement (`benchmarks/bench_pipeline.py --scenario day --encoding`: 2,001,362 invoice items of
# one day, 1,358 MB in Arrow, one file; seconds/CPU on a loaded 2-core machine, so only the bytes are exact):
#   zstd level 1 127.9 MB, CPU 5.9 s | level 3 132.3 MB, 6.1 s | level 6 132.4 MB, 9.2 s | level 9 131.0 MB, 12.8 s
#   dictionary off for the unique key `id` 130.0 MB, 5.5 s (its dictionary always overflows and falls back) |
#   off for every *_id 148.8 MB (foreign keys repeat: keep it) | off everywhere 172.8 MB
#   statistics off for strings: 132.2 MB (nothing saved: keep them, Athena prunes row groups on them)
#   row groups (Arrow bytes) 16 MiB 150.5 MB | 32 MiB 132.3 | 64 MiB 116.3 | 128 MiB 105.7; bytes scanned for one
#   hour of updated_date 1.9 | 3.3 | 5.7 | 10.4 MB. The row group size is the memory budget's (lake/memory.py).
WRITER_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "write_statistics": True,
    "use_dictionary": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "coerce_timestamps": "ms",
    "allow_truncated_timestamps": True,
    "use_deprecated_int96_timestamps": False,
}


def writer_options(schema: pa.Schema, unique_columns: Iterable[str] = ()) -> dict:
    """The ParquetWriter options of a file of `schema`: no dictionary for `unique_columns` (a key whose values
    never repeat: its dictionary would only overflow and be dropped), the rest as `WRITER_OPTIONS`."""
    unique = set(unique_columns)
    if not unique & set(schema.names):
        return dict(WRITER_OPTIONS)
    return {**WRITER_OPTIONS, "use_dictionary": [name for name in schema.names if name not in unique]}


@dataclass(frozen=True)
class FileLimits:
    """Sizes that shape the files: uncompressed bytes per row group, and the file size that starts a new part."""

    row_group_bytes: int = DEFAULT_BUDGET.row_group_bytes
    file_bytes: int = 512 * MiB

    def __post_init__(self) -> None:
        if self.row_group_bytes < 1 or self.file_bytes < 1:
            raise InvalidValue(f"{self}: row_group_bytes and file_bytes must be positive byte counts")


def lake_type(data_type: pa.DataType) -> pa.DataType:
    """The type a column is stored with: timestamps become naive UTC milliseconds, the rest is unchanged."""
    return pa.timestamp("ms") if pa.types.is_timestamp(data_type) else data_type


def lake_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every timestamp as naive UTC milliseconds (what the files hold)."""
    return pa.schema([f.with_type(lake_type(f.type)) for f in schema], metadata=schema.metadata)


def conform(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """`batch` with exactly the columns and types of `schema`; ValueError naming the columns that don't fit."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    missing = [name for name in schema.names if name not in batch.schema.names]
    extra = [name for name in batch.schema.names if name not in schema.names]
    if missing or extra:
        raise InvalidValue(
            f"{where}: a batch does not have the declared columns (missing {missing}, unexpected {extra}); "
            "make the batches match the schema passed to the lake"
        )
    columns = []
    for field in schema:
        column = batch.column(field.name)
        if column.type.equals(field.type):
            columns.append(column)
            continue
        try:  # tz-aware/other-unit timestamps to naive UTC ms (floored); any other safe cast
            columns.append(column.cast(field.type, safe=not pa.types.is_timestamp(field.type)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise InvalidValue(
                f"{where}: column {field.name!r} has type {column.type}, declared {field.type}, and cannot be "
                f"converted ({err}); fix the source type or the declared schema"
            ) from err
    return pa.RecordBatch.from_arrays(columns, schema=schema)


@dataclass
class FinishedFile:
    """A complete local Parquet file handed over by `RollingParquetWriter`; its receiver must `release()` it.

    `stamps` are the values the writer's stamp column took in it (one unless the stamp changed mid-file).
    """

    temp: tempfiles.LockedTempFile
    rows: int
    stamps: frozenset

    @property
    def path(self) -> Path:
        return self.temp.path

    def release(self) -> None:
        self.temp.release()


@dataclass(frozen=True)
class Stamp:
    """A column the writer adds itself, one value per row group: `value()` read when the row group is written."""

    column: str
    value: Callable[[], pa.Scalar]


class RollingParquetWriter:
    """Writes batches of one schema into local Parquet files, handing each finished file to `on_file`.

    `on_file(file)` gets a complete `FinishedFile` and owns it from then on (it must release it, at once or
    after an upload). A file is finished when it reaches `limits.file_bytes` or at `close()`. No file is ever
    made for zero rows. With `stamp`, the batches lack that column (the schema's last) and each row group gets
    `stamp.value()` in it.
    """

    def __init__(
        self,
        schema: pa.Schema,
        on_file: Callable[[FinishedFile], None],
        limits: FileLimits = FileLimits(),  # noqa: B008 (frozen dataclass)
        stamp: Stamp | None = None,
        options: dict | None = None,
    ):
        if stamp is not None and schema.names[-1] != stamp.column:
            raise InvalidValue(f"the stamp column {stamp.column!r} must be the last of {schema.names}")
        self.schema = schema
        self.limits = limits
        self.options = writer_options(schema) if options is None else options
        self._stamp = stamp
        self._batch_schema = schema.remove(len(schema) - 1) if stamp is not None else schema
        self._on_file = on_file
        self._buffer: list[pa.RecordBatch] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._file: tempfiles.LockedTempFile | None = None
        self._file_rows = 0
        self._file_stamps: set = set()

    def write(self, batch: pa.RecordBatch) -> None:
        """Add rows; full row groups are written as they fill, full files handed over as they reach the limit."""
        if batch.num_rows == 0:
            return
        self._buffer.append(batch)
        self._buffered_rows += batch.num_rows
        self._buffered_bytes += batch.nbytes
        while self._buffered_bytes >= self.limits.row_group_bytes and self._buffered_rows:
            rows = self._buffered_rows * self.limits.row_group_bytes // self._buffered_bytes
            self._write_row_group(max(1, rows))

    def close(self) -> None:
        """Write the buffered rows and hand over the last file (if any rows were written)."""
        if self._buffered_rows:
            self._write_row_group(self._buffered_rows)
        if self._writer is not None:
            self._finish_file()

    def abort(self) -> None:
        """Drop buffered rows and the unfinished file; nothing more is handed over."""
        self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0
        if self._writer is not None:
            try:
                self._close_file()
            finally:
                self._discard_file()

    def _write_row_group(self, rows: int) -> None:
        table = pa.Table.from_batches(self._buffer, schema=self._batch_schema)
        head, rest = table.slice(0, rows), table.slice(rows)
        self._buffer = rest.to_batches()
        self._buffered_rows, self._buffered_bytes = rest.num_rows, rest.nbytes
        del table
        if self._stamp is not None:
            value = self._stamp.value()
            self._file_stamps.add(value.as_py())
            head = head.append_column(self.schema.field(-1), pa.repeat(value, head.num_rows))
        writer, sink = self._open_file()
        writer.write_table(head, row_group_size=rows)
        self._file_rows += head.num_rows
        del head
        if sink.tell() >= self.limits.file_bytes:
            self._finish_file()

    def _open_file(self) -> tuple[pq.ParquetWriter, pa.NativeFile]:
        if self._writer is None or self._sink is None:
            self._file = tempfiles.locked_temp_file(TEMP_DIR, prefix="lake-", suffix=_TEMP_SUFFIX)
            self._sink = pa.OSFile(str(self._file.path), "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema, **self.options)
        return self._writer, self._sink

    def _close_file(self) -> None:
        writer, sink = self._writer, self._sink
        self._writer = self._sink = None
        try:
            if writer is not None:
                writer.close()
        finally:
            if sink is not None:
                sink.close()

    def _discard_file(self) -> None:
        if self._file is not None:
            self._file.release()
        self._file, self._file_rows, self._file_stamps = None, 0, set()

    def _finish_file(self) -> None:
        try:
            self._close_file()
        except BaseException:
            self._discard_file()
            raise
        assert self._file is not None
        finished = FinishedFile(self._file, self._file_rows, frozenset(self._file_stamps))
        self._file, self._file_rows, self._file_stamps = None, 0, set()
        self._on_file(finished)


def restamp(path: Path, column: str, moment: datetime, options: dict | None = None) -> tempfiles.LockedTempFile:
    """A copy of the Parquet file at `path` with every value of timestamp column `column` set to `moment`.

    Row group by row group (memory stays at one row group), with the lake's writer options; the caller
    releases the returned temp file.
    """
    source = pq.ParquetFile(path)
    schema = source.schema_arrow
    index = schema.get_field_index(column)
    value = pa.scalar(moment.replace(tzinfo=None), schema.field(index).type)
    copy = tempfiles.locked_temp_file(TEMP_DIR, prefix="lake-", suffix=_TEMP_SUFFIX)
    try:
        with pq.ParquetWriter(str(copy.path), schema, **(options or writer_options(schema))) as writer:
            for group in range(source.num_row_groups):
                table = source.read_row_group(group)
                table = table.set_column(index, schema.field(index), pa.repeat(value, table.num_rows))
                writer.write_table(table, row_group_size=table.num_rows)
    except BaseException:
        copy.release()
        raise
    return copy


def remove_stale_temp_files() -> list[Path]:
    """Remove the temp files of writers that were killed (never a live writer's); return them."""
    return tempfiles.remove_stale(TEMP_DIR, suffix=_TEMP_SUFFIX)
