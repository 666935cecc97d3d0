"""Export ZOQL text and AQuA job requests for one window of one model.

Datetime literals are always `'YYYY-MM-DDTHH:MM:SSZ'`: Zuora silently ignores a space-separated
literal (and returns the whole table), so no other form is ever rendered. Windows are half-open,
`UpdatedDate >= start and UpdatedDate < end`, ordered by `UpdatedDate`; an Id page adds
`Id > 'last'`, orders by `Id` and limits the row count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from zuora_assets.common.failures import InvalidValue
from zuora_assets.zuora.catalog import ZuoraModel

DELETED_FIELD = "IsDeleted"  # name of the deleted column we ask AQuA for; the CSV header is `<Object>.IsDeleted`
JOB_VERSION = "1.1"  # stateless: no partner/project is ever sent
_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]+$")


def to_utc(dt: datetime, what: str = "datetime") -> datetime:
    """`dt` as an aware UTC datetime; naive datetimes are refused (their zone would be a guess)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidValue(f"{what} {dt.isoformat()} has no time zone: pass an aware datetime (UTC)")
    return dt.astimezone(UTC)


def ceil_second(dt: datetime) -> datetime:
    """`dt` rounded up to a whole second (Zuora compares UpdatedDate at second precision)."""
    floor = dt.replace(microsecond=0)
    return floor if floor == dt else floor + timedelta(seconds=1)


def datetime_literal(dt: datetime) -> str:
    """A ZOQL datetime literal, `'2026-08-01T00:00:00Z'`, for an aware datetime on a whole second."""
    dt = to_utc(dt)
    if dt.microsecond:
        raise InvalidValue(f"ZOQL literals have whole seconds; {dt.isoformat()} has a fraction")
    return "'" + dt.strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


@dataclass(frozen=True)
class Window:
    """A half-open window `[start, end)` of UpdatedDate on whole UTC seconds."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Window:
        """The window covering exactly the second-precision instants in `[start, end)`."""
        start, end = ceil_second(to_utc(start, "window start")), ceil_second(to_utc(end, "window end"))
        if end < start:
            raise InvalidValue(f"window end {end.isoformat()} is before its start {start.isoformat()}")
        return cls(start, end)

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def halves(self) -> tuple[Window, Window]:
        """The two halves of this window, split on a whole second (needs at least 2 seconds)."""
        mid = self.start + timedelta(seconds=math.ceil(self.seconds / 2))
        return Window(self.start, mid), Window(mid, self.end)

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%M:%SZ}, {self.end:%Y-%m-%dT%H:%M:%SZ})"


def select(
    model: ZuoraModel,
    field_names: Sequence[str],
    window: Window,
    *,
    after_id: str | None = None,
    limit: int | None = None,
) -> str:
    """The Export ZOQL query for `field_names` of `model` in `window` (an Id page when `limit` is set)."""
    cursor, key = model.cursor, model.primary_key
    where = f"{cursor} >= {datetime_literal(window.start)} and {cursor} < {datetime_literal(window.end)}"
    if after_id is not None:
        if not _SAFE_ID.match(after_id):
            raise InvalidValue(f"model {model.name}: Id {after_id!r} cannot be used in a query")
        where += f" and {key} > '{after_id}'"
    order = key if limit is not None else cursor
    query = f"select {', '.join(field_names)} from {model.object} where {where} order by {order}"
    return query if limit is None else f"{query} limit {int(limit)}"


@dataclass(frozen=True)
class ExportQuery:
    """One query of an AQuA job: which model, which fields, its ZOQL, and whether deletes are exported."""

    name: str
    model: ZuoraModel
    fields: tuple[str, ...]
    zoql: str
    deleted: bool

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "query": self.zoql, "type": "zoqlexport"}
        if self.deleted:
            entry["deleted"] = {"column": DELETED_FIELD, "format": "Boolean", "forceExport": True}
        return entry


def job_request(name: str, queries: Sequence[ExportQuery]) -> dict[str, Any]:
    """The body of `POST /v1/batch-query/` for a stateless job running `queries` (at most 50)."""
    if not 1 <= len(queries) <= 50:
        raise InvalidValue(f"an AQuA job takes 1 to 50 queries, got {len(queries)}")
    return {
        "format": "csv",
        "version": JOB_VERSION,
        "name": name[:32],
        "encrypted": "none",
        "useQueryLabels": True,
        "dateTimeUtc": True,
        "queries": [q.as_json() for q in queries],
    }
