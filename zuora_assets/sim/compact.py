"""Compact storage of generated columns, and their expansion back to the Arrow types the simulator serves.

A big simulated tenant is mostly a few models with many rows, whose foreign keys and picked values repeat a
few hundred distinct 32-char ids or words, whose numbered texts (`BookingReference-00012345`) are a prefix
and a number, and whose generated decimals all fit in an int64. Stored as they are served (a string per row,
16 bytes per decimal) an InvoiceItem row takes ~680 bytes; stored compactly (dictionary arrays: a narrow
integer per row over the distinct values; numbered texts as their numbers; decimals as their int64 count of
10**-9) about a quarter of that. Compaction never changes a value: `expand` gives back exactly the served column, and
every reader of a segment goes through it (`versions.conform`), so no query, join, filter or rendering ever
sees a compact column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SAMPLE = 4096  # values looked at before dictionary-encoding a whole string column
DECIMAL_SCALE = 9  # the served decimal128(38, 9)
DIGITS = 8  # numbered texts: the prefix, then the number zero-padded to (at least) 8 digits (`columns.numbered`)


class Numbered(pa.ExtensionType):
    """Texts `prefix + zero-padded number`, stored as the numbers (int32 or int64)."""

    def __init__(self, storage: pa.DataType, prefix: str):
        self.prefix = prefix
        super().__init__(storage, "zuora_sim.numbered")

    def __arrow_ext_serialize__(self) -> bytes:
        return self.prefix.encode()

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> Numbered:
        return cls(storage_type, serialized.decode())


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
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(_index_type(len(values)).to_pandas_dtype()),
                                                   mask=mask), values)


def compact(arr: pa.Array) -> pa.Array:
    """`arr` stored compactly when that saves memory: strings, timestamps and dates with few distinct values as
    a dictionary array, decimal128(38, 9) values that all fit in an int64 as that int64; else as it is."""
    if isinstance(arr, pa.DictionaryArray) and len(arr.dictionary) > len(arr):  # keep only the values it uses
        return compact(pc.cast(arr, arr.type.value_type))
    if _repeats(arr.type) and len(arr) > 1:
        sample = arr.slice(0, SAMPLE)
        if pc.count_distinct(sample, mode="all").as_py() * 2 > len(sample):
            return _numbered(arr) if pa.types.is_string(arr.type) else arr
        encoded = pc.dictionary_encode(arr)
        if len(encoded.dictionary) * 2 > len(arr):
            return arr
        return pa.DictionaryArray.from_arrays(encoded.indices.cast(_index_type(len(encoded.dictionary))),
                                              encoded.dictionary)
    if arr.type == pa.decimal128(38, DECIMAL_SCALE) and arr.offset == 0:
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=2 * len(arr)).reshape(-1, 2)
        if np.array_equal(words[:, 1], words[:, 0] >> 63):
            return pa.Array.from_buffers(pa.int64(), len(arr), [arr.buffers()[0], pa.py_buffer(words[:, 0].copy())],
                                         null_count=arr.null_count)
    return arr


def _numbered(arr: pa.Array) -> pa.Array:
    """`arr` as a `Numbered` array when every value is one prefix and a number (checked by writing them back)."""
    first = pc.drop_null(arr.slice(0, SAMPLE))
    if len(first) == 0 or len(first[0].as_py()) < DIGITS:
        return arr
    prefix = first[0].as_py()[:-DIGITS]
    try:
        numbers = pc.cast(pc.utf8_slice_codeunits(arr, len(prefix)), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return arr
    if not pc.all(pc.equal(_texts(prefix, numbers), arr)).as_py():
        return arr
    low, high = pc.min_max(numbers).values()
    if low.is_valid and low.as_py() >= -(2**31) and high.as_py() < 2**31:
        numbers = numbers.cast(pa.int32())
    return pa.ExtensionArray.from_storage(Numbered(numbers.type, prefix), numbers)


def scaled(unscaled: np.ndarray, places: int) -> pa.Array:
    """`columns.decimals(unscaled, places)` stored as its int64 count of 10**-9 (served as decimal128(38, 9))."""
    return pa.array(unscaled.astype(np.int64) * np.int64(10 ** (DECIMAL_SCALE - places)))


def numbered(prefix: str, numbers: np.ndarray) -> pa.Array:
    """`columns.numbered(prefix, numbers)` (texts like `INV00000042`), stored as the numbers."""
    fits = len(numbers) == 0 or (numbers.min() >= -(2**31) and numbers.max() < 2**31)
    stored = pa.array(numbers.astype(np.int32 if fits else np.int64))
    return pa.ExtensionArray.from_storage(Numbered(stored.type, prefix), stored)


def _texts(prefix: str, numbers: pa.Array) -> pa.Array:
    """`prefix` + each number zero-padded to DIGITS digits, as `columns.numbered` writes them."""
    digits = pc.utf8_lpad(pc.cast(numbers, pa.string()), DIGITS, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _repeats(t: pa.DataType) -> bool:
    """Whether a column of type `t` is worth a dictionary when its values repeat."""
    return pa.types.is_string(t) or pa.types.is_timestamp(t) or pa.types.is_date32(t)


def _index_type(n: int) -> pa.DataType:
    """The narrowest signed index type that numbers `n` dictionary values."""
    return pa.int8() if n <= 127 else pa.int16() if n <= 32_767 else pa.int32()


def expand(column: pa.ChunkedArray, served: pa.DataType) -> pa.ChunkedArray:
    """A stored column as the simulator serves it (type `served`), value for value."""
    if column.type == served:
        return column
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, served)
    if isinstance(column.type, Numbered):
        return pa.chunked_array([_texts(column.type.prefix, chunk.storage) for chunk in column.chunks], served)
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
