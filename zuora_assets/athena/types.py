"""Column types: Arrow <-> Glue (Hive DDL) type strings, Presto/Trino view types, and lossless widening."""

from __future__ import annotations

import re
from typing import NoReturn

import pyarrow as pa

from zuora_assets.athena.errors import CatalogError, UnsupportedType

MAX_DECIMAL_PRECISION = 38

_INTEGERS = {pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint"}
_UNSIGNED = {pa.uint8(): "smallint", pa.uint16(): "int", pa.uint32(): "bigint"}
_FLOATS = {pa.float32(): "float", pa.float64(): "double"}

# Glue primitive type names (and the aliases Athena/Trino accept) -> Arrow type.
_GLUE_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms"),
    "binary": pa.binary(),
    "varbinary": pa.binary(),
}

# Lossless widenings Athena documents for Parquet read by name: a ladder each; a type may move up its ladder.
_LADDERS = (("tinyint", "smallint", "int", "bigint"), ("float", "double"))


def glue_type(arrow_type: pa.DataType) -> str:
    """The Glue column type of an Arrow type: int64 -> `bigint`, decimal128(38, 9) -> `decimal(38,9)`.

    Raises UnsupportedType for types Athena cannot read faithfully (uint64, time, duration, ...).
    """
    t = arrow_type
    if pa.types.is_dictionary(t):
        return glue_type(t.value_type)
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_null(t)
    ):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    for table in (_INTEGERS, _UNSIGNED, _FLOATS):
        if t in table:
            return table[t]
    if pa.types.is_decimal(t) and t.precision <= MAX_DECIMAL_PRECISION:
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    return _nested_glue_type(t)


def _nested_glue_type(t: pa.DataType) -> str:
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in t) + ">"
    raise UnsupportedType(
        f"Arrow type {t} has no Glue/Athena column type: cast it before writing "
        f"(uint64 -> decimal(20,0) or string, time -> string, duration -> bigint)."
    )


def glue_columns(schema: pa.Schema) -> list[dict]:
    """Glue `Columns` (`[{"Name", "Type"}]`) for every field of an Arrow schema, in order."""
    columns = []
    for f in schema:
        try:
            columns.append({"Name": f.name, "Type": glue_type(f.type)})
        except UnsupportedType as e:
            raise UnsupportedType(f"column {f.name!r}: {e}") from None
    return columns


def arrow_type_from_glue(s: str) -> pa.DataType:
    """The Arrow type of a Glue type string (`decimal(38,9)`, `array<struct<a:int>>`, `varchar(10)`, ...)."""
    parser = _TypeParser(s)
    t = parser.parse_type()
    parser.expect_end()
    return t


def normalize_glue_type(s: str) -> str:
    """The canonical spelling of a Glue type: `INTEGER` -> `int`, `decimal(38, 9)` -> `decimal(38,9)`."""
    return glue_type(arrow_type_from_glue(s))


def widening_allowed(old_glue: str, new_glue: str) -> bool:
    """True when a column of type `old_glue` may become `new_glue` without rewriting files (equal types,
    tinyint -> smallint -> int -> bigint, float -> double)."""
    old, new = normalize_glue_type(old_glue), normalize_glue_type(new_glue)
    if old == new:
        return True
    return any(
        old in ladder and new in ladder and ladder.index(new) > ladder.index(old) for ladder in _LADDERS
    )


def presto_type(glue: str) -> str:
    """The Presto/Trino type Athena shows for a Glue type: `string` -> `varchar`, `timestamp` -> `timestamp(3)`."""
    return _presto(arrow_type_from_glue(glue))


def _presto(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "varchar"
    if pa.types.is_int32(t):
        return "integer"
    if pa.types.is_float32(t):
        return "real"
    if pa.types.is_timestamp(t):
        return "timestamp(3)"
    if pa.types.is_binary(t):
        return "varbinary"
    if pa.types.is_list(t):
        return f"array({_presto(t.value_type)})"
    if pa.types.is_map(t):
        return f"map({_presto(t.key_type)}, {_presto(t.item_type)})"
    if pa.types.is_struct(t):
        return "row(" + ", ".join(f"{f.name} {_presto(f.type)}" for f in t) + ")"
    return glue_type(t)


class _TypeParser:
    """A recursive-descent parser of Hive/Glue type strings into Arrow types."""

    _TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text.rstrip()):
            m = self._TOKEN.match(text, pos)
            if not m:
                self._fail(f"unexpected character at position {pos}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.pos = 0

    def _fail(self, why: str) -> NoReturn:
        raise CatalogError(
            f"Glue column type {self.text!r} cannot be read ({why}); fix the type in the table."
        )

    def _next(self) -> str:
        if self.pos >= len(self.tokens):
            self._fail("it ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _expect(self, token: str) -> None:
        if self._next() != token:
            self._fail(f"expected {token!r}")

    def expect_end(self) -> None:
        if self._peek() is not None:
            self._fail(f"unexpected {self._peek()!r}")

    def _numbers(self) -> list[int]:
        if self._peek() != "(":
            return []
        self._next()
        numbers = [self._next()]
        while self._peek() == ",":
            self._next()
            numbers.append(self._next())
        self._expect(")")
        if not all(n.isdigit() for n in numbers):
            self._fail("type arguments must be numbers")
        return [int(n) for n in numbers]

    def parse_type(self) -> pa.DataType:
        name = self._next().lower()
        if name == "array":
            self._expect("<")
            item = self.parse_type()
            self._expect(">")
            return pa.list_(item)
        if name == "map":
            self._expect("<")
            key = self.parse_type()
            self._expect(",")
            value = self.parse_type()
            self._expect(">")
            return pa.map_(key, value)
        if name == "struct":
            return self._struct()
        return self._primitive(name, self._numbers())

    def _struct(self) -> pa.DataType:
        self._expect("<")
        fields = []
        while True:
            field_name = self._next()
            self._expect(":")
            fields.append(pa.field(field_name, self.parse_type()))
            if self._next() == ">":
                return pa.struct(fields)
            self.pos -= 1
            self._expect(",")

    def _primitive(self, name: str, args: list[int]) -> pa.DataType:
        if name in ("decimal", "numeric"):
            precision, scale = (args + [10, 0][len(args) :])[:2]  # Hive's default is decimal(10,0)
            if not 1 <= precision <= MAX_DECIMAL_PRECISION or not 0 <= scale <= precision:
                self._fail(f"decimal({precision},{scale}) is out of range")
            return pa.decimal128(precision, scale)
        if name in _GLUE_PRIMITIVES:
            return _GLUE_PRIMITIVES[name]
        self._fail(f"unknown type {name!r}")
