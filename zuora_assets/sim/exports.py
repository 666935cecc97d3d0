"""Data source exports (CRUD: `POST /v1/object/export`, `GET`/`DELETE /v1/object/export/{id}`): one query each.

As developer.zuora.com documents Object_POSTExport / Object_GETExport (older API) and tap-zuora's REST mode
uses them:
- create with `{"Query": "<Export ZOQL>", "Format": "csv", "Zip": false, "Name": ..., "Encrypted": ...}` ->
  `{"Success": true, "Id": "<32 hex>"}`; a request Zuora cannot take is HTTP 400
  `{"Success": false, "Errors": [{"Code": ..., "Message": ...}]}` (ProxyBadRequestResponse).
- retrieve -> ProxyGetExport: `Id, Name, Query, Format, Zip, Encrypted, Status, StatusReason, FileId, Size,
  CreatedById, CreatedDate, UpdatedById, UpdatedDate`; `Status` is Pending, Processing, Completed, Canceled
  or Failed. An unknown id is HTTP 404 `{"done": true, "records": [], "size": 0}` (ProxyNoDataResponse).
- the file is written as the export runs (it reports Completed with its Size once written), downloaded from
  `/v1/files/{FileId}` (CSV, `Object.Field` headers) and kept 7 days.
- "The maximum processing time per export is 3 hours"; "The maximum number of concurrent exports is 50 per
  tenant. Exports in Pending and Processing status are counted ... Zuora system will reject the subsequent
  data source export requests" (the refusal's Code is not documented: LIMIT_EXCEEDED here).
- query errors (an unknown field, an unknown object) end the export as Failed with the reason.
The timing follows `config.JobTiming`, like an AQuA job of one query.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from zuora_assets.sim import csvfmt, tz, zoql
from zuora_assets.sim.config import SimConfig
from zuora_assets.sim.joins import Joiner, TenantSchema
from zuora_assets.sim.plan import ExportQuery
from zuora_assets.sim.results import SUFFIXES, Content, ResultFile
from zuora_assets.sim.tenant import SIM_USER, Tenant

FILE_RETENTION_DAYS = 7
RUNNING = ("Pending", "Processing")


class ExportRefused(Exception):
    """A create request Zuora refuses: HTTP status and body."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.status, self.body = status, {"Success": False, "Errors": [{"Code": code, "Message": message}]}


@dataclass
class Export:
    """One data source export and its progress."""

    id: str
    name: str
    query: str
    zip: bool
    tenant: Tenant
    created_ms: int
    plan: ExportQuery | None
    reason: str | None = None  # why it failed (set at submit for query errors, reported once it runs)
    status: str = "Pending"
    exec_ms: int | None = None
    done_ms: int | None = None
    file: ResultFile | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to_json(self, now_ms: int) -> dict[str, Any]:
        zone = ZoneInfo(self.tenant.tenant_tz)
        updated = self.done_ms if self.status not in RUNNING and self.done_ms else self.exec_ms or self.created_ms
        out = {"Id": self.id, "Name": self.name, "Query": self.query, "Format": "csv", "Zip": self.zip,
               "Encrypted": False, "Status": self.status, "CreatedById": SIM_USER, "UpdatedById": SIM_USER,
               "CreatedDate": _instant(self.created_ms, zone), "UpdatedDate": _instant(updated, zone)}
        if self.status == "Failed":
            out["StatusReason"] = self.reason
        if self.status == "Completed" and self.file is not None:
            out["FileId"] = self.file.id
            if self.file.size is not None:
                out["Size"] = self.file.size
        return out


class Exports:
    """Every data source export of one simulator; files go to the shared result-file store."""

    def __init__(self, config: SimConfig, files: dict[str, ResultFile]):
        self.config, self.files = config, files
        self.workdir: Path | None = None
        self.exports: dict[str, Export] = {}
        self._lock = threading.Lock()

    def create(self, tenant: Tenant, body: Any, now_ms: int) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("Query"), str) or not body["Query"].strip():
            raise ExportRefused("MISSING_REQUIRED_VALUE", "Query is required: the Export ZOQL query to export")
        fmt = str(body.get("Format", "csv"))
        if fmt.lower() != "csv":
            raise ExportRefused("INVALID_VALUE", f"Format {fmt!r}: the simulator writes csv exports only "
                                                 "(Zuora also offers html and Excel)")
        plan, reason = None, None
        try:
            plan = zoql.parse(body["Query"], TenantSchema(tenant), tenant.tenant_tz)
        except zoql.ZoqlError as e:
            reason = str(e)
        export = Export(uuid.uuid4().hex, str(body.get("Name") or "export"), body["Query"], _truthy(body.get("Zip")),
                        tenant, now_ms, plan, reason)
        for other in list(self.exports.values()):
            self.advance(other, now_ms)
        with self._lock:
            running = sum(1 for e in self.exports.values() if e.status in RUNNING)
            if running >= self.config.max_concurrent_jobs:
                raise ExportRefused("LIMIT_EXCEEDED", f"{running} data source exports are Pending or Processing, the "
                                                      f"tenant's limit of {self.config.max_concurrent_jobs}; wait for "
                                                      "one to finish and retry")
            self.exports[export.id] = export
        return {"Success": True, "Id": export.id}

    def get(self, export_id: str, now_ms: int) -> dict[str, Any] | None:
        export = self.exports.get(export_id)
        if export is None:
            return None
        self.advance(export, now_ms)
        with export.lock:
            return export.to_json(now_ms)

    def delete(self, export_id: str, now_ms: int) -> dict[str, Any] | None:
        export = self.exports.get(export_id)
        if export is None:
            return None
        self.advance(export, now_ms)
        with export.lock:
            if export.status in RUNNING:
                export.status, export.done_ms = "Canceled", now_ms
                if export.file is not None:
                    export.file.drop()
        return {"success": True, "id": export_id}

    def advance(self, export: Export, now_ms: int) -> None:
        """Move an export to its status at `now_ms`: queued, processing its one query, then done."""
        timing = self.config.job_timing
        with export.lock:
            if export.status not in RUNNING:
                return
            start = export.created_ms + int(timing.queue_seconds * 1000)
            if now_ms < start:
                return
            if export.exec_ms is None:
                export.exec_ms = start
                if export.plan is not None:
                    export.file = self._evaluate(export)
                rows = export.file.rows if export.file else 0
                duration = min(timing.query_ms(rows), int(timing.max_query_seconds * 1000))
                export.done_ms = start + duration
                if timing.query_ms(rows) > timing.max_query_seconds * 1000:
                    export.reason = "The export ran longer than 3 hours and was stopped"
            if now_ms < export.done_ms:
                export.status = "Processing"
                return
            if export.file is not None and export.reason is None:
                export.file.render(self.config.max_file_bytes)  # written before it reports Completed (and a Size)
            elif export.file is not None:
                export.file.drop()
            export.status = "Completed" if export.reason is None else "Failed"

    def _evaluate(self, export: Export) -> ResultFile:
        plan, tenant, at = export.plan, export.tenant, export.exec_ms
        rows = plan.run(tenant.store(plan.object).rows(at, deleted=False, span=plan.span),
                        Joiner(tenant, plan.object, at))
        columns = [csvfmt.CsvColumn(c.header, c.field.type, c.source) for c in plan.columns]
        content = Content(rows, columns, csvfmt.CsvOptions(tenant_tz=tenant.tenant_tz), joins=plan.joins,
                          joined=Joiner(tenant, plan.object, at))
        fmt = "zip" if export.zip else "csv"
        file_id = uuid.uuid4().hex
        if self.workdir is None:
            raise RuntimeError("export files need a work directory; start the simulator first")
        f = ResultFile(file_id, self.workdir / f"{file_id}{SUFFIXES[fmt]}", len(rows), fmt, at, export.query,
                       export.id, content, retention_days=FILE_RETENTION_DAYS)
        with self._lock:
            self.files[file_id] = f
        return f

    def reset(self) -> None:
        with self._lock:
            self.exports.clear()


def _instant(ms: int, zone: ZoneInfo) -> str:
    return tz.from_ms(ms).astimezone(zone).isoformat(timespec="milliseconds")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
