"""The REST query action: `POST /v1/action/query` and `POST /v1/action/queryMore`, ZOQL in pages.

As developer.zuora.com documents Action_POSTquery / Action_POSTqueryMore:
- body `{"queryString": "<ZOQL>", "conf": {"batchSize": 1..2000}}` (older clients send `queryBatchSize`;
  over 2000 gives 2000); queryMore takes `{"queryLocator": "..."}`.
- answer `{"records": [...], "size": n, "done": bool}` plus `"queryLocator"` while more remain
  (`done` is false exactly then). A locator looks like `2c92c0f9602fb240016049ac7e0b47e7-2000` and expires
  after 15 minutes without use.
- records carry the selected fields by API name; fields with null values are not returned; datetimes are in
  the tenant's time zone with milliseconds (`2016-10-20T05:46:14.000+02:00`), decimals and integers are
  JSON numbers. Deleted records are not returned.
- ZOQL, not Export ZOQL (see `zoql`), and neither Invoice Settlement (credit/debit memos) nor Orders objects.
- refusals are SOAP-style faults with HTTP 400 (zendesk/iron_bank#36, #65):
  `{"faultcode": "fns:INVALID_FIELD", "faultstring": "invalid field for query: Invoice.taxmessage", ...}`.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from zuora_assets.sim import zoql
from zuora_assets.sim.joins import TenantSchema
from zuora_assets.sim.plan import Column
from zuora_assets.sim.tenant import Tenant
from zuora_assets.sim.versions import Rows

MAX_BATCH = 2000
LOCATOR_IDLE_MS = 15 * 60 * 1000
# Invoice Settlement and Orders objects: "not supported" by the query action.
UNSUPPORTED = {"CreditMemo", "CreditMemoItem", "DebitMemo", "DebitMemoItem", "Order", "OrderAction"}
_FAULT_TYPES = {"MALFORMED_QUERY": "MalformedQueryFault", "INVALID_FIELD": "MalformedQueryFault",
                "INVALID_TYPE": "InvalidTypeFault", "INVALID_QUERY_LOCATOR": "InvalidQueryLocatorFault",
                "INVALID_VALUE": "InvalidValueFault"}


class ActionFault(Exception):
    """A refused query: its SOAP-style fault body (HTTP 400)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.body = {"faultcode": f"fns:{code}", "faultstring": message,
                     "detail": {_FAULT_TYPES[code]: {"FaultCode": code, "FaultMessage": message}}}


@dataclass
class _Cursor:
    """The rest of a query's result: its rows (a snapshot), the columns to show, and where the next page starts."""

    rows: Rows
    columns: tuple[Column, ...]
    tenant_tz: str
    position: int
    used_ms: int


class Actions:
    """Every open query locator of one simulator."""

    def __init__(self) -> None:
        self._cursors: dict[str, _Cursor] = {}
        self._lock = threading.Lock()

    def query(self, tenant: Tenant, body: Any, now_ms: int) -> dict[str, Any]:
        """Run a ZOQL query and answer its first page."""
        if not isinstance(body, dict) or not isinstance(body.get("queryString"), str):
            raise ActionFault("MALFORMED_QUERY", "the body must be JSON with a queryString (a ZOQL query)")
        try:
            plan = zoql.parse(body["queryString"], TenantSchema(tenant), tenant.tenant_tz, zoql.ZOQL)
        except zoql.ZoqlError as e:
            raise _fault(str(e)) from e
        if plan.object in UNSUPPORTED:
            raise ActionFault("INVALID_TYPE", f"invalid type for query: {plan.object.lower()} (Invoice Settlement and "
                                              "Orders objects are not supported by the query action; use AQuA)")
        refused = [c.field.name for c in plan.columns if not c.field.queryable]
        fields = tenant.store(plan.object).lookup()
        refused += [name for name in plan.where_fields if not fields[name.lower()].queryable]
        if refused:
            raise ActionFault("INVALID_FIELD", f"invalid field for query: {plan.object}.{refused[0].lower()}")
        rows = plan.run(tenant.store(plan.object).rows(now_ms, deleted=False, span=plan.span))
        cursor = _Cursor(rows, plan.columns, tenant.tenant_tz, 0, now_ms)
        return self._page(uuid.uuid4().hex, cursor, _batch_size(body), now_ms)

    def query_more(self, body: Any, now_ms: int) -> dict[str, Any]:
        """The next page of an open query."""
        locator = body.get("queryLocator") if isinstance(body, dict) else None
        key = str(locator).rsplit("-", 1)[0]
        with self._lock:
            cursor = self._cursors.get(key)
            if cursor is not None and now_ms - cursor.used_ms > LOCATOR_IDLE_MS:
                del self._cursors[key]
                cursor = None
        if cursor is None or str(locator) != f"{key}-{cursor.position}":
            raise ActionFault("INVALID_QUERY_LOCATOR", f"invalid query locator: {locator} (locators expire after "
                                                       "15 minutes without use; run the query again)")
        return self._page(key, cursor, _batch_size(body), now_ms)

    def _page(self, key: str, cursor: _Cursor, size: int, now_ms: int) -> dict[str, Any]:
        page = cursor.rows.slice(cursor.position, cursor.position + size)
        names = [c.field.name for c in cursor.columns]
        zone = ZoneInfo(cursor.tenant_tz)
        records = [{name: _json(row[name], zone) for name in names if row[name] is not None}
                   for row in page.table().to_pylist()]
        cursor.position += len(page)
        cursor.used_ms = now_ms
        done = cursor.position >= len(cursor.rows)
        with self._lock:
            if done:
                self._cursors.pop(key, None)
            else:
                self._cursors[key] = cursor
        out: dict[str, Any] = {"records": records, "size": len(records), "done": done}
        if not done:
            out["queryLocator"] = f"{key}-{cursor.position}"
        return out

    def reset(self) -> None:
        with self._lock:
            self._cursors.clear()


def _batch_size(body: dict[str, Any]) -> int:
    conf = body.get("conf") or {}
    value = conf.get("batchSize", conf.get("queryBatchSize", MAX_BATCH)) if isinstance(conf, dict) else MAX_BATCH
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ActionFault("INVALID_VALUE", f"conf.batchSize {value!r} is not a number from 1 to {MAX_BATCH}") from None
    if size < 1:
        raise ActionFault("INVALID_VALUE", f"conf.batchSize {size} is not a number from 1 to {MAX_BATCH}")
    return min(size, MAX_BATCH)


def _fault(message: str) -> ActionFault:
    if message.startswith("There is no field named"):
        return ActionFault("INVALID_FIELD", f"invalid field for query: {message.rsplit(' ', 1)[-1].lower()}")
    if message.startswith("There is no object named"):
        return ActionFault("INVALID_TYPE", f"invalid type for query: {message.rsplit(' ', 1)[-1].lower()}")
    return ActionFault("MALFORMED_QUERY", message)


def _json(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=ZoneInfo("UTC"))
        try:
            return utc.astimezone(zone).isoformat(timespec="milliseconds")
        except OverflowError:  # within a day of year 1 or 9999, the local time is out of range: say it in UTC
            return utc.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
