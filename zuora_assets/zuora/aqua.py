"""AQuA stateless export jobs: submit, poll until done, and classify every failure.

`AquaJobs.run(queries)` submits one job (at most 50 queries), holding one of a fixed number of
in-flight slots from submission until the job ends, polls it with growing intervals, and returns one
outcome per query: `BatchResult` (files to download) or `Failure` with a `kind` saying what the
caller should do: `transient` (resubmit), `too_large` (split the window), `field` (drop the named
field and resubmit) or `permanent` (stop the model). A rejection at submit time (HTTP 200 with an
`errorCode`) raises `JobRejected` carrying the same classification.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zuora_assets.common.failures import InvalidValue
from zuora_assets.common.retry import Backoff, retry
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.errors import ZuoraJobError, ZuoraRequestError
from zuora_assets.zuora.zoql import ExportQuery, job_request

TRANSIENT, TOO_LARGE, FIELD, PERMANENT, BUSY = "transient", "too_large", "field", "permanent", "busy"

# AQuA error codes (reference/zuora_api.md section 3.3) and what they mean for us.
_CODE_KINDS = {
    "90006": TRANSIENT, "90007": TRANSIENT, "90008": TRANSIENT, "90010": TRANSIENT, "90022": TRANSIENT,
    "90027": TOO_LARGE, "90029": TOO_LARGE,
    "90028": BUSY,
}
_PERMANENT_ADVICE = {
    "90009": "the OAuth client's user is not authorized for AQuA exports: grant it the API and "
             "'Enable DataSource Exports Reporting' permissions",
    "90012": "the query asked for deleted records without forceExport: this is a bug in zuora-athena, report it",
    "90017": "this object does not export deleted records: mark the model exports_deletes=False in the catalog",
    "90018": "the OAuth client's user has no permission on this object: grant it, or remove the model",
    "90019": "Zuora does not recognize the partner id: stateless jobs send none, report this as a bug",
}
_TRANSIENT_WORDS = ("temporarily unavailable", "service unavailable", "internal server error", "try again",
                    "link_30000007")
_TOO_LARGE_WORDS = ("max-object-size", "maximum processing time", "timeout", "timed out")
_NO_FIELD = re.compile(r"no field named\s+['\"]?([A-Za-z0-9_.]+)", re.IGNORECASE)
_QUERY_OBJECT = re.compile(r"\bfrom\s+([A-Za-z0-9_]+)", re.IGNORECASE)
_CODE = re.compile(r"\b(9\d{4})\b")
_DONE, _FAILED = {"completed"}, {"aborted", "error", "cancelled", "canceled", "failed"}


@dataclass(frozen=True)
class Failure:
    """Why a query failed and what to do: `kind` is transient, too_large, field, permanent or busy."""

    kind: str
    message: str
    code: str | None = None
    field: str | None = None  # the rejected field, for kind == "field"
    object: str | None = None  # the Zuora object named by the error, when it names one


@dataclass(frozen=True)
class BatchResult:
    """A completed query: the files holding its rows and how many rows Zuora counted."""

    query: ExportQuery
    job_id: str
    file_ids: tuple[str, ...]
    record_count: int


class JobRejected(Exception):
    """Zuora refused to create the job (HTTP 200 with an errorCode); `failure` says why."""

    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


def classify(code: str | None, message: str) -> Failure:
    """The failure kind of an AQuA error code and/or message."""
    message = message or ""
    code = code or (m.group(1) if (m := _CODE.search(message)) else None)
    obj = m.group(1) if (m := _QUERY_OBJECT.search(message)) else None
    if m := _NO_FIELD.search(message):
        return Failure(FIELD, message, code, field=m.group(1).rsplit(".", 1)[-1], object=obj)
    if code in _CODE_KINDS:
        return Failure(_CODE_KINDS[code], message, code, object=obj)
    if code in _PERMANENT_ADVICE:
        return Failure(PERMANENT, f"{message} ({_PERMANENT_ADVICE[code]})", code, object=obj)
    lowered = message.lower()
    if any(w in lowered for w in _TOO_LARGE_WORDS):
        return Failure(TOO_LARGE, message, code, object=obj)
    if any(w in lowered for w in _TRANSIENT_WORDS):
        return Failure(TRANSIENT, message, code, object=obj)
    return Failure(PERMANENT, f"{message or 'no message'} (an AQuA error zuora-athena does not know: check the "
                   "model's fields and the tenant's settings, or ask Zuora support)", code, object=obj)


def _record_count(value: Any) -> int:
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return -1


def _outcome(query: ExportQuery, job: dict[str, Any], batch: dict[str, Any]) -> BatchResult | Failure:
    status = str(batch.get("status", "")).lower()
    if status == "completed":
        segments = batch.get("segments") or []
        file_ids = tuple(str(s) for s in segments) if segments else (str(batch.get("fileId") or ""),)
        file_ids = tuple(f for f in file_ids if f)
        if not file_ids:
            # Zuora gives every completed query a result file, even an empty one: without it the rows
            # are unknown, and taking it for "no rows" would let a replace empty the partitions.
            return Failure(TRANSIENT, f"AQuA job {job.get('id')} completed query {query.name} without a result file")
        return BatchResult(query, str(job["id"]), file_ids, _record_count(batch.get("recordCount")))
    if status == "deleted_notallowed":
        return classify("90017", f"Zuora object {query.model.object} does not export deleted records")
    message = str(batch.get("message") or job.get("message") or f"batch status {status or 'unknown'}")
    return classify(job.get("errorCode"), message)


MIN_JOB_TIMEOUT = 3 * 3600.0  # Zuora lets one query of a job run 3 hours before it kills the job
BUSY_WAIT_CAP = 600.0  # the longest wait before resubmitting a job Zuora refused as busy (90028)
MIN_POLL_SECONDS = 0.01  # the shortest wait between polls, so that poll_initial=0 still backs off
HEARTBEAT = 300.0  # seconds of waiting without news after which the log says the job is still running


@dataclass
class AquaJobs:
    """Runs AQuA jobs for one client with at most `max_in_flight` of them submitted and unfinished.

    Polling waits `poll_initial` seconds, then 1.5 times longer each time (never less than `poll_initial`), up to
    `poll_max`: a job of hours costs a few hundred polls, not thousands. A job is given up (cancelled, and
    reported as too large) only when `job_timeout` seconds pass without progress, that is without one of its
    queries finishing; Zuora runs a job's queries one after the other and kills a query after 3 hours, so
    `job_timeout` may not be lower than that. Each change of state, and every HEARTBEAT seconds of silence,
    goes to `logger` (the run's log in Dagster).
    """

    client: ZuoraClient
    max_in_flight: int = 4
    poll_initial: float = 1.0
    poll_max: float = 30.0
    job_timeout: float = 3.5 * 3600
    busy_attempts: int = 8
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise InvalidValue(f"max_jobs_in_flight must be at least 1, got {self.max_in_flight}")
        if self.job_timeout < MIN_JOB_TIMEOUT:
            raise InvalidValue(f"job_timeout is {self.job_timeout:.0f} s; Zuora lets a query run "
                             f"{MIN_JOB_TIMEOUT:.0f} s (3 hours), so give at least that")
        if self.poll_initial < 0 or self.poll_max <= 0:
            raise InvalidValue(f"poll_initial ({self.poll_initial}) must be >= 0 and poll_max ({self.poll_max}) > 0")
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._count = 0
        self._count_lock = threading.Lock()

    def run(self, queries: Sequence[ExportQuery]) -> dict[str, BatchResult | Failure]:
        """Run one job of `queries` to its end; the outcome of each query by query name."""

        def submit_and_wait() -> dict[str, BatchResult | Failure]:
            with self._slots:
                job_id = self._submit(queries)
                return self._outcomes(self._wait(job_id, queries), queries)

        return retry(  # Zuora refuses new jobs while too many run on the tenant (90028): resubmit later
            submit_and_wait,
            attempts=self.busy_attempts,
            backoff=Backoff(self.poll_max, BUSY_WAIT_CAP),
            retryable=lambda e: isinstance(e, JobRejected) and e.failure.kind == BUSY,
            sleep=self.client.sleep,
            what="AQuA job submission",
        )

    def _job_name(self) -> str:
        with self._count_lock:
            self._count += 1
            return f"zuora-athena-{self._count}"

    def _submit(self, queries: Sequence[ExportQuery]) -> str:
        try:
            resp = self.client.post("/v1/batch-query/", json=job_request(self._job_name(), queries))
        except ZuoraRequestError as exc:
            if exc.status is None or exc.status == 200:
                raise JobRejected(classify(exc.code, str(exc))) from None
            raise
        job = resp.json()
        if not job.get("id"):
            raise JobRejected(classify(job.get("errorCode"), str(job.get("message") or job)))
        self.logger.info("AQuA job %s submitted with %d quer%s: %s", job["id"], len(queries),
                         "y" if len(queries) == 1 else "ies", ", ".join(q.name for q in queries))
        return str(job["id"])

    def _wait(self, job_id: str, queries: Sequence[ExportQuery]) -> dict[str, Any]:
        """Poll the job until it ends; when it makes no progress for `job_timeout`, cancel it and report it
        as too large."""
        watch = _Watch(self.clock(), job_id, self.logger)
        delay = self.poll_initial
        while True:
            self.client.sleep(delay)
            watch.slept(delay)
            job = self.client.get(f"/v1/batch-query/jobs/{job_id}").json()
            status = str(job.get("status", "")).lower()
            watch.saw(job, self.clock())
            if status in _DONE or status in _FAILED:
                return job
            if watch.stalled(self.clock()) > self.job_timeout:
                self._cancel(job_id)
                message = (f"AQuA job {job_id} made no progress for {self.job_timeout:.0f} s "
                           f"({watch.progress}; timeout)")
                return {"id": job_id, "status": "aborted", "message": message,
                        "batches": [{"name": q.name, "status": "aborted", "message": message} for q in queries]}
            delay = min(max(delay * 1.5, self.poll_initial, MIN_POLL_SECONDS), self.poll_max)

    def _cancel(self, job_id: str) -> None:
        try:
            self.client.delete(f"/v1/batch-query/jobs/{job_id}")
        except ZuoraRequestError as exc:
            self.logger.warning("could not cancel AQuA job %s: %s", job_id, exc)

    def _outcomes(self, job: dict[str, Any], queries: Sequence[ExportQuery]) -> dict[str, BatchResult | Failure]:
        batches = {str(b.get("name")): b for b in job.get("batches") or []}
        outcomes: dict[str, BatchResult | Failure] = {}
        for q in queries:
            batch = batches.get(q.name)
            if batch is None:
                outcomes[q.name] = Failure(PERMANENT, f"AQuA job {job.get('id')} has no batch for query {q.name}")
            else:
                outcomes[q.name] = _outcome(q, job, batch)
        return outcomes


class _Watch:
    """What a wait has seen of a job: its state, its progress, and how long since either changed."""

    def __init__(self, now: float, job_id: str, logger: logging.Logger):
        self.job_id, self.logger = job_id, logger
        self.started = self.changed = self.told = now
        self.waited = self.quiet = 0.0  # seconds slept in all, and since the last progress
        self.polls = 0
        self.state: tuple = ()
        self.progress = "no query done"

    def slept(self, seconds: float) -> None:
        self.waited += seconds
        self.quiet += seconds

    def saw(self, job: dict[str, Any], now: float) -> None:
        """Note a poll's answer; log a change of state, or a heartbeat after HEARTBEAT seconds of silence."""
        self.polls += 1
        batches = job.get("batches") or []
        done = [b for b in batches if str(b.get("status", "")).lower() == "completed"]
        rows = sum(max(_record_count(b.get("recordCount")), 0) for b in done)
        status = str(job.get("status", "")).lower()
        self.progress = f"{len(done)} of {len(batches)} queries done, {rows:,} rows"
        state = (status, len(done))
        elapsed = max(now - self.started, self.waited)
        if state != self.state:  # a new status, or one more query done: progress
            self.state, self.changed, self.quiet, self.told = state, now, 0.0, elapsed
            self.logger.info("AQuA job %s %s after %s (poll %d): %s", self.job_id, status, _duration(elapsed),
                             self.polls, self.progress)
        elif elapsed - self.told >= HEARTBEAT:
            self.told = elapsed
            self.logger.info("AQuA job %s still %s after %s (poll %d): %s", self.job_id, status, _duration(elapsed),
                             self.polls, self.progress)

    def stalled(self, now: float) -> float:
        """Seconds since the job last made progress (by the clock, or by the sleeps when the clock stands still)."""
        return max(now - self.changed, self.quiet)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


def raise_permanent(failure: Failure, place: str, job_id: str | None = None) -> None:
    """Raise the error that stops a model for a permanent failure."""
    raise ZuoraJobError(f"{place}: the AQuA export failed: {failure.message}", code=failure.code, job_id=job_id)
