"""AQuA batch-query jobs: submit validation, the job state machine, snapshot evaluation and result files.

Submit errors come back as HTTP 200 bodies, as Zuora does: `{"status":"error","errorCode":"900xx",...}`
(90004 over 50 queries, 90005 query error incl. "There is no field named X", 90012 `deleted` without
`forceExport` in stateless mode, 90015 bad incrementalTime, 90016 no queries, 90017 object without deleted
export, 90028 too many jobs in flight); a malformed request (e.g. format json) gets
`{"success":false,"code":50000090,...}`.
A job is stateless unless version is 1.1 with both partner and project. It moves submitted -> executing
-> completed on polls: all its queries are evaluated together, as one snapshot at the sim clock of the
first poll, and it completes on poll `polls_to_complete` (plus `slow_job` polls). Unknown job ids give
HTTP 404 with errorCode 90002; cancelling a finished job gives HTTP 200 with errorCode 90003.
A query runs on the rows of the UpdatedDate range its condition implies (binary search on each segment's
index) and its result file keeps the chosen rows of that snapshot: the CSV is rendered when the file is
first downloaded, after the file limits are checked, so a file refused as too large is never rendered.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from zuora_assets.sim import csvfmt, tz, zoql
from zuora_assets.sim.config import SimConfig
from zuora_assets.sim.faults import FaultRule
from zuora_assets.sim.tenant import Tenant
from zuora_assets.sim.versions import DELETED, Rows, Span
from zuora_assets.zuora.catalog import model

MAX_QUERIES = 50
IN_FLIGHT = ("submitted", "executing")
FORMATS = {"csv": ".csv", "gzip": ".csv.gz", "zip": ".zip"}
MALFORMED = {"success": False, "code": 50000090, "message": "Oops, request is malformed. Please check your request."}


class AquaError(Exception):
    """A refused AQuA call: the JSON body and HTTP status to answer with."""

    def __init__(self, body: dict[str, Any], status: int = 200):
        super().__init__(body.get("message", ""))
        self.body, self.status = body, status


class FieldGone(Exception):
    """A field the query selects was removed between submit and execution."""


def _error(code: str, message: str, status: int = 200) -> AquaError:
    return AquaError({"status": "error", "errorCode": code, "message": message}, status)


@dataclass
class Batch:
    """One query of a job."""

    name: str
    text: str
    plan: zoql.ExportQuery
    deleted: dict[str, Any] | None
    api_version: str | None
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "pending"
    record_count: int = 0
    file_id: str | None = None
    message: str | None = None
    full: bool = True

    def to_json(self) -> dict[str, Any]:
        out = {"batchId": self.batch_id, "name": self.name, "query": self.text, "batchType": "zoqlexport",
               "apiVersion": self.api_version, "status": self.status,
               "localizedStatus": self.status.replace("_", " ").capitalize(), "recordCount": self.record_count,
               "full": self.full}
        extra = {"fileId": self.file_id, "message": self.message, "deleted": self.deleted}
        return out | {k: v for k, v in extra.items() if v is not None}


@dataclass
class Job:
    """One submitted job and its progress."""

    id: str
    name: str
    version: str
    fmt: str
    tenant: Tenant
    options: csvfmt.CsvOptions
    use_labels: bool
    batches: list[Batch]
    faults: list[FaultRule]
    start_ms: int
    partner: str | None = None
    project: str | None = None
    incremental_ms: int | None = None
    offset_s: int = 0
    status: str = "submitted"
    polls: int = 0
    polls_needed: int = 1
    evaluated: bool = False
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stateful(self) -> bool:
        return self.partner is not None

    def fault(self, kind: str) -> FaultRule | None:
        return next((f for f in self.faults if f.fault == kind), None)

    def to_json(self) -> dict[str, Any]:
        start = tz.from_ms(self.start_ms).astimezone(ZoneInfo(self.options.tenant_tz)).strftime("%Y-%m-%d %H:%M:%S")
        out = {"id": self.id, "name": self.name, "version": self.version, "format": self.fmt.upper(),
               "encrypted": "none", "sourceData": "LIVE", "useLastCompletedJobQueries": False, "startTime": start,
               "status": self.status, "batches": [b.to_json() for b in self.batches]}
        if self.stateful:
            out |= {"partner": self.partner, "project": self.project}
        if self.incremental_ms is not None:
            out["incrementalTime"] = self.incremental_ms
        return out


@dataclass(frozen=True)
class Content:
    """What a result file holds: the chosen rows of the snapshot and how to write them."""

    rows: Rows
    columns: list[csvfmt.CsvColumn]
    options: csvfmt.CsvOptions
    malformed_after: int | None


@dataclass
class ResultFile:
    """A result file: its rows, rendered to disk on first download (`size` is None until then)."""

    id: str
    path: Path
    rows: int
    fmt: str
    created_ms: int
    query: str
    job_id: str
    content: Content | None
    size: int | None = None
    too_large: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def content_type(self) -> str:
        return {"gzip": "application/x-gzip", "zip": "application/zip"}.get(self.fmt, "text/csv;charset=UTF-8")

    def render(self, max_bytes: int | None) -> int | None:
        """The file's size once written (rendering it the first time), or None when it is over `max_bytes`."""
        with self.lock:
            if self.size is None and not self.too_large and self.content is not None:
                c = self.content
                self.size = csvfmt.write_csv(self.path, self.fmt, c.rows.batches(csvfmt.BATCH_ROWS), c.columns,
                                             c.options, c.malformed_after, max_bytes)
                self.too_large, self.content = self.size is None, None
            return self.size


class Aqua:
    """Every AQuA job and result file of one simulator."""

    def __init__(self, config: SimConfig, workdir: Path | None = None):
        self.config = config
        self.workdir = workdir  # where result files are written (set when the server starts)
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, ResultFile] = {}
        self.sessions: dict[tuple, dict[str, tuple[str, int]]] = {}
        self.last_completed: dict[tuple, str] = {}
        self.max_in_flight = 0
        self._lock = threading.RLock()

    # ----- submit -----

    def submit(self, tenant: Tenant, body: Any, faults: Callable[[], list[FaultRule]], now_ms: int) -> dict[str, Any]:
        """Validate and create a job; raises AquaError with Zuora's error body when refused.

        `faults()` is called once the job is accepted and gives the job faults that apply to it.
        """
        if not isinstance(body, dict):
            raise AquaError(MALFORMED)
        fmt = str(body.get("format", "csv")).lower()
        if fmt not in FORMATS:
            raise AquaError(MALFORMED)
        queries = body.get("queries")
        if not isinstance(queries, list) or not queries:
            raise _error("90016", "There are no queries in the AQuA request; give 1 to 50 queries.")
        if len(queries) > MAX_QUERIES:
            raise _error("90004", f"The AQuA request has {len(queries)} queries; the limit is {MAX_QUERIES} per job.")
        partner, project = body.get("partner"), body.get("project")
        stateful = str(body.get("version", "1.0")) == "1.1" and bool(partner) and bool(project)
        batches = [self._batch(tenant, q, i, stateful) for i, q in enumerate(queries)]
        job = Job(id=uuid.uuid4().hex, name=str(body.get("name", "")), version=str(body.get("version", "1.0")),
                  fmt=fmt, tenant=tenant, options=self._options(body, tenant), batches=batches, faults=[],
                  start_ms=now_ms, use_labels=_truthy(body.get("useQueryLabels")))
        if stateful:
            job.partner, job.project = str(partner), str(project)
            job.offset_s = int(body.get("offset", 0) or 0)
            if body.get("incrementalTime"):
                job.incremental_ms = self._incremental_time(str(body["incrementalTime"]))
        with self._lock:
            self._admit(job)
        job.faults = faults()
        slow = job.fault("slow_job")
        job.polls_needed = self.config.polls_to_complete + (int(slow.params["polls"]) if slow else 0)
        return job.to_json()

    def _options(self, body: dict[str, Any], tenant: Tenant) -> csvfmt.CsvOptions:
        null = body.get("nullReplacement")
        return csvfmt.CsvOptions(tenant_tz=tenant.tenant_tz, datetime_utc=_truthy(body.get("dateTimeUtc")),
                                 null_replacement="" if null is None else str(null))

    def _admit(self, job: Job) -> None:
        flying = sum(1 for j in self.jobs.values() if j.status in IN_FLIGHT and j.stateful == job.stateful)
        if flying >= self.config.max_concurrent_jobs:
            mode = "stateful" if job.stateful else "stateless"
            raise _error("90028", f"The number of concurrent {mode} AQuA jobs ({flying}) has reached the limit of "
                                  f"{self.config.max_concurrent_jobs}; wait for a job to finish and retry.")
        self.jobs[job.id] = job
        self.max_in_flight = max(self.max_in_flight, self.in_flight())

    def _batch(self, tenant: Tenant, query: Any, index: int, stateful: bool) -> Batch:
        if not isinstance(query, dict) or not isinstance(query.get("query"), str):
            raise AquaError(MALFORMED)
        text = query["query"]
        if str(query.get("type", "zoqlexport")).lower() not in ("zoqlexport", "zoql"):
            raise _syntax(f"unknown query type {query.get('type')!r}; use zoqlexport", text)
        try:
            plan = zoql.parse(text, lambda obj: _fields_of(tenant, obj), tenant.tenant_tz)
        except zoql.ZoqlError as e:
            raise _syntax(str(e), text) from e
        deleted = query.get("deleted")
        if deleted is not None:
            self._check_deleted(deleted, plan.object, stateful, text)
        return Batch(str(query.get("name") or f"query{index + 1}"), text, plan, deleted, query.get("apiVersion"))

    def _check_deleted(self, deleted: Any, obj: str, stateful: bool, text: str) -> None:
        if not isinstance(deleted, dict) or not deleted.get("column"):
            raise _syntax("the deleted option needs a 'column' name", text)
        if str(deleted.get("format", "Boolean")).lower() not in ("boolean", "numeric"):
            raise _syntax(f"deleted format {deleted.get('format')!r}; use Boolean or Numeric", text)
        if not stateful and not _truthy(deleted.get("forceExport")):
            raise _error("90012", f"Stateless AQuA jobs export deleted records only with forceExport: add "
                                  f"\"forceExport\": true to the deleted option of the query on {obj}.")
        if not model(obj).exports_deletes:
            raise _error("90017", f"{obj} does not support deleted records; remove the deleted option.")

    def _incremental_time(self, text: str) -> int:
        zone = "UTC" if self.config.data_center == "EU" else tz.PACIFIC
        try:
            naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError as e:
            raise _error("90015", f"incrementalTime {text!r} is invalid; use 'YYYY-MM-DD HH:mm:ss' in {zone}.") from e
        return tz.to_ms(naive.replace(tzinfo=ZoneInfo(zone)))

    # ----- poll, cancel -----

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise _error("90002", f"There is no AQuA job with id {job_id!r}.", status=404)
        return job

    def poll(self, job_id: str, now_ms: int) -> dict[str, Any]:
        """Advance the job one poll (execute on the first, complete on poll `polls_to_complete`)."""
        job = self.job(job_id)
        with job.lock:
            if job.status in IN_FLIGHT:
                job.polls += 1
                failure = job.fault("job_fail_transient") or job.fault("job_timeout")
                if not job.evaluated and failure is None:
                    self._execute(job, now_ms)
                if job.polls >= job.polls_needed:
                    self._finish(job, failure)
                else:
                    job.status = "executing"
                    for b in job.batches:
                        b.status = "executing"
        return job.to_json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id)
        with job.lock:
            if job.status not in IN_FLIGHT:
                raise _error("90003", f"AQuA job {job_id} is {job.status}; only submitted or executing jobs "
                                      f"can be cancelled.")
            job.status = "cancelled"
            for b in job.batches:
                b.status = "cancelled"
        return job.to_json()

    def last_stateful(self, tenant: Tenant, partner: str, project: str) -> dict[str, Any]:
        job_id = self.last_completed.get((tenant.index, partner, project))
        if job_id is None:
            raise _error("90002", f"No completed stateful job for partner {partner!r} project {project!r}.", 404)
        return self.jobs[job_id].to_json()

    def in_flight(self) -> int:
        """How many jobs are submitted or executing now."""
        with self._lock:
            return sum(1 for j in self.jobs.values() if j.status in IN_FLIGHT)

    def _finish(self, job: Job, failure: FaultRule | None) -> None:
        if job.failed:
            job.status = "aborted"
            for b in job.batches:
                b.status = "aborted" if b.message else "completed"
            return
        if failure is None:
            job.status = "completed"
            for b in job.batches:
                b.status = "completed"
            if job.stateful:
                self.last_completed[(job.tenant.index, job.partner, job.project)] = job.id
            return
        code = 90022 if failure.fault == "job_fail_transient" else int(failure.params["code"])
        job.status = "error" if code == 90029 else "aborted"
        text = {90022: "Internal Server Error", 90027: "Query exceeded the maximum processing time",
                90029: "Job marked as Error after exceeding the time limit in Processing"}[code]
        for b in job.batches:
            b.status, b.message = "aborted", f"{text} ({code})"

    # ----- evaluation -----

    def _execute(self, job: Job, now_ms: int) -> None:
        """Evaluate every query of the job against one snapshot and keep the chosen rows as result files.

        The job counts as evaluated only once every query is: an error half-way (HTTP 500 to the poll)
        leaves it to be evaluated again on the next poll, never completed without its files.
        """
        malformed = job.fault("malformed_csv")
        if self.workdir is None:
            raise RuntimeError("AQuA result files need a work directory; start the simulator first")
        for batch in job.batches:
            try:
                rows, columns = self._evaluate(job, batch, now_ms)
            except FieldGone as e:
                batch.message, job.failed = f"There is no field named {e.args[0]} (90005)", True
                continue
            numeric = batch.deleted is not None and str(batch.deleted.get("format", "")).lower() == "numeric"
            content = Content(rows, columns, replace(job.options, deleted_numeric=numeric),
                              int(malformed.params["line"]) if malformed else None)
            file_id = uuid.uuid4().hex
            path = self.workdir / f"{file_id}{FORMATS[job.fmt]}"
            batch.record_count, batch.file_id = len(rows), file_id
            with self._lock:
                self.files[file_id] = ResultFile(file_id, path, len(rows), job.fmt, now_ms, batch.text, job.id, content)
        job.evaluated = True

    def _evaluate(self, job: Job, batch: Batch, now_ms: int) -> tuple[Rows, list[csvfmt.CsvColumn]]:
        store = job.tenant.store(batch.plan.object)
        span = _intersect(batch.plan.span, self._stateful_window(job, batch, now_ms) if job.stateful else None)
        candidates = store.rows(now_ms, batch.deleted is not None and not (job.stateful and batch.full), span)
        exported = {f.name for f in candidates.fields}
        missing = [name for name in [c.field.name for c in batch.plan.columns] + list(batch.plan.where_fields)
                   if name not in exported]
        if missing:
            raise FieldGone(missing[0])
        result = batch.plan.run(candidates)
        obj = batch.plan.object
        columns = [csvfmt.CsvColumn(csvfmt.label(obj, c.field.name) if not job.use_labels else c.header,
                                    c.field.type, c.field.name) for c in batch.plan.columns]
        if batch.deleted is not None:
            name = str(batch.deleted["column"])
            columns.append(csvfmt.CsvColumn(f"{obj}: {name}" if not job.use_labels else f"{obj}.{name}",
                                            "deleted", DELETED))
        return result, columns

    def _stateful_window(self, job: Job, batch: Batch, now_ms: int) -> Span | None:
        """The UpdatedDate range (start, end] of a stateful query as [start + 1, end + 1) ms, or None for a full load."""
        key = (job.tenant.index, job.partner, job.project)
        session = self.sessions.setdefault(key, {})
        signature = f"{batch.text}|{batch.deleted}"
        offset_ms = job.offset_s * 1000
        if job.incremental_ms is not None:
            batch.full = False
            return job.incremental_ms - offset_ms + 1, now_ms - offset_ms + 1
        previous = session.get(batch.name)
        session[batch.name] = (signature, now_ms)
        if previous is None or previous[0] != signature:
            batch.full = True
            return None
        batch.full = False
        return previous[1] - offset_ms + 1, now_ms - offset_ms + 1

    def reset(self) -> None:
        with self._lock:
            for f in self.files.values():
                f.path.unlink(missing_ok=True)
            self.jobs.clear()
            self.files.clear()
            self.sessions.clear()
            self.last_completed.clear()
            self.max_in_flight = 0


def _intersect(a: Span | None, b: Span | None) -> Span | None:
    """The UpdatedDate range both `a` and `b` allow (None = unbounded)."""
    if a is None or b is None:
        return a or b
    return max(a[0], b[0]), min(a[1], b[1])


def _fields_of(tenant: Tenant, obj: str) -> tuple[str, dict]:
    try:
        store = tenant.store(obj)
    except KeyError as e:
        raise zoql.ZoqlError(f"There is no object named {obj}") from e
    return store.model.object, store.lookup()


def _syntax(message: str, query: str) -> AquaError:
    return _error("90005", f"There is a syntax error in one of the queries in the AQuA input "
                           f"(Error = {message}, Query = {query})")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
