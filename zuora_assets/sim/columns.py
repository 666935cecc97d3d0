"""Vectorized builders of Arrow columns for generated data: ids, decimals, times, numbered and pooled text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DECIMAL = pa.decimal128(38, 9)
_HEX_PAIRS = np.array(  # byte -> its two hex digits, packed little-endian into one uint16
    [ord("0123456789abcdef"[b >> 4]) | ord("0123456789abcdef"[b & 15]) << 8 for b in range(256)], dtype=np.uint16
)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplying by it is a bijection on uint64


def hex_ids(rng: np.random.Generator, tag: int, first_row: int, n: int, ordered: bool = False) -> pa.StringArray:
    """`n` ids of 32 lowercase hex chars, unique across every (tag, row) pair; in ascending order if `ordered`.

    The low 64 bits are a bijective scramble of (tag, row); the high 64 bits are random.
    """
    rows = (np.uint64(tag) << np.uint64(40)) | np.arange(first_row, first_row + n, dtype=np.uint64)
    low = rows * _MIX
    low ^= low >> np.uint64(31)
    high = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    low *= _MIX
    if ordered:  # hex text sorts like the (high, low) pair of numbers
        order = np.argsort(high)
        if np.any(np.diff(high[order]) == 0):
            order = np.lexsort((low, high))
        high, low = high[order], low[order]
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0] = high
    words[:, 1] = low
    pairs = _HEX_PAIRS[words.view(np.uint8).reshape(n, 16)]
    offsets = np.arange(0, 32 * (n + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(pairs))


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))


def decimals(unscaled: np.ndarray, places: int, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(38, 9) values `unscaled / 10**places` (exact; no floats involved)."""
    values = unscaled.astype(np.int64) * np.int64(10 ** (9 - places))
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    buffers = [_validity(valid), pa.py_buffer(words)]
    return pa.Array.from_buffers(DECIMAL, len(values), buffers, null_count=-1)


def timestamps(ms: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """timestamp('ms') values (naive UTC) from epoch milliseconds."""
    return pa.array(ms.astype(np.int64), type=pa.timestamp("ms"), mask=None if valid is None else ~valid)


def dates(ms: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """date32 values: the UTC day of each epoch-millisecond instant."""
    days = (ms // 86_400_000).astype(np.int32)
    return pa.array(days, type=pa.date32(), mask=None if valid is None else ~valid)


def integers(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), type=pa.int64(), mask=None if valid is None else ~valid)


def booleans(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(bool), type=pa.bool_())


def numbered(prefix: str, numbers: np.ndarray, width: int = 8) -> pa.Array:
    """Strings like `INV00000042` for each number."""
    digits = pc.utf8_lpad(pa.array(numbers.astype(np.int64)).cast(pa.string()), width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def pooled(pool: Sequence[str | None], index: np.ndarray) -> pa.Array:
    """`pool[index[i]]` for every i, as a string array."""
    return pa.array(list(pool), type=pa.string()).take(pa.array(index.astype(np.int64)))


def pick(rng: np.random.Generator, pool: Sequence[str | None], n: int) -> pa.Array:
    """`n` values drawn uniformly from `pool`."""
    return pooled(pool, rng.integers(0, len(pool), size=n))


def picked(rng: np.random.Generator, pool: Sequence[str], n: int) -> pa.Array:
    """`pick(rng, pool, n)` (the same draws) as a dictionary array over `pool`: no string per value."""
    index = rng.integers(0, len(pool), size=n)
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int8 if len(pool) <= 127 else np.int32)),
                                          pa.array(list(pool), type=pa.string()))


def with_nulls(rng: np.random.Generator, arr: pa.Array, rate: float) -> pa.Array:
    """`arr` with about `rate` of its values replaced by null (an extension array's stored values)."""
    if rate <= 0 or len(arr) == 0:
        return arr
    keep = pa.array(rng.random(len(arr)) >= rate)
    if isinstance(arr, pa.ExtensionArray):
        stored = pc.if_else(keep, arr.storage, pa.nulls(len(arr), arr.storage.type))
        return pa.ExtensionArray.from_storage(arr.type, stored)
    return pc.if_else(keep, arr, pa.nulls(len(arr), arr.type))
