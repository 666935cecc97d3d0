"""Read one AQuA result file (CSV, optionally gzip) as typed Arrow record batches, in constant memory.

The header (`Object.Field`, from `useQueryLabels`) is matched to the queried fields; every column is
read as a string by `pyarrow.csv.open_csv` and converted per batch with pyarrow.compute: empty string
-> null, decimals exact to decimal128(38,9), datetimes with `+hhmm`, `+hh:mm`, `Z` or fractions to
UTC milliseconds, and a bare date in a datetime column (Zuora's rendering of midnight
America/Los_Angeles) to that instant in UTC. Fields that were not queried (dropped mid-run) come out
as null columns, so every batch has exactly the extraction's schema. A malformed row or a NUL byte
raises `ZuoraDataError` naming the place (model, window) and the CSV line number; a file cut short,
`ZuoraCutFileError`.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from zuora_assets.common.contract import DELETED_COLUMN
from zuora_assets.common.failures import InvalidValue
from zuora_assets.zuora.catalog import Field
from zuora_assets.zuora.errors import ZuoraCutFileError, ZuoraDataError

SYSTEM_TZ = "America/Los_Angeles"  # Zuora writes datetimes at midnight of this zone as a bare date
BLOCK_SIZE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class FileSpec:
    """What a result file should hold and where it comes from (for error messages)."""

    place: str  # e.g. "model invoice_item, window [2026-11-01T00:00:00Z, 2026-11-02T00:00:00Z)"
    object: str  # Zuora object, the header prefix
    schema_fields: tuple[Field, ...]  # the extraction's fields (its schema, minus `_deleted`)
    queried: tuple[str, ...]  # field names the query selected (a subset of schema_fields)
    deleted_column: str | None  # name of the deleted column in the CSV, None if deletes were not asked for
    schema: pa.Schema


Opener = Callable[[], BinaryIO]  # opens the result file's bytes (as stored: maybe gzip) from the start


def _decompressed(opened: Opener) -> BinaryIO:
    """The file's CSV bytes from the start, decompressed as a stream when the file is gzip (opened once)."""
    raw = opened()
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)  # type: ignore[arg-type]
    return _GzipReader(raw) if raw.peek(2)[:2] == _GZIP_MAGIC else raw


class _GzipReader(gzip.GzipFile):
    """Decompresses `raw` as it is read, and closes it when closed (a plain GzipFile leaves its fileobj open)."""

    def __init__(self, raw: BinaryIO):
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _header(line: bytes) -> list[str] | None:
    """The names in the header line, or None for an empty file."""
    if not line.strip():
        return None
    text = line.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text)))


class _NulGuard:
    """A file-like view of a byte stream that notes whether a NUL byte went through it, its last byte, and
    whether its gzip stream was cut (then it ends there)."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._pending = b""  # bytes read ahead by `at_end`, returned before the stream's next bytes
        self.nul_seen = False
        self.cut = False
        self.last = b""
        self.closed = False

    def readable(self) -> bool:
        return True

    def at_end(self) -> bool:
        """True when no byte is left (reads ahead once, waiting for a byte if needed)."""
        if not self._pending:
            self._pending = self._read(1)
        return not self._pending

    def read(self, size: int = -1) -> bytes:
        data = self._read(size - len(self._pending) if size > 0 else size)
        if self._pending:
            data, self._pending = self._pending + data, b""
        return data

    def readline(self) -> bytes:
        try:
            return self._note(self._stream.readline())
        except (EOFError, zlib.error, gzip.BadGzipFile):
            self.cut = True
            return b""

    def ends_mid_row(self) -> bool:
        """Read what is left; True when the stream stops short: it does not end with a line break (every row
        does), or its gzip stream is cut."""
        while self.read(1 << 20):
            pass
        return self.cut or self.last not in (b"", b"\n")

    def _read(self, size: int) -> bytes:
        if self.cut:
            return b""
        try:
            return self._note(self._stream.read(size))
        except (EOFError, zlib.error, gzip.BadGzipFile):
            self.cut = True
            return b""

    def _note(self, data: bytes) -> bytes:
        if data:
            self.last = data[-1:]
            if not self.nul_seen and data.find(b"\x00") >= 0:
                self.nul_seen = True
        return data

    def close(self) -> None:
        self.closed = True
        self._stream.close()


def _column_positions(spec: FileSpec, header: list[str]) -> dict[str, int]:
    """Header position of each queried field and of the deleted column (keyed by lower-case name)."""
    positions: dict[str, int] = {}
    for i, name in enumerate(header):
        short = name.split(".", 1)[1] if "." in name else name
        positions.setdefault(short.strip().lower(), i)
    wanted = list(spec.queried) + ([spec.deleted_column] if spec.deleted_column else [])
    missing = [w for w in wanted if w.lower() not in positions]
    if missing:
        hint = (" (the header holds labels, not API names: the job must set useQueryLabels)"
                if any(":" in h for h in header) else "")
        raise ZuoraDataError(
            f"{spec.place}: the result file has no column for {', '.join(missing)}{hint}; header was "
            f"{','.join(header)[:300]!r}. Zuora returned a different file than asked for: rerun the transfer"
        )
    return {w.lower(): positions[w.lower()] for w in wanted}


def _line_of_byte(opened: Opener, needle: bytes) -> int | None:
    """Physical line number (1-based) of the first occurrence of `needle` in the file."""
    line = 1
    with _decompressed(opened) as f:
        while chunk := f.read(1 << 20):
            at = chunk.find(needle)
            if at >= 0:
                return line + chunk.count(b"\n", 0, at)
            line += chunk.count(b"\n")
    return None


def _malformed_row(opened: Opener, ncols: int) -> tuple[int, str] | None:
    """(line number, text) of the first record whose column count is not `ncols`."""
    with _decompressed(opened) as f:
        reader = csv.reader(io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline=""))
        for row in reader:
            if len(row) != ncols:
                return reader.line_num, ",".join(row)[:200]
    return None


def _cut_error(spec: FileSpec, detail: str) -> ZuoraCutFileError:
    return ZuoraCutFileError(
        f"{spec.place}: the CSV ends in the middle of a row{detail}: its download was cut short. "
        "Retrying downloads it again"
    )


def _parse_error(spec: FileSpec, opened: Opener, stream: _NulGuard, ncols: int, exc: Exception) -> ZuoraDataError:
    if stream.ends_mid_row():
        return _cut_error(spec, f" ({exc})")
    found = _malformed_row(opened, ncols)
    where = f"CSV line {found[0]} has a malformed row ({found[1]!r})" if found else f"the CSV is malformed ({exc})"
    return ZuoraDataError(
        f"{spec.place}: {where}; expected {ncols} columns per row. Zuora produced a broken file: rerun "
        "the transfer, and report the job to Zuora support if it happens again"
    )


def _datetimes(strings: pa.Array) -> pa.Array:
    """UTC timestamp[ms] of Zuora datetime strings (any offset form, fractions, or a bare Pacific date)."""
    bare = pc.equal(pc.utf8_length(strings), 10)
    full = pc.cast(pc.if_else(bare, None, strings), pa.timestamp("us", tz="UTC"))
    full = pc.cast(full, pa.timestamp("ms", tz="UTC"), safe=False)
    dates = pc.cast(pc.cast(pc.if_else(bare, strings, None), pa.date32()), pa.timestamp("ms"))
    dates = pc.cast(pc.assume_timezone(dates, SYSTEM_TZ), pa.timestamp("ms", tz="UTC"))
    return pc.cast(pc.if_else(bare, dates, full), pa.timestamp("ms"))


def _convert(strings: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_string(target):
        return strings
    if pa.types.is_timestamp(target):
        return _datetimes(strings)
    return pc.cast(strings, target)


def _first_bad(strings: pa.Array, target: pa.DataType) -> tuple[int, str]:
    """Index and value of the first string that does not convert (only called once a batch failed)."""
    for i, value in enumerate(strings.to_pylist()):
        try:
            _convert(pa.array([value], pa.string()), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i, str(value)
    return 0, "?"


def _typed_column(spec: FileSpec, name: str, strings: pa.Array, target: pa.DataType, rows_before: int) -> pa.Array:
    try:
        return _convert(strings, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        index, value = _first_bad(strings, target)
        raise ZuoraDataError(
            f"{spec.place}: field {name}, data row {rows_before + index + 1}: {value[:100]!r} is not a valid "
            f"{target}. The tenant's value does not fit the model's declared type: fix the type in the "
            "catalog or the record in Zuora"
        ) from None


def _nul_error(spec: FileSpec, opened: Opener) -> ZuoraDataError:
    """The error for a file with a NUL byte, naming its line."""
    line = _line_of_byte(opened, b"\x00")
    return ZuoraDataError(
        f"{spec.place}: CSV line {line or '?'} contains a NUL byte. Zuora produced a corrupt file: rerun the "
        "transfer, and report the job to Zuora support if it happens again"
    )


def _typed_batch(spec: FileSpec, raw: pa.RecordBatch, names: dict[str, str], rows_before: int) -> pa.RecordBatch:
    """The raw all-string batch converted to `spec.schema` (not-queried fields as nulls)."""
    arrays = []
    for f, target in zip(spec.schema_fields, spec.schema.types, strict=False):
        column = names.get(f.name.lower())
        if column is None:
            arrays.append(pa.nulls(raw.num_rows, target))
        else:
            arrays.append(_typed_column(spec, f.name, raw.column(column), target, rows_before))
    if spec.deleted_column:
        deleted = _typed_column(spec, spec.deleted_column, raw.column(names[spec.deleted_column.lower()]),
                                pa.bool_(), rows_before)
        arrays.append(pc.fill_null(deleted, False))
    else:
        arrays.append(pa.repeat(False, raw.num_rows) if raw.num_rows else pa.array([], pa.bool_()))
    return pa.RecordBatch.from_arrays(arrays, schema=spec.schema)


def read_result_file(spec: FileSpec, path: Path, *, block_size: int = BLOCK_SIZE) -> Iterator[pa.RecordBatch]:
    """Typed record batches of the complete result file at `path`, in file order."""
    return read_result(spec, lambda: open(path, "rb"), block_size=block_size)


def read_result(spec: FileSpec, opened: Opener, *, block_size: int = BLOCK_SIZE) -> Iterator[pa.RecordBatch]:
    """Typed record batches of the result file that `opened()` reads, in file order, in one pass.

    The bytes are parsed as `opened()`'s stream delivers them (it may still be downloading); the file is
    opened again only to find the line of an error. A file that stops short (no final line break, or a cut
    gzip stream) raises `ZuoraCutFileError`, which a retry cures.
    """
    if spec.schema.names[-1] != DELETED_COLUMN:
        raise InvalidValue(f"{spec.place}: schema must end with {DELETED_COLUMN}")
    with contextlib.closing(_NulGuard(_decompressed(opened))) as stream:
        yield from _batches(spec, opened, stream, block_size)


def _batches(spec: FileSpec, opened: Opener, stream: _NulGuard, block_size: int) -> Iterator[pa.RecordBatch]:
    header = _header(stream.readline())
    if header is None or stream.at_end():
        return
    if stream.nul_seen:
        raise _nul_error(spec, opened)
    positions = _column_positions(spec, header)
    column_names = [f"c{i}" for i in range(len(header))]
    names = {key: column_names[i] for key, i in positions.items()}
    reader = _open_reader(spec, opened, stream, column_names, sorted(set(names.values())), block_size)
    rows = 0
    while True:
        try:
            raw = reader.read_next_batch()
        except StopIteration:
            if stream.cut or stream.last != b"\n":
                raise _cut_error(spec, "") from None
            return
        except pa.ArrowInvalid as exc:
            raise (_nul_error(spec, opened) if stream.nul_seen
                   else _parse_error(spec, opened, stream, len(header), exc)) from None
        if stream.nul_seen:
            raise _nul_error(spec, opened)
        batch = _typed_batch(spec, raw, names, rows)
        rows += raw.num_rows
        yield batch


def _open_reader(
    spec: FileSpec, opened: Opener, stream: _NulGuard, column_names: list[str], include: Sequence[str], block_size: int
) -> pcsv.CSVStreamingReader:
    try:
        return pcsv.open_csv(
            pa.PythonFile(stream, mode="r"),
            read_options=pcsv.ReadOptions(column_names=column_names, block_size=block_size, use_threads=False),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in column_names},
                include_columns=list(include),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _parse_error(spec, opened, stream, len(column_names), exc) from None
