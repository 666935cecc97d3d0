"""A parsed ZOQL query as a plan that runs on version rows: columns (own or joined), condition, order, limit.

The plan also knows which UpdatedDate range its condition implies (`span`), so it runs on the rows of that
range only (found by binary search), whether that range alone decides the condition (`span_exact`, e.g. a
window `UpdatedDate >= a and UpdatedDate < b`), and which columns the condition reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz
from zuora_assets.sim.versions import INF_MS, Rows, Span
from zuora_assets.zuora.catalog import Field, arrow_type

OPS = {"=": pc.equal, "!=": pc.not_equal, "<>": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
       ">": pc.greater, ">=": pc.greater_equal}
TRUE = pc.scalar(True)
CURSOR = "UpdatedDate"
_POSITION = "__position"


class ZoqlError(ValueError):
    """A query the simulator (like Zuora) refuses; the message names the problem."""


@dataclass(frozen=True)
class Column:
    """One column a query reads: its header (`Account.Name`, `BillToContact.WorkEmail`) and field.

    `join` is the chain of foreign keys to the joined object the field belongs to (empty: the queried object).
    """

    header: str
    field: Field
    join: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The column's name in an evaluated table: the field name, or the header for a joined field."""
        return self.header if self.join else self.field.name


# Adds the joined columns (by `Column.source`) to a table of the queried object's rows.
Joined = Callable[[pa.Table, tuple[Column, ...]], pa.Table]


@dataclass(frozen=True)
class Cond:
    """A parsed condition and the UpdatedDate range every row it keeps lies in (None = any).

    `exact`: the range alone decides the condition (rows in it need no further check).
    """

    expr: pc.Expression
    span: Span | None = None
    exact: bool = False
    count: int = 1  # predicates in it (ZOQL allows at most 200)

    def __and__(self, other: Cond) -> Cond:
        spans = [s for s in (self.span, other.span) if s is not None]
        span = (max(s[0] for s in spans), min(s[1] for s in spans)) if spans else None
        return Cond(self.expr & other.expr, span, self.exact and other.exact, self.count + other.count)

    def __or__(self, other: Cond) -> Cond:
        both = self.span is not None and other.span is not None
        span = (min(self.span[0], other.span[0]), max(self.span[1], other.span[1])) if both else None
        return Cond(self.expr | other.expr, span, count=self.count + other.count)


@dataclass(frozen=True)
class ExportQuery:
    """A parsed query: which columns, which rows, in which order."""

    object: str
    columns: tuple[Column, ...]
    where: pc.Expression | None
    order: tuple[tuple[str, str], ...]
    offset: int = 0
    limit: int | None = None
    span: Span | None = None
    span_exact: bool = False
    where_fields: tuple[str, ...] = ()
    where_joins: tuple[Column, ...] = ()

    @property
    def joins(self) -> tuple[Column, ...]:
        """The joined columns the query selects."""
        return tuple(c for c in self.columns if c.join)

    def run(self, rows: Rows, joined: Joined | None = None) -> Rows:
        """Filter, sort and slice `rows`, the candidates whose UpdatedDate is in `span`.

        Only the columns the query reads are built; a condition that `span` decides is not evaluated again.
        `joined` reads the joined columns the condition needs.
        """
        if self.where is not None and not self.span_exact and len(rows):
            keys = list(dict.fromkeys([*self.where_fields, *(c.join[0] for c in self.where_joins)]))
            narrow = rows.columns(keys)
            if self.where_joins:
                if joined is None:
                    raise ZoqlError("this query filters on a joined object, which this API does not join")
                narrow = joined(narrow, self.where_joins)
            narrow = narrow.append_column(_POSITION, pa.array(np.arange(len(rows))))
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


def typed_literal(f: Field, text: str) -> object:
    """A literal's Python value for comparison with field `f` (ValueError when it does not fit)."""
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


def compare(ref: pc.Expression, f: Field, op: str, text: str, tenant_tz: str, cursor: bool) -> Cond:
    """`ref op literal` for field `f`; on the cursor (the queried object's UpdatedDate) with its span."""
    if f.type == "datetime":
        return _datetime_predicate(ref, op, text, tenant_tz, cursor)
    try:
        value = typed_literal(f, text)
    except (ValueError, ArithmeticError) as e:
        raise ZoqlError(f"{text!r} is not a valid {f.type} value for {f.name}") from e
    return Cond(OPS[op](ref, pa.scalar(value, type=arrow_type(f.type))))


def like(ref: pc.Expression, f: Field, pattern: str) -> Cond:
    """`field like 'pattern'`: `%` any run of characters, `_` one character (strings only, as Zuora documents)."""
    if f.type not in ("text", "picklist"):
        raise ZoqlError(f"like compares text, and {f.name} is {f.type}")
    return Cond(pc.match_like(ref, pattern, ignore_case=True))


def _datetime_predicate(ref: pc.Expression, op: str, text: str, tenant_tz: str, cursor: bool) -> Cond:
    """A datetime comparison; on the cursor field (UpdatedDate) also the range of epoch ms it keeps."""
    try:
        lit = tz.parse_literal(text, tenant_tz)
    except ValueError as e:
        raise ZoqlError(str(e)) from e
    if lit.ignored:
        return Cond(TRUE, exact=True)
    lo, hi = lit.start, lit.end if lit.is_day else lit.start + 1  # the instants the literal stands for
    span = {"=": (lo, hi), "<": (-INF_MS, lo), "<=": (-INF_MS, hi), ">": (hi, INF_MS), ">=": (lo, INF_MS)}.get(op)
    start = pa.scalar(tz.naive(lit.start), type=pa.timestamp("ms"))
    if not lit.is_day:
        return Cond(OPS[op](ref, start), span if cursor else None, cursor and span is not None)
    end = pa.scalar(tz.naive(lit.end), type=pa.timestamp("ms"))
    expr = {
        "=": (ref >= start) & (ref < end),
        "!=": (ref < start) | (ref >= end),
        "<>": (ref < start) | (ref >= end),
        "<": ref < start,
        "<=": ref < end,
        ">": ref >= end,
        ">=": ref >= start,
    }[op]
    return Cond(expr, span if cursor else None, cursor and span is not None)
