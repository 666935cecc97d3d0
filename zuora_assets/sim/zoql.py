"""The Export ZOQL subset the simulator understands, parsed into a plan that runs on an Arrow table.

Grammar (keywords and names case-insensitive):
    select <field, ... | *> from <Object> [where <cond>] [order by <field> [asc|desc], ...] [limit n | limit o, n]
    cond := cond or cond | cond and cond | not cond | (cond) | <field> <op> <literal> | <field> is [not] null
    op   := = != <> < <= > >=        literal := 'text' | number | true | false | null
A field is `Field`, `Object.Field` (own object) or `Rel.Id` (the own field `RelId`, headed `Rel.Id`).
`*` means every exported field. Datetime literals: `YYYY-MM-DDTHH:MM:SS` with `Z`, `±hh:mm` or `±hhmm`;
no offset = tenant time zone; `YYYY-MM-DD` = the whole tenant-local day. A space-separated datetime
(`'2024-01-01 00:00:00'`) makes Zuora silently ignore the predicate, so the simulator does the same.
Errors raise ZoqlError, which the AQuA layer reports as 90005.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz
from zuora_assets.zuora.catalog import Field, arrow_type

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)|(?P<op>!=|<>|<=|>=|=|<|>)|(?P<punct>[(),*]))"
)
_OPS = {"=": pc.equal, "!=": pc.not_equal, "<>": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
        ">": pc.greater, ">=": pc.greater_equal}
TRUE = pc.scalar(True)


class ZoqlError(ValueError):
    """A query the simulator (like Zuora) refuses; the message names the problem."""


@dataclass(frozen=True)
class Column:
    """One output column: its CSV header (`Account.Name`) and the field it reads."""

    header: str
    field: Field


@dataclass(frozen=True)
class ExportQuery:
    """A parsed export query: which columns, which rows, in which order."""

    object: str
    columns: tuple[Column, ...]
    where: pc.Expression | None
    order: tuple[tuple[str, str], ...]
    offset: int = 0
    limit: int | None = None

    def run(self, table: pa.Table) -> pa.Table:
        """Filter, sort and slice `table` (all fields + extra columns kept, selection happens at output)."""
        if self.where is not None:
            table = table.filter(self.where)
        if self.order:
            table = table.sort_by(list(self.order))
        if self.offset or self.limit is not None:
            table = table.slice(self.offset, self.limit)
        return table


@dataclass
class _Token:
    kind: str
    text: str

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


def tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    text = text.rstrip().rstrip(";")
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ZoqlError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos}")
        kind = m.lastgroup
        if kind is None:
            break
        tokens.append(_Token(kind, m.group(kind)))
        pos = m.end()
    return tokens


FieldsOf = Callable[[str], tuple[str, dict[str, Field]]]


def parse(text: str, fields_of: FieldsOf, tenant_tz: str) -> ExportQuery:
    """Parse an Export ZOQL query; `fields_of(object)` gives (canonical object name, exported fields by lower name)."""
    return _Parser(tokenize(text), fields_of, tenant_tz).query()


class _Parser:
    def __init__(self, tokens: list[_Token], fields_of: FieldsOf, tenant_tz: str):
        self.tokens, self.pos, self.fields_of, self.tz = tokens, 0, fields_of, tenant_tz
        self.object, self.fields = "", {}

    # ----- token helpers -----

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise ZoqlError(f"the query ends where {what} was expected")
        self.pos += 1
        return tok

    def accept(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and (tok.word == word or (tok.kind in ("punct", "op") and tok.text == word)):
            self.pos += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.accept(word):
            tok = self.peek()
            raise ZoqlError(f"expected {word!r} but found {tok.text if tok else 'the end of the query'!r}")

    # ----- grammar -----

    def query(self) -> ExportQuery:
        self.expect("select")
        start = self.pos
        while self.peek() is not None and self.peek().word != "from":
            self.pos += 1
        select_tokens, _ = self.tokens[start:self.pos], self.expect("from")
        obj = self.next("an object name")
        self.object, self.fields = self.fields_of(obj.text)
        columns = self.select_list(select_tokens)
        where = self.condition() if self.accept("where") else None
        order = self.order_by() if self.accept("order") else ()
        offset, limit = self.limit() if self.accept("limit") else (0, None)
        if self.peek() is not None:
            raise ZoqlError(f"unexpected {self.peek().text!r} after the end of the query")
        return ExportQuery(self.object, columns, where, order, offset, limit)

    def select_list(self, tokens: list[_Token]) -> tuple[Column, ...]:
        if len(tokens) == 1 and tokens[0].text == "*":
            return tuple(Column(f"{self.object}.{f.name}", f) for f in self.fields.values())
        names = [t for t in tokens if t.text != ","]
        if not names or any(t.kind != "name" for t in names) or len(tokens) != 2 * len(names) - 1:
            raise ZoqlError("the select list must be '*' or field names separated by commas")
        return tuple(self.column(t.text) for t in names)

    def column(self, name: str) -> Column:
        prefix, _, rest = name.rpartition(".")
        if not prefix or prefix.lower() == self.object.lower():
            f = self.fields.get((rest or name).lower())
            if f is not None:
                return Column(f"{self.object}.{f.name}", f)
        elif rest.lower() == "id" and (prefix + "id").lower() in self.fields:
            return Column(f"{prefix}.Id", self.fields[(prefix + "id").lower()])
        raise ZoqlError(f"There is no field named {name}")

    def condition(self) -> pc.Expression:
        expr = self.conjunction()
        while self.accept("or"):
            expr = expr | self.conjunction()
        return expr

    def conjunction(self) -> pc.Expression:
        expr = self.unary()
        while self.accept("and"):
            expr = expr & self.unary()
        return expr

    def unary(self) -> pc.Expression:
        if self.accept("not"):
            return ~self.unary()
        if self.accept("("):
            expr = self.condition()
            self.expect(")")
            return expr
        return self.predicate()

    def predicate(self) -> pc.Expression:
        tok = self.next("a field name")
        if tok.kind != "name":
            raise ZoqlError(f"expected a field name but found {tok.text!r}")
        f = self.column(tok.text).field
        ref = pc.field(f.name)
        if self.accept("is"):
            negate = self.accept("not")
            self.expect("null")
            return ~ref.is_null() if negate else ref.is_null()
        op = self.next("a comparison operator")
        if op.kind != "op":
            raise ZoqlError(f"expected a comparison operator after {tok.text} but found {op.text!r}")
        lit = self.next("a literal value")
        if lit.word == "null":
            if op.text not in ("=", "!=", "<>"):
                raise ZoqlError(f"null can only be compared with = or != (in {tok.text} {op.text} null)")
            return ref.is_null() if op.text == "=" else ~ref.is_null()
        return self.compare(f, op.text, lit)

    def compare(self, f: Field, op: str, lit: _Token) -> pc.Expression:
        if lit.kind not in ("str", "num") and lit.word not in ("true", "false"):
            raise ZoqlError(f"expected a literal after {f.name} {op} but found {lit.text!r}")
        text = lit.text[1:-1].replace("''", "'").replace("\\'", "'") if lit.kind == "str" else lit.text
        ref = pc.field(f.name)
        if f.type == "datetime":
            return _datetime_predicate(ref, op, text, self.tz)
        try:
            value = _typed_literal(f, text)
        except (ValueError, InvalidOperation) as e:
            raise ZoqlError(f"{text!r} is not a valid {f.type} value for {f.name}") from e
        return _OPS[op](ref, pa.scalar(value, type=arrow_type(f.type)))

    def order_by(self) -> tuple[tuple[str, str], ...]:
        self.expect("by")
        items = []
        while True:
            tok = self.next("a field name")
            f = self.column(tok.text).field
            direction = "descending" if self.accept("desc") else "ascending"
            if direction == "ascending":
                self.accept("asc")
            items.append((f.name, direction))
            if not self.accept(","):
                return tuple(items)

    def limit(self) -> tuple[int, int | None]:
        first = self.next("a number")
        if first.kind != "num" or not first.text.isdigit():
            raise ZoqlError(f"limit takes a whole number, not {first.text!r}")
        if self.accept(","):
            second = self.next("a number")
            if second.kind != "num" or not second.text.isdigit():
                raise ZoqlError(f"limit takes a whole number, not {second.text!r}")
            return int(first.text), int(second.text)
        return 0, int(first.text)


def _typed_literal(f: Field, text: str) -> object:
    if f.type == "integer":
        return int(text)
    if f.type == "decimal":
        return Decimal(text)
    if f.type == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    if f.type == "date":
        return date.fromisoformat(text[:10])
    return text


def _datetime_predicate(ref: pc.Expression, op: str, text: str, tenant_tz: str) -> pc.Expression:
    try:
        lit = tz.parse_literal(text, tenant_tz)
    except ValueError as e:
        raise ZoqlError(str(e)) from e
    if lit.ignored:
        return TRUE
    start = pa.scalar(tz.from_ms(lit.start).replace(tzinfo=None), type=pa.timestamp("ms"))
    if not lit.is_day:
        return _OPS[op](ref, start)
    end = pa.scalar(tz.from_ms(lit.end).replace(tzinfo=None), type=pa.timestamp("ms"))
    return {
        "=": (ref >= start) & (ref < end),
        "!=": (ref < start) | (ref >= end),
        "<>": (ref < start) | (ref >= end),
        "<": ref < start,
        "<=": ref < end,
        ">": ref >= end,
        ">=": ref >= start,
    }[op]
