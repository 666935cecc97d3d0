"""The ZOQL the simulator understands, parsed into a `plan.ExportQuery`, in Zuora's two dialects.

Export ZOQL (AQuA, object export; docs.zuora.com .../legacy-query-methods/export-zoql, "Export ZOQL Select
Statements" and "Export ZOQL Filter Statements"):
    select <field, ... | * | Join.* > from <Object> [where <cond>] [order by <field> [asc|desc], ...]
        [limit n | limit o, n]
    cond := cond or cond | cond and cond | not cond | (cond) | <field> <op> <literal> | <field> like 'p%'
          | <field> is [not] null | <field> = null | <field> != null
    op   := = != <> < <= > >=        literal := 'text' | number | true | false | null
Keywords and names are case-insensitive. A field is `Field`, `Object.Field` (own object) or `Join.Field` for
an object the data source joins (`BillToContact.WorkEmail` on InvoiceItem; catalog `joins`); `*` means the
exported fields. Datetime literals per `tz.parse_literal`; numbers may be quoted. `like` takes `%` and `_`
(strings only). Comparing two fields, and `in`, are not Export ZOQL (the filter table lists no `in`).

ZOQL (the REST query action, docs .../legacy-query-methods/zoql and "Filter statements"): one object, no
joins, no `*`, no `order by` or `limit`, no parentheses (`and` binds tighter than `or`), keywords in lower
case, no `in` ("Zuora does not support ... IN operator"), at most 200 conditions.

Names follow `catalog.API_NAME` (ASCII), the same rule the control plane applies to custom fields, so
every field the simulator accepts can be queried. Errors raise ZoqlError (AQuA reports 90005).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import pyarrow.compute as pc

from zuora_assets.sim.plan import CURSOR, Column, Cond, ExportQuery, ZoqlError, compare, like
from zuora_assets.zuora.catalog import API_NAME, Field

__all__ = ["EXPORT", "ZOQL", "Schema", "ZoqlError", "parse", "tokenize"]

EXPORT, ZOQL = "export", "zoql"
MAX_CONDITIONS = 200
_TOKEN = re.compile(
    rf"\s*(?:(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>-?\d+(?:\.\d+)?)"
    rf"|(?P<name>{API_NAME}(?:\.(?:{API_NAME}|\*))?)|(?P<op>!=|<>|<=|>=|=|<|>)|(?P<punct>[(),*]))"
)


class Schema(Protocol):
    """What the parser needs to know about the tenant's objects."""

    def object(self, name: str) -> tuple[str, dict[str, Field]]:
        """(canonical object name, exported fields by lower-case name); ZoqlError for an unknown object."""

    def join(self, obj: str, name: str) -> tuple[str, tuple[str, ...], dict[str, Field]] | None:
        """(canonical join name, foreign-key chain, the joined object's fields), or None when `obj` has no such join."""


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


def parse(text: str, schema: Schema, tenant_tz: str, dialect: str = EXPORT) -> ExportQuery:
    """Parse a query of `dialect` (EXPORT or ZOQL) against `schema`."""
    return _Parser(tokenize(text), schema, tenant_tz, dialect).query()


class _Parser:
    def __init__(self, tokens: list[_Token], schema: Schema, tenant_tz: str, dialect: str):
        self.tokens, self.pos, self.schema, self.tz, self.dialect = tokens, 0, schema, tenant_tz, dialect
        self.object, self.fields = "", {}
        self.read: dict[str, None] = {}  # own fields the condition reads, in order
        self.read_joins: dict[str, Column] = {}  # joined columns the condition reads

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
            if self.dialect == ZOQL and tok.kind == "name" and tok.text != word:
                raise ZoqlError(f"ZOQL keywords must be in lower case; found {tok.text!r}")
            self.pos += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.accept(word):
            tok = self.peek()
            raise ZoqlError(f"expected {word!r} but found {tok.text if tok else 'the end of the query'!r}")

    def refuse(self, what: str) -> None:
        raise ZoqlError(f"{what} is not supported in ZOQL queries (the REST query action); use Export ZOQL")

    # ----- grammar -----

    def query(self) -> ExportQuery:
        self.expect("select")
        start = self.pos
        while self.peek() is not None and self.peek().word != "from":
            self.pos += 1
        select_tokens, _ = self.tokens[start:self.pos], self.expect("from")
        obj = self.next("an object name")
        self.object, self.fields = self.schema.object(obj.text)
        columns = self.select_list(select_tokens)
        where = self.condition() if self.accept("where") else None
        if where is not None and self.dialect == ZOQL and where.count > MAX_CONDITIONS:
            raise ZoqlError(f"the query has {where.count} conditions; ZOQL allows at most {MAX_CONDITIONS}")
        order = self.order_by() if self.accept("order") else ()
        offset, limit = self.limit() if self.accept("limit") else (0, None)
        if self.peek() is not None:
            raise ZoqlError(f"unexpected {self.peek().text!r} after the end of the query")
        return ExportQuery(self.object, columns, where.expr if where else None, order, offset, limit,
                           where.span if where else None, where.exact if where else False, tuple(self.read),
                           tuple(self.read_joins.values()))

    def select_list(self, tokens: list[_Token]) -> tuple[Column, ...]:
        names = [t for t in tokens if t.text != ","]
        if not names or any(t.kind == "punct" and t.text != "*" for t in names) or len(tokens) != 2 * len(names) - 1:
            raise ZoqlError("the select list must be '*' or field names separated by commas")
        columns: list[Column] = []
        for t in names:
            if t.text == "*" or t.text.endswith(".*"):
                if self.dialect == ZOQL:
                    self.refuse("the * wildcard")
                columns += self.wildcard(t.text[:-2] if t.text != "*" else "")
            elif t.kind == "name":
                columns.append(self.column(t.text))
            else:
                raise ZoqlError(f"expected a field name in the select list but found {t.text!r}")
        return tuple(columns)

    def wildcard(self, prefix: str) -> list[Column]:
        if not prefix or prefix.lower() == self.object.lower():
            return [Column(f"{self.object}.{f.name}", f) for f in self.fields.values()]
        found = self.schema.join(self.object, prefix)
        if found is None:
            raise ZoqlError(f"There is no object named {prefix} in the {self.object} data source")
        join, chain, fields = found
        return [Column(f"{join}.{f.name}", f, chain) for f in fields.values()]

    def column(self, name: str) -> Column:
        prefix, _, rest = name.rpartition(".")
        if not prefix or prefix.lower() == self.object.lower():
            f = self.fields.get((rest or name).lower())
            if f is not None:
                return Column(f"{self.object}.{f.name}", f)
            raise ZoqlError(f"There is no field named {name}")
        if self.dialect == ZOQL:
            self.refuse(f"joining {prefix}")
        found = self.schema.join(self.object, prefix)
        if found is None:
            raise ZoqlError(f"There is no field named {name}")
        join, chain, fields = found
        f = fields.get(rest.lower())
        if f is None:
            raise ZoqlError(f"There is no field named {name}")
        own_key = self.fields.get(chain[0].lower())
        if len(chain) == 1 and f.name == "Id" and own_key is not None:
            return Column(f"{join}.Id", own_key)  # the foreign key itself
        return Column(f"{join}.{f.name}", f, chain)

    def condition(self) -> Cond:
        cond = self.conjunction()
        while self.accept("or"):
            cond = cond | self.conjunction()
        return cond

    def conjunction(self) -> Cond:
        cond = self.unary()
        while self.accept("and"):
            cond = cond & self.unary()
        return cond

    def unary(self) -> Cond:
        if self.accept("not"):
            inner = self.unary()
            return Cond(~inner.expr, count=inner.count)
        if self.peek() is not None and self.peek().text == "(":
            if self.dialect == ZOQL:
                self.refuse("parentheses")
            self.next("(")
            cond = self.condition()
            self.expect(")")
            return cond
        return self.predicate()

    def predicate(self) -> Cond:
        tok = self.next("a field name")
        if tok.kind != "name":
            raise ZoqlError(f"expected a field name but found {tok.text!r}")
        column = self.column(tok.text)
        f, ref = column.field, pc.field(column.source)
        if column.join:
            self.read_joins[column.source] = column
        else:
            self.read[f.name] = None
        if self.accept("is"):
            negate = self.accept("not")
            self.expect("null")
            return Cond(~ref.is_null() if negate else ref.is_null())
        if self.peek() is not None and self.peek().word == "in":
            raise ZoqlError(f"the 'in' operator is not supported (in {tok.text} in ...); combine the values with or")
        if self.accept("like"):
            lit = self.next("a pattern")
            if lit.kind != "str":
                raise ZoqlError(f"like takes a quoted pattern, not {lit.text!r}")
            return like(ref, f, _unquote(lit.text))
        op = self.next("a comparison operator")
        if op.kind != "op":
            raise ZoqlError(f"expected a comparison operator after {tok.text} but found {op.text!r}")
        lit = self.next("a literal value")
        if lit.word == "null":
            if op.text not in ("=", "!=", "<>"):
                raise ZoqlError(f"null can only be compared with = or != (in {tok.text} {op.text} null)")
            return Cond(ref.is_null() if op.text == "=" else ~ref.is_null())
        if lit.kind not in ("str", "num") and lit.word not in ("true", "false"):
            raise ZoqlError(f"expected a literal after {tok.text} {op.text} but found {lit.text!r} "
                            "(comparing two fields is not supported)")
        text = _unquote(lit.text) if lit.kind == "str" else lit.text
        return compare(ref, f, op.text, text, self.tz, f.name == CURSOR and not column.join)

    def order_by(self) -> tuple[tuple[str, str], ...]:
        if self.dialect == ZOQL:
            self.refuse("order by")
        self.expect("by")
        items = []
        while True:
            column = self.column(self.next("a field name").text)
            if column.join:
                raise ZoqlError(f"order by {column.header}: order by fields of {self.object} only")
            direction = "descending" if self.accept("desc") else "ascending"
            if direction == "ascending":
                self.accept("asc")
            items.append((column.field.name, direction))
            if not self.accept(","):
                return tuple(items)

    def limit(self) -> tuple[int, int | None]:
        if self.dialect == ZOQL:
            self.refuse("limit")
        first = self.next("a number")
        if first.kind != "num" or not first.text.isdigit():
            raise ZoqlError(f"limit takes a whole number, not {first.text!r}")
        if self.accept(","):
            second = self.next("a number")
            if second.kind != "num" or not second.text.isdigit():
                raise ZoqlError(f"limit takes a whole number, not {second.text!r}")
            return int(first.text), int(second.text)
        return 0, int(first.text)


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'").replace("\\'", "'")
