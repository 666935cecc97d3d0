"""Compact storage of generated columns, and their expansion back to the Arrow types the simulator serves.

A big simulated tenant is mostly a few models with many rows, whose foreign keys and picked values repeat a
few hundred distinct 32-char ids or words, and whose generated decimals all fit in an int64. Stored as they
are served (a string per row, 16 bytes per decimal) an InvoiceItem row takes ~680 bytes; stored compactly
(dictionary arrays: an int32 per row over the distinct values; decimals as their int64 count of 10**-9)
about a third of that. Compaction never changes a value: `expand` gives back exactly the served column, and
every reader of a segment goes through it (`versions.conform`), so no query, join, filter or rendering ever
sees a compact column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SAMPLE = 4096  # values looked at before dictionary-encoding a whole string column
DECIMAL_SCALE = 9  # the served decimal128(38, 9)


def dictionary(indices: np.ndarray, values: pa.Array) -> pa.Array:
    """`values[indices[i]]` (null where the index is -1) as a dictionary array over `values`, not a copy of them.

    Strings only (a dictionary array of `values` when it is one already); other types are taken as usual.
    """
    mask = indices < 0
    if isinstance(values, pa.DictionaryArray):
        taken = values.indices.take(pa.array(indices.astype(np.int64), mask=mask))
        return pa.DictionaryArray.from_arrays(taken, values.dictionary)
    if not pa.types.is_string(values.type):
        return values.take(pa.array(indices.astype(np.int64), mask=mask))
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=mask), values)


def compact(arr: pa.Array) -> pa.Array:
    """`arr` stored compactly when that saves memory: strings with few distinct values as a dictionary array,
    decimal128(38, 9) values that all fit in an int64 as that int64; anything else as it is."""
    if pa.types.is_string(arr.type) and len(arr) > 1:
        sample = arr.slice(0, SAMPLE)
        if pc.count_distinct(sample, mode="all").as_py() * 2 > len(sample):
            return arr
        encoded = pc.dictionary_encode(arr)
        return encoded if len(encoded.dictionary) * 2 <= len(arr) else arr
    if arr.type == pa.decimal128(38, DECIMAL_SCALE) and arr.offset == 0:
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=2 * len(arr)).reshape(-1, 2)
        if np.array_equal(words[:, 1], words[:, 0] >> 63):
            return pa.Array.from_buffers(pa.int64(), len(arr), [arr.buffers()[0], pa.py_buffer(words[:, 0].copy())],
                                         null_count=arr.null_count)
    return arr


def expand(column: pa.ChunkedArray, served: pa.DataType) -> pa.ChunkedArray:
    """A stored column as the simulator serves it (type `served`), value for value."""
    if column.type == served:
        return column
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, served)
    if pa.types.is_int64(column.type) and pa.types.is_decimal(served):
        return pa.chunked_array([_decimals(chunk, served) for chunk in column.chunks], served)
    raise TypeError(f"a stored column of type {column.type} cannot be served as {served}")


def _decimals(chunk: pa.Array, served: pa.DataType) -> pa.Array:
    values = pc.fill_null(chunk, 0).to_numpy()  # int64, exactly (no float on the way)
    words = np.empty((len(chunk), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    validity = pc.is_valid(chunk).buffers()[1] if chunk.null_count else None
    return pa.Array.from_buffers(served, len(chunk), [validity, pa.py_buffer(words.tobytes())],
                                 null_count=chunk.null_count)
