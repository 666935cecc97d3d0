"""AQuA batch-query jobs: submit validation, the job state machine on the sim clock, and snapshot evaluation.

Submit errors come back as HTTP 200 bodies, as Zuora does: `{"status":"error","errorCode":"900xx",...}`
(90004 over 50 queries, 90005 query error incl. "There is no field named X", 90012 `deleted` without
`forceExport` in stateless mode, 90015 bad incrementalTime, 90016 no queries, 90017 object without deleted
export, 90019 unknown partner, 90028 the tenant's concurrent jobs of that mode at the limit — "Zuora system
will reject the subsequent stateful or stateless job requests once the corresponding concurrent job limit
is reached", AQuA limits page); a malformed request (e.g. format json) gets
`{"success":false,"code":50000090,...}`. Unknown job ids give HTTP 404 with errorCode 90002; cancelling a
finished job gives HTTP 200 with errorCode 90003.

A job is stateful when its version is 1.1 or later and it names both partner and project (see `stateful`);
otherwise stateless. It is `submitted` (queries `pending`) for `JobTiming.queue_seconds` — longer while an
earlier job of its stateful session runs — then `executing`: its queries run one after the other against
one snapshot taken when it began, each for a time that grows with the rows it exports (`jobs.schedule`),
then it is `completed`. Jobs complete by the sim clock alone; `polls_to_complete` > 1 (or a `slow_job`
fault) also makes a job wait for that many polls. A query's result file is written before the query reports
`completed` (`results`), so downloads are plain file transfers; the rows of queries that never complete are
dropped when their job ends.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from zuora_assets.sim import csvfmt, tz, zoql
from zuora_assets.sim.config import SimConfig
from zuora_assets.sim.faults import FaultRule, RowLimit
from zuora_assets.sim.jobs import IN_FLIGHT, Batch, Job, kill, schedule, show_progress
from zuora_assets.sim.joins import Joiner, TenantSchema
from zuora_assets.sim.results import SUFFIXES, Content, ResultFile
from zuora_assets.sim.stateful import Sessions, without_short_lived
from zuora_assets.sim.tenant import Tenant
from zuora_assets.sim.versions import DELETED, Rows, Span
from zuora_assets.zuora.catalog import model

MAX_QUERIES = 50
MALFORMED = {"success": False, "code": 50000090, "message": "Oops, request is malformed. Please check your request."}
STATEFUL_SINCE = Decimal("1.1")


class AquaError(Exception):
    """A refused AQuA call: the JSON body and HTTP status to answer with."""

    def __init__(self, body: dict[str, Any], status: int = 200):
        super().__init__(body.get("message", ""))
        self.body, self.status = body, status


class FieldGone(Exception):
    """A field the query selects was removed between submit and execution."""


def _error(code: str, message: str, status: int = 200) -> AquaError:
    return AquaError({"status": "error", "errorCode": code, "message": message}, status)


class Aqua:
    """Every AQuA job and result file of one simulator (jobs of all its entities count against one limit)."""

    def __init__(self, config: SimConfig, workdir: Path | None = None, row_limit: RowLimit = lambda path, query: None):
        self.config, self.row_limit = config, row_limit  # row_limit: a `too_large` fault's (FaultBook.row_limit)
        self.workdir = workdir  # where result files are written (set when the server starts)
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, ResultFile] = {}
        self.sessions = Sessions()
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
        version = _version(body.get("version", "1.0"))
        if fmt not in SUFFIXES or version is None:
            raise AquaError(MALFORMED)
        partner, project = body.get("partner"), body.get("project")
        stateful = version >= STATEFUL_SINCE and bool(partner) and bool(project)
        if stateful and self.config.partners and str(partner) not in self.config.partners:
            raise _error("90019", f"The partner {partner!r} is not recognized; ask Zuora Global Support for a "
                                  "partner id.")
        queries = self._queries(body, tenant, stateful, str(partner), str(project))
        batches = [self._batch(tenant, q, i, stateful) for i, q in enumerate(queries)]
        job = Job(id=uuid.uuid4().hex, name=str(body.get("name", ""))[:32], version=str(body.get("version", "1.0")),
                  fmt=fmt, tenant=tenant, options=self._options(body, tenant), batches=batches, faults=[],
                  start_ms=now_ms, use_labels=_truthy(body.get("useQueryLabels")), timing=self.config.job_timing)
        if stateful:
            job.partner, job.project = str(partner), str(project)
            job.offset_s = _offset(body.get("offset", 0))
            if body.get("incrementalTime"):
                job.incremental_ms = self._incremental_time(str(body["incrementalTime"]))
        self._admit(job, now_ms)
        job.faults = faults()
        slow = job.fault("slow_job")
        job.polls_needed = self.config.polls_to_complete + (int(slow.params["polls"]) if slow else 0)
        return job.to_json()

    def _queries(self, body: dict[str, Any], tenant: Tenant, stateful: bool, partner: str, project: str) -> list:
        queries = body.get("queries")
        if queries is not None and not isinstance(queries, list):
            raise AquaError(MALFORMED)
        queries = list(queries or [])
        if stateful and (not queries or _truthy(body.get("useLastCompletedJobQueries"))):
            last = self.sessions.last_completed.get((tenant.index, partner, project))
            named = {str(q.get("name")) for q in queries if isinstance(q, dict)}
            previous = [{"name": b.name, "query": b.text, "deleted": b.deleted, "apiVersion": b.api_version}
                        for b in (self.jobs[last].batches if last else []) if b.name not in named]
            queries += [{k: v for k, v in q.items() if v is not None} for q in previous]
        if not queries:
            raise _error("90016", "There are no queries included in the AQuA request; give 1 to 50 queries "
                                  "(a stateful session without a completed job has no queries to repeat).")
        if len(queries) > MAX_QUERIES:
            raise _error("90004", f"The AQuA request has {len(queries)} queries; the limit is {MAX_QUERIES} per job.")
        return queries

    def _options(self, body: dict[str, Any], tenant: Tenant) -> csvfmt.CsvOptions:
        null = body.get("nullReplacement")
        return csvfmt.CsvOptions(tenant_tz=tenant.tenant_tz, datetime_utc=_truthy(body.get("dateTimeUtc")),
                                 null_replacement="" if null is None else str(null))

    def _admit(self, job: Job, now_ms: int) -> None:
        """Count the tenant's jobs in flight of the job's mode (as of now) and take the job, or refuse it (90028).

        Job locks are never taken while holding the simulator-wide lock (a poll holds its job's lock and
        then may need the simulator-wide one).
        """
        self.in_flight(now_ms)
        with self._lock:
            flying = sum(1 for j in self.jobs.values() if j.status in IN_FLIGHT and j.stateful == job.stateful)
            if flying >= self.config.max_concurrent_jobs:
                mode = "stateful" if job.stateful else "stateless"
                raise _error("90028", f"The number of concurrent {mode} AQuA jobs ({flying}) has reached the limit "
                                      f"of {self.config.max_concurrent_jobs}; wait for a job to finish and retry.")
            self.jobs[job.id] = job
            self.max_in_flight = max(self.max_in_flight, sum(1 for j in self.jobs.values() if j.status in IN_FLIGHT))

    def _batch(self, tenant: Tenant, query: Any, index: int, stateful: bool) -> Batch:
        if not isinstance(query, dict) or not isinstance(query.get("query"), str):
            raise AquaError(MALFORMED)
        text = query["query"]
        if str(query.get("type", "zoqlexport")).lower() not in ("zoqlexport", "zoql"):
            raise _syntax(f"unknown query type {query.get('type')!r}; use zoqlexport", text)
        try:
            plan = zoql.parse(text, TenantSchema(tenant), tenant.tenant_tz)
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
            raise _error("90012", f"Stateless AQuA does not support deleted columns unless forceExport is set: add "
                                  f"\"forceExport\": true to the deleted option of the query on {obj}.")
        if not model(obj).exports_deletes:
            raise _error("90017", f"Objects included in the queries do not support the querying of deleted records "
                                  f"({obj}). Remove \"Deleted\" section in the JSON request and retry the request.")

    def _incremental_time(self, text: str) -> int:
        zone = "UTC" if self.config.data_center == "EU" else tz.PACIFIC
        try:
            naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError as e:
            raise _error("90015", f"The incremental timestamp {text!r} is invalid; use 'YYYY-MM-DD HH:mm:ss' in "
                                  f"{zone}.") from e
        return tz.to_ms(naive.replace(tzinfo=ZoneInfo(zone)))

    # ----- poll, cancel -----

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise _error("90002", f"Invalid Job Id: there is no AQuA job with id {job_id!r}.", status=404)
        return job

    def poll(self, job_id: str, now_ms: int) -> dict[str, Any]:
        """The job as of `now_ms` (counting this poll)."""
        job = self.job(job_id)
        self.advance(job, now_ms, poll=True)
        with job.lock:
            return job.to_json()

    def cancel(self, job_id: str, now_ms: int) -> dict[str, Any]:
        job = self.job(job_id)
        self.advance(job, now_ms)
        with job.lock:
            if job.status not in IN_FLIGHT:
                raise _error("90003", f"Invalid Job Id for job cancellation: AQuA job {job_id} is {job.status}; "
                                      "only submitted or executing jobs can be cancelled.")
            job.status, job.finish_ms = "cancelled", now_ms
            for b in job.batches:
                if b.status != "completed":
                    b.status = "cancelled"
            self._write(job)
            return job.to_json()

    def last_stateful(self, tenant: Tenant, partner: str, project: str) -> dict[str, Any]:
        job_id = self.sessions.last_completed.get((tenant.index, partner, project))
        if job_id is None:
            raise _error("90002", f"No completed stateful job for partner {partner!r} project {project!r}.", 404)
        return self.jobs[job_id].to_json()

    def in_flight(self, now_ms: int | None = None) -> int:
        """How many jobs are submitted or executing (as of `now_ms`, when given)."""
        with self._lock:
            jobs = list(self.jobs.values())
        if now_ms is not None:
            for j in jobs:
                self.advance(j, now_ms)
        return sum(1 for j in jobs if j.status in IN_FLIGHT)

    # ----- the state machine -----

    def advance(self, job: Job, now_ms: int, poll: bool = False) -> None:
        """Move `job` to its status at `now_ms` (a poll also counts towards `polls_needed`)."""
        with job.lock:
            if job.status not in IN_FLIGHT:
                return
            job.polls += poll
            failure = job.fault("job_fail_transient") or job.fault("job_timeout")
            if job.exec_ms is None:
                start = self._start(job, now_ms)
                if start is None or now_ms < start:
                    return
                job.exec_ms = start
            if not job.evaluated:
                self._execute(job, skip=failure is not None)
            needs_polls = job.polls_needed if job.polls_needed > 1 else 0
            if now_ms < job.done_ms or job.polls < needs_polls:
                show_progress(job, now_ms)
            else:
                self._finish(job, failure)
            self._write(job)

    def _write(self, job: Job) -> None:
        """Write completed queries' files (under the job lock: before anyone sees them); drop the rest at the end."""
        for b in job.batches:
            f = self.files.get(b.file_id) if b.file_id else None
            if f is not None and b.status == "completed":
                f.render(self.config.max_file_bytes, self.row_limit(f"/v1/files/{f.id}", f.query))
            elif f is not None and job.status not in IN_FLIGHT:
                f.drop()

    def _start(self, job: Job, now_ms: int) -> int | None:
        """When the job begins executing: after its queue time and any earlier job of its session (None: not yet)."""
        start = job.start_ms + int(job.timing.queue_seconds * 1000)
        if not job.stateful:
            return start
        with self._lock:
            earlier = [j for j in self.jobs.values() if j is not job and j.key == job.key and j.start_ms <= job.start_ms
                       and list(self.jobs).index(j.id) < list(self.jobs).index(job.id)]
        for other in earlier:
            self.advance(other, now_ms)
            if other.status in IN_FLIGHT:
                return None
            start = max(start, other.finish_ms or start)
        return start

    def _finish(self, job: Job, failure: FaultRule | None) -> None:
        job.finish_ms = job.done_ms
        if job.killed is not None:
            kill(job, 90027)
            return
        if job.failed:
            job.status = "aborted"
            for b in job.batches:
                b.status = "aborted" if b.message else "completed"
                b.record_count = 0 if b.message else b.rows
            return
        if failure is None:
            job.status = "completed"
            for b in job.batches:
                b.status, b.record_count = "completed", b.rows
            if job.stateful:
                self.sessions.complete(job)
            return
        code = 90022 if failure.fault == "job_fail_transient" else int(failure.params["code"])
        job.status = "error" if code == 90029 else "aborted"
        text = {90022: "Internal Server Error", 90027: "Query exceeded the maximum processing time",
                90029: "Job marked as Error after exceeding the time limit in Processing"}[code]
        for b in job.batches:
            b.status, b.message = "aborted", f"{text} ({code})"

    # ----- evaluation -----

    def _execute(self, job: Job, skip: bool = False) -> None:
        """Evaluate every query of the job against its snapshot, keep the chosen rows as result files, and
        place the queries on the clock.

        The job counts as evaluated only once every query is: an error half-way (HTTP 500 to the poll)
        leaves it to be evaluated again on the next poll, never completed without its files.
        """
        if self.workdir is None:
            raise RuntimeError("AQuA result files need a work directory; start the simulator first")
        malformed = job.fault("malformed_csv")
        files = []
        for batch in job.batches if not skip else []:
            try:
                rows, columns, joined = self._evaluate(job, batch)
            except FieldGone as e:
                batch.message, job.failed = f"There is no field named {e.args[0]} (90005)", True
                continue
            numeric = batch.deleted is not None and str(batch.deleted.get("format", "")).lower() == "numeric"
            content = Content(rows, columns, replace(job.options, deleted_numeric=numeric),
                              int(malformed.params["line"]) if malformed else None, batch.plan.joins, joined)
            file_id = uuid.uuid4().hex
            files.append(ResultFile(file_id, self.workdir / f"{file_id}{SUFFIXES[job.fmt]}", len(rows), job.fmt,
                                    job.exec_ms, batch.text, job.id, content))
            batch.rows, batch.file_id = len(rows), file_id
        with self._lock:
            self.files.update({f.id: f for f in files})
        job.ends, job.killed = schedule(job.exec_ms, [b.rows for b in job.batches], job.timing)
        job.evaluated = True

    def _evaluate(self, job: Job, batch: Batch) -> tuple[Rows, list[csvfmt.CsvColumn], Joiner]:
        plan = batch.plan
        store = job.tenant.store(plan.object)
        window = self.sessions.window(job, batch) if job.stateful else None
        deleted = batch.deleted is not None and not (job.stateful and batch.full)
        candidates = store.rows(job.exec_ms, deleted, _intersect(plan.span, window))
        exported = {f.name for f in candidates.fields}
        missing = [c.field.name for c in plan.columns if not c.join and c.field.name not in exported]
        missing += [name for name in plan.where_fields if name not in exported]
        if missing:
            raise FieldGone(missing[0])
        joiner = Joiner(job.tenant, plan.object, job.exec_ms)
        result = plan.run(candidates, joiner)
        if window is not None and deleted:
            result = without_short_lived(result, window)
        obj = plan.object
        columns = [csvfmt.CsvColumn(c.header if job.use_labels else csvfmt.label(*c.header.split(".", 1)),
                                    c.field.type, c.source) for c in plan.columns]
        if batch.deleted is not None:
            name = str(batch.deleted["column"])
            columns.append(csvfmt.CsvColumn(f"{obj}.{name}" if job.use_labels else f"{obj}: {name}", "deleted",
                                            DELETED))
        return result, columns, joiner

    def reset(self) -> None:
        with self._lock:
            for f in self.files.values():
                f.discard()
            self.jobs.clear()
            self.files.clear()
            self.sessions.reset()
            self.max_in_flight = 0


def _intersect(a: Span | None, b: Span | None) -> Span | None:
    """The UpdatedDate range both `a` and `b` allow (None = unbounded)."""
    if a is None or b is None:
        return a or b
    return max(a[0], b[0]), min(a[1], b[1])


def _version(value: Any) -> Decimal | None:
    """An AQuA `version` ("1.0", "1.1", 1.2, ...) as a number; None when it is not one."""
    try:
        version = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return version if version.is_finite() and version >= 1 else None


def _offset(value: Any) -> int:
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        raise AquaError(MALFORMED) from None
    if not 0 <= seconds <= 3600:
        raise AquaError(MALFORMED)
    return seconds


def _syntax(message: str, query: str) -> AquaError:
    return _error("90005", f"There is a syntax error in one of the queries in the AQuA input "
                           f"(Error = {message}, Query = {query})")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
