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
The parsed query also knows which UpdatedDate range its condition implies (`span`), so that it runs on
the rows of that range only (found by binary search), whether that range alone decides the condition
(`span_exact`, e.g. a window `UpdatedDate >= a and UpdatedDate < b`), and which fields the condition reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz
from zuora_assets.sim.versions import INF_MS, Rows, Span
from zuora_assets.zuora.catalog import Field, arrow_type

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)|(?P<op>!=|<>|<=|>=|=|<|>)|(?P<punct>[(),*]))"
)
_OPS = {"=": pc.equal, "!=": pc.not_equal, "<>": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
        ">": pc.greater, ">=": pc.greater_equal}
TRUE = pc.scalar(True)
CURSOR = "UpdatedDate"
_POSITION = "__position"


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
    span: Span | None = None
    span_exact: bool = False
    where_fields: tuple[str, ...] = ()

    def run(self, rows: Rows) -> Rows:
        """Filter, sort and slice `rows`, the candidates whose UpdatedDate is in `span`.

        Only the columns the query reads are built; a condition that `span` decides is not evaluated again.
        """
        if self.where is not None and not self.span_exact and len(rows):
            narrow = rows.columns(self.where_fields).append_column(_POSITION, pa.array(np.arange(len(rows))))
            rows = rows.take(narrow.filter(self.where).column(_POSITION).to_numpy())
        if self.order and len(rows):
            keys = rows.columns([name for name, _ in self.order])
            if not _in_order(keys, self.order):
                rows = rows.take(pc.sort_indices(keys, sort_keys=list(self.order)).to_numpy())
        return rows.slice(self.offset, None if self.limit is None else self.offset + self.limit)


def _in_order(keys: pa.Table, order: tuple[tuple[str, str], ...]) -> bool:
    """Whether `keys` already are in `order` (rows often come sorted); False means: sort them.

    Checked in one linear pass for a single key without nulls; anything else is sorted.
    """
    if keys.num_rows < 2:
        return True
    if len(order) != 1 or keys.column(0).null_count:
        return False
    values = keys.column(0).combine_chunks()
    ascending = pc.less_equal if order[0][1] == "ascending" else pc.greater_equal
    return pc.all(ascending(values[:-1], values[1:])).as_py()


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


@dataclass(frozen=True)
class _Cond:
    """A parsed condition and the UpdatedDate range every row it keeps lies in (None = any).

    `exact`: the range alone decides the condition (rows in it need no further check).
    """

    expr: pc.Expression
    span: Span | None = None
    exact: bool = False

    def __and__(self, other: _Cond) -> _Cond:
        spans = [s for s in (self.span, other.span) if s is not None]
        span = (max(s[0] for s in spans), min(s[1] for s in spans)) if spans else None
        return _Cond(self.expr & other.expr, span, self.exact and other.exact)

    def __or__(self, other: _Cond) -> _Cond:
        both = self.span is not None and other.span is not None
        span = (min(self.span[0], other.span[0]), max(self.span[1], other.span[1])) if both else None
        return _Cond(self.expr | other.expr, span)


class _Parser:
    def __init__(self, tokens: list[_Token], fields_of: FieldsOf, tenant_tz: str):
        self.tokens, self.pos, self.fields_of, self.tz = tokens, 0, fields_of, tenant_tz
        self.object, self.fields = "", {}
        self.read: dict[str, None] = {}  # fields the condition reads, in order

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
        return ExportQuery(self.object, columns, where.expr if where else None, order, offset, limit,
                           where.span if where else None, where.exact if where else False, tuple(self.read))

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

    def condition(self) -> _Cond:
        cond = self.conjunction()
        while self.accept("or"):
            cond = cond | self.conjunction()
        return cond

    def conjunction(self) -> _Cond:
        cond = self.unary()
        while self.accept("and"):
            cond = cond & self.unary()
        return cond

    def unary(self) -> _Cond:
        if self.accept("not"):
            return _Cond(~self.unary().expr)
        if self.accept("("):
            cond = self.condition()
            self.expect(")")
            return cond
        return self.predicate()

    def predicate(self) -> _Cond:
        tok = self.next("a field name")
        if tok.kind != "name":
            raise ZoqlError(f"expected a field name but found {tok.text!r}")
        f = self.column(tok.text).field
        self.read[f.name] = None
        ref = pc.field(f.name)
        if self.accept("is"):
            negate = self.accept("not")
            self.expect("null")
            return _Cond(~ref.is_null() if negate else ref.is_null())
        op = self.next("a comparison operator")
        if op.kind != "op":
            raise ZoqlError(f"expected a comparison operator after {tok.text} but found {op.text!r}")
        lit = self.next("a literal value")
        if lit.word == "null":
            if op.text not in ("=", "!=", "<>"):
                raise ZoqlError(f"null can only be compared with = or != (in {tok.text} {op.text} null)")
            return _Cond(ref.is_null() if op.text == "=" else ~ref.is_null())
        return self.compare(f, op.text, lit)

    def compare(self, f: Field, op: str, lit: _Token) -> _Cond:
        if lit.kind not in ("str", "num") and lit.word not in ("true", "false"):
            raise ZoqlError(f"expected a literal after {f.name} {op} but found {lit.text!r}")
        text = lit.text[1:-1].replace("''", "'").replace("\\'", "'") if lit.kind == "str" else lit.text
        ref = pc.field(f.name)
        if f.type == "datetime":
            return _datetime_predicate(ref, op, text, self.tz, f.name == CURSOR)
        try:
            value = _typed_literal(f, text)
        except (ValueError, InvalidOperation) as e:
            raise ZoqlError(f"{text!r} is not a valid {f.type} value for {f.name}") from e
        return _Cond(_OPS[op](ref, pa.scalar(value, type=arrow_type(f.type))))

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


def _datetime_predicate(ref: pc.Expression, op: str, text: str, tenant_tz: str, cursor: bool) -> _Cond:
    """A datetime comparison; on the cursor field (UpdatedDate) also the range of epoch ms it keeps."""
    try:
        lit = tz.parse_literal(text, tenant_tz)
    except ValueError as e:
        raise ZoqlError(str(e)) from e
    if lit.ignored:
        return _Cond(TRUE, exact=True)
    lo, hi = lit.start, lit.end if lit.is_day else lit.start + 1  # the instants the literal stands for
    span = {"=": (lo, hi), "<": (-INF_MS, lo), "<=": (-INF_MS, hi), ">": (hi, INF_MS), ">=": (lo, INF_MS)}.get(op)
    start = pa.scalar(tz.from_ms(lit.start).replace(tzinfo=None), type=pa.timestamp("ms"))
    if not lit.is_day:
        return _Cond(_OPS[op](ref, start), span if cursor else None, cursor and span is not None)
    end = pa.scalar(tz.from_ms(lit.end).replace(tzinfo=None), type=pa.timestamp("ms"))
    expr = {
        "=": (ref >= start) & (ref < end),
        "!=": (ref < start) | (ref >= end),
        "<>": (ref < start) | (ref >= end),
        "<": ref < start,
        "<=": ref < end,
        ">": ref >= end,
        ">=": ref >= start,
    }[op]
    return _Cond(expr, span if cursor else None, cursor and span is not None)
