"""Zuora-style AQuA CSV, rendered with vectorized Arrow kernels and streamed to a file in row batches.

Format decisions (what a client must parse):
- Header `Object.Field` with `useQueryLabels=true`; otherwise Zuora labels like `Account: Account Number`.
  The deleted column's header is `Object.<column name from the deleted spec>` (label form: `Object: <name>`).
- Lines end in `\\n`. Values are quoted (RFC 4180) only when they contain `,` `"` CR or LF; quotes doubled.
  Text values may contain embedded newlines (LF and CRLF) inside quotes.
- Nulls are empty (or `nullReplacement` when given). Booleans `true` / `false`; the deleted column is
  `true`/`false` (format Boolean) or `1`/`0` (format Numeric).
- Integers bare; decimals bare with trailing zeros dropped (`12.5`, `100`, `-0.000001`).
- Dates `YYYY-MM-DD`. Datetimes `YYYY-MM-DDTHH:MM:SS±hhmm` in the tenant zone, or `+0000` with
  `dateTimeUtc`. A datetime exactly at midnight America/Los_Angeles is written date-only (its Pacific date).
"""

from __future__ import annotations

import gzip
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz

BATCH_ROWS = 100_000  # rows rendered at a time
_NEEDS_QUOTES = r'[",\r\n]'


@dataclass(frozen=True)
class CsvOptions:
    """Rendering options of one AQuA job."""

    tenant_tz: str
    datetime_utc: bool = False
    null_replacement: str = ""
    deleted_numeric: bool = False


def label(obj: str, field: str) -> str:
    """Zuora's query label for a field: `Account: Account Number`, custom `Region__c` -> `Account: Region`."""
    base = field[:-3] if field.endswith("__c") else field
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", base))
    return f"{obj}: {words}"


_SPECIAL = (b",", b'"', b"\r", b"\n")


def _may_need_quotes(values: pa.Array) -> bool:
    """Whether any value contains a byte that forces quoting (a fast scan of the whole data buffer)."""
    offsets, data = values.buffers()[1], values.buffers()[2]
    if data is None or len(values) == 0:
        return False
    bounds = np.frombuffer(offsets, dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)
    used = memoryview(data)[bounds[0]:bounds[-1]].tobytes()
    return any(special in used for special in _SPECIAL)


def quote(values: pa.Array) -> pa.Array:
    """Values wrapped in quotes (inner quotes doubled) where RFC 4180 requires it."""
    if not _may_need_quotes(values):
        return values
    needs = pc.match_substring_regex(values, _NEEDS_QUOTES)
    doubled = pc.replace_substring(values, '"', '""')
    quoted = pc.binary_join_element_wise('"', doubled, '"', "")
    return pc.if_else(needs, quoted, values)


def render_column(values: pa.Array, ztype: str, opts: CsvOptions) -> pa.Array:
    """One column as CSV text (nulls stay null), per the format decisions above."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if ztype in ("text", "picklist"):
        return quote(values)
    if ztype == "boolean":
        return pc.if_else(values, "true", "false")
    if ztype == "decimal":
        return render_decimals(values)
    if ztype == "datetime":
        return tz.render_datetimes(values, "UTC" if opts.datetime_utc else opts.tenant_tz)
    return values.cast(pa.string())


def render_decimals(values: pa.Array) -> pa.Array:
    """decimal128(38, 9) values as plain text without trailing zeros: `12.5`, `100`, `-0.000000001`, `0`."""
    words = np.frombuffer(values.buffers()[1], dtype=np.int64, count=2 * (len(values) + values.offset))
    words = words.reshape(-1, 2)[values.offset:]
    low, high = words[:, 0], words[:, 1]
    magnitude = np.abs(low)
    whole = pa.array(magnitude // 10**9).cast(pa.string())
    fraction = pc.ascii_rtrim(pc.utf8_slice_codeunits(pa.array(magnitude % 10**9 + 10**9).cast(pa.string()), 1),
                              characters="0")
    number = pc.if_else(pc.equal(fraction, ""), whole, pc.binary_join_element_wise(whole, fraction, "."))
    text = pc.if_else(pa.array(low < 0), pc.binary_join_element_wise("-", number, ""), number)
    big = high != (low >> 63)  # beyond int64: Arrow prints these in plain notation
    if big.any():
        plain = pc.ascii_rtrim(pc.ascii_rtrim(values.cast(pa.string()), characters="0"), characters=".")
        text = pc.if_else(pa.array(big), plain, text)
    return pc.if_else(pc.is_valid(values), text, pa.nulls(len(values), pa.string()))


def render_deleted(values: pa.Array, opts: CsvOptions) -> pa.Array:
    return pc.if_else(values, "1", "0") if opts.deleted_numeric else pc.if_else(values, "true", "false")


def render_lines(columns: list[pa.Array], opts: CsvOptions) -> pa.Array:
    """Rendered columns joined into CSV lines, each ending in a newline."""
    joined = pc.binary_join_element_wise(*columns, ",", null_handling="replace",
                                         null_replacement=opts.null_replacement)
    return pc.binary_join_element_wise(joined, "\n", "")


def line_bytes(lines: pa.Array, start: int = 0, stop: int | None = None) -> memoryview:
    """The UTF-8 bytes of lines[start:stop] back to back, without copying."""
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    stop = len(lines) if stop is None else stop
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    data = lines.buffers()[2]
    if data is None or stop <= start:
        return memoryview(b"")
    return memoryview(data)[offsets[start]:offsets[stop]]


@contextmanager
def open_output(path: Path, fmt: str, member: str) -> Iterator[BinaryIO]:
    """A binary writer for a result file: plain CSV, gzip, or a zip holding one CSV member."""
    if fmt == "gzip":
        with gzip.open(path, "wb", compresslevel=1) as out:
            yield out
    elif fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, zf.open(
                member, "w", force_zip64=True) as out:
            yield out
    else:
        with open(path, "wb") as out:
            yield out


@dataclass(frozen=True)
class CsvColumn:
    """A column to write: header text, Zuora type (or `deleted`), and the source column in the table."""

    header: str
    ztype: str
    source: str


def write_csv(path: Path, fmt: str, batches: Iterable[pa.Table], columns: list[CsvColumn], opts: CsvOptions,
              malformed_after: int | None = None, max_bytes: int | None = None) -> int | None:
    """Write row batches as a Zuora CSV result file; returns its size in bytes.

    `malformed_after=n` inserts a row with one field too many after data row n (fault injection).
    With `max_bytes`, a file that grows past it is deleted and None returned (plain CSV stops rendering
    as soon as it is past; compressed files are checked once written).
    """
    bad_row = (",".join(["malformed"] * (len(columns) + 1)) + "\n").encode()
    pending, start, written = malformed_after, 0, 0
    with open_output(path, fmt, path.stem + ".csv") as out:
        written += out.write(line_bytes(render_lines([quote(pa.array([c.header])) for c in columns], opts)))
        for batch in batches:
            lines = render_lines([_render(batch.column(c.source), c, opts) for c in columns], opts)
            cut = len(lines) if pending is None else min(max(pending - start, 0), len(lines))
            written += out.write(line_bytes(lines, 0, cut))
            if cut < len(lines):
                written += out.write(bad_row)
                pending = None
            written += out.write(line_bytes(lines, cut))
            start += len(lines)
            if fmt == "csv" and max_bytes is not None and written > max_bytes:
                break
        if pending is not None:
            out.write(bad_row)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        path.unlink()
        return None
    return size


def _render(values: pa.ChunkedArray | pa.Array, column: CsvColumn, opts: CsvOptions) -> pa.Array:
    if column.ztype == "deleted":
        return render_deleted(values, opts)
    return render_column(values, column.ztype, opts)
