"""Object Query API (`GET /object-query/{plural-kebab}`): filters, one sort, field lists and cursor paging.

- `filter[]=field.OP:value` (AND), OP in EQ NE LT GT LE GE SW IN; `value` typed by the field: datetimes
  `YYYY-MM-DDTHH:MM:SS` with `Z`/offset (no offset or date-only = tenant time), `null`, IN as `[a,b]`.
- `sort[]=field.ASC|DESC` (one only; ties and the default order are by Id), `fields[]=a,b`,
  `pageSize` 1..99 (default 10), `cursor` = the previous page's `nextPage` (opaque, keyset on sort value + Id).
- Response `{"data":[...], "nextPage": "..."}` (no nextPage on the last page); keys camelCase, datetimes
  ISO-8601 with the tenant offset (`-07:00`), decimals as numbers, nulls omitted unless includeNullFields=true.
- Deleted records are never returned. `invoice-items` requires a filter. Only filterable fields filter
  ("only listed filterable fields", developer.zuora.com Object Queries); others are refused with 400.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.sim import tz
from zuora_assets.sim.tenant import Tenant
from zuora_assets.zuora.catalog import MODELS, Field, object_query_plural

_FILTER = re.compile(r"^([A-Za-z0-9_]+)\.(EQ|NE|LT|GT|LE|GE|SW|IN):(.*)$", re.IGNORECASE | re.DOTALL)
_OPS = {"EQ": pc.equal, "NE": pc.not_equal, "LT": pc.less, "GT": pc.greater, "LE": pc.less_equal,
        "GE": pc.greater_equal}
REQUIRES_FILTER = {"InvoiceItem"}


class ObjectQueryError(Exception):
    """A refused Object Query request: HTTP status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


PATHS = {object_query_plural(m.object): m.object for m in MODELS.values()}


def camel(name: str) -> str:
    """Object Query key of a field: `AccountNumber` -> `accountNumber`, `VATId` -> `vatId`, `MRR` -> `mrr`."""
    m = re.match(r"^([A-Z]+)(?=[A-Z][a-z]|$|_|\d)", name)
    if m:
        return name[: len(m.group(1))].lower() + name[len(m.group(1)):]
    return name[:1].lower() + name[1:]


def run(tenant: Tenant, path: str, params: dict[str, list[str]], at_ms: int) -> dict[str, Any]:
    """Answer `GET /object-query/{path}` with one page of live records."""
    obj = _object(path)
    store = tenant.store(obj)
    fields = store.lookup()
    filters = params.get("filter[]", [])
    if obj in REQUIRES_FILTER and not filters:
        raise ObjectQueryError(400, f"You must specify a filter[] to query {path} (e.g. updateddate.GE:<date>).")
    size = _page_size(params.get("pageSize", ["10"])[-1])
    sort_field, descending = _sort(params.get("sort[]", []), fields)
    table = store.state(at_ms, deleted=False)
    for text in filters:
        table = table.filter(_filter(text, fields, tenant.tenant_tz, path))
    order = "descending" if descending else "ascending"
    table = table.sort_by([(sort_field.name, order), ("Id", "ascending")])
    if params.get("cursor"):
        table = table.filter(_after(params["cursor"][-1], sort_field, descending))
    page = table.slice(0, size + 1)
    selected = _selected(params, fields)
    include_nulls = params.get("includeNullFields", ["false"])[-1].lower() == "true"
    rows = [_record(row, fields, selected, include_nulls, tenant.tenant_tz) for row in page.slice(0, size).to_pylist()]
    out: dict[str, Any] = {"data": rows}
    if page.num_rows > size:
        last = page.slice(size - 1, 1).to_pylist()[0]
        out = {"nextPage": _cursor(last[sort_field.name], last["Id"], sort_field)} | out
    return out


def get_one(tenant: Tenant, path: str, key: str, params: dict[str, list[str]], at_ms: int) -> dict[str, Any]:
    """Answer `GET /object-query/{path}/{key}` (key = Id)."""
    store = tenant.store(_object(path))
    table = store.state(at_ms, deleted=False)
    found = table.filter(pc.equal(table.column("Id"), key))
    if found.num_rows == 0:
        raise ObjectQueryError(404, f"No {store.model.object} with Id {key!r}.")
    fields = store.lookup()
    include_nulls = params.get("includeNullFields", ["false"])[-1].lower() == "true"
    return _record(found.to_pylist()[0], fields, _selected(params, fields), include_nulls, tenant.tenant_tz)


def _object(path: str) -> str:
    obj = PATHS.get(path.lower())
    if obj is None:
        raise ObjectQueryError(404, f"Unknown object query path {path!r}; use one of {', '.join(sorted(PATHS))}.")
    return obj


def _page_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 99:
        raise ObjectQueryError(400, f"pageSize {text!r} is invalid; it must be a whole number from 1 to 99.")
    return int(text)


def _field(name: str, fields: dict[str, Field], what: str) -> Field:
    f = fields.get(name.lower())
    if f is None:
        raise ObjectQueryError(400, f"{what}: unknown field {name!r}.")
    return f


def _sort(values: list[str], fields: dict[str, Field]) -> tuple[Field, bool]:
    if len(values) > 1:
        raise ObjectQueryError(400, f"Only one sort[] field is allowed; got {len(values)}.")
    if not values:
        return fields["id"], False
    name, _, direction = values[0].rpartition(".")
    if direction.upper() not in ("ASC", "DESC") or not name:
        raise ObjectQueryError(400, f"sort[] {values[0]!r} must look like updateddate.ASC or updateddate.DESC.")
    return _field(name, fields, "sort[]"), direction.upper() == "DESC"


def _value(f: Field, text: str, tenant_tz: str) -> Any:
    """A filter value typed for the field, as an Arrow scalar."""
    if f.type == "datetime":
        lit = tz.parse_literal(text, tenant_tz)
        if lit.ignored:
            raise ValueError("use YYYY-MM-DDTHH:MM:SSZ")
        return pa.scalar(tz.from_ms(lit.start).replace(tzinfo=None), type=f.arrow_type)
    if f.type == "boolean":
        return pa.scalar(text.lower() == "true")
    if f.type == "decimal":
        return pa.scalar(Decimal(text), type=f.arrow_type)
    if f.type == "date":
        return pa.scalar(date.fromisoformat(text), type=f.arrow_type)
    return pa.scalar(text, type=f.arrow_type) if f.type != "integer" else pa.scalar(int(text))


def _filter(text: str, fields: dict[str, Field], tenant_tz: str, path: str) -> pc.Expression:
    m = _FILTER.match(text)
    if not m:
        raise ObjectQueryError(400, f"filter[] {text!r} must look like field.OP:value (OP: EQ NE LT GT LE GE SW IN).")
    name, op, raw = m.group(1), m.group(2).upper(), m.group(3)
    f = _field(name, fields, f"filter[] on {path}")
    if not f.filterable:
        raise ObjectQueryError(400, f"filter[] {text!r}: {f.name} is not filterable (describe says "
                                    "<filterable>false</filterable>); filter on another field")
    ref = pc.field(f.name)
    try:
        if raw.lower() == "null" and op in ("EQ", "NE"):
            return ref.is_null() if op == "EQ" else ~ref.is_null()
        if op == "IN":
            items = [v.strip() for v in raw.strip("[]").split(",") if v.strip()]
            return ref.isin(pa.array([_value(f, v, tenant_tz).as_py() for v in items], type=f.arrow_type))
        if op == "SW":
            return pc.starts_with(ref, raw)
        return _OPS[op](ref, _value(f, raw, tenant_tz))
    except (ValueError, ArithmeticError) as e:
        raise ObjectQueryError(400, f"filter[] {text!r}: {raw!r} is not a valid {f.type} value ({e}).") from e


def _selected(params: dict[str, list[str]], fields: dict[str, Field]) -> list[Field] | None:
    names = [n for value in params.get("fields[]", []) for n in value.split(",") if n.strip()]
    return [_field(n.strip(), fields, "fields[]") for n in names] or None


def _json_value(value: Any, f: Field, tenant_tz: str) -> Any:
    if f.type == "datetime":
        return tz.format_instant(tz.to_ms(value), tenant_tz)
    if f.type == "date":
        return value.isoformat()
    if f.type == "decimal":
        return float(value)
    return value


def _record(row: dict, fields: dict[str, Field], selected: list[Field] | None, include_nulls: bool,
            tenant_tz: str) -> dict[str, Any]:
    out = {}
    for f in selected or fields.values():
        value = row.get(f.name)
        if value is None and not include_nulls:
            continue
        out[camel(f.name)] = None if value is None else _json_value(value, f, tenant_tz)
    return out


def _cursor(value: Any, rid: str, f: Field) -> str:
    encoded = tz.to_ms(value) if f.type == "datetime" and value is not None else (
        str(value) if value is not None and not isinstance(value, int | bool) else value)
    raw = json.dumps({"v": encoded, "id": rid}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(cursor: str, f: Field, descending: bool) -> pc.Expression:
    """Rows after the cursor in (sort value, Id) order, nulls last."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        rid, raw = data["id"], data["v"]
    except (ValueError, KeyError, TypeError) as e:
        raise ObjectQueryError(400, f"cursor {cursor!r} is not a nextPage value from this API.") from e
    ref, after_id = pc.field(f.name), pc.field("Id") > pa.scalar(rid)
    if raw is None:
        return ref.is_null() & after_id
    if f.type == "datetime":
        value = pa.scalar(tz.from_ms(raw).replace(tzinfo=None), type=f.arrow_type)
    else:
        value = pa.scalar(raw).cast(f.arrow_type)
    beyond = (ref < value) if descending else (ref > value)
    return beyond | ((ref == value) & after_id) | ref.is_null()
