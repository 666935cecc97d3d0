"""AQuA jobs and their queries (batches) as Zuora reports them, and when each query runs.

Statuses (developer.zuora.com POST_BatchQueryJob / GET_BatchQueryJob): a job is `submitted`, `executing`,
`completed`, `error` (failed validation or timed out in processing, 90029), `aborted` (a query failed) or
`cancelled`; each of its queries (`batches[]`) is `pending` (waiting), `executing`, `completed`, `aborted`
or `deleted_notallowed`. A job's queries run one after the other against one snapshot; `schedule` places
them on the sim clock (`config.JobTiming`).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from zuora_assets.sim import csvfmt, tz
from zuora_assets.sim.config import JobTiming
from zuora_assets.sim.faults import FaultRule
from zuora_assets.sim.plan import ExportQuery
from zuora_assets.sim.tenant import Tenant

IN_FLIGHT = ("submitted", "executing")
KILLED = {90027: "Query exceeded the maximum processing time of 3 hours",
          90007: "The query execution has been aborted"}


@dataclass
class Batch:
    """One query of a job."""

    name: str
    text: str
    plan: ExportQuery
    deleted: dict[str, Any] | None
    api_version: str | None
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "pending"
    record_count: int = 0
    file_id: str | None = None
    message: str | None = None
    full: bool = True
    rows: int = 0  # rows the query chose (reported as recordCount once it completes)

    def to_json(self) -> dict[str, Any]:
        out = {"batchId": self.batch_id, "name": self.name, "query": self.text, "batchType": "zoqlexport",
               "apiVersion": self.api_version, "status": self.status, "localizedStatus": self.status,
               "recordCount": self.record_count, "full": self.full, "message": self.message or ""}
        extra = {"fileId": self.file_id, "deleted": self.deleted}
        return out | {k: v for k, v in extra.items() if v is not None}


@dataclass
class Job:
    """One submitted job and its progress (statuses move when it is advanced to an instant)."""

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
    timing: JobTiming
    partner: str | None = None
    project: str | None = None
    incremental_ms: int | None = None
    offset_s: int = 0
    status: str = "submitted"
    polls: int = 0
    polls_needed: int = 1
    exec_ms: int | None = None  # when it began executing: the instant of its snapshot
    ends: list[int] = field(default_factory=list)  # when each query completes (or is killed)
    killed: int | None = None  # the query killed for running past the limit
    evaluated: bool = False
    failed: bool = False  # a query failed at execution (a field vanished)
    finish_ms: int | None = None  # when it reached a final status
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stateful(self) -> bool:
        return self.partner is not None

    @property
    def key(self) -> tuple[int, str | None, str | None]:
        """The stateful session it belongs to: (entity, partner, project)."""
        return self.tenant.index, self.partner, self.project

    def fault(self, kind: str) -> FaultRule | None:
        return next((f for f in self.faults if f.fault == kind), None)

    @property
    def done_ms(self) -> int | None:
        """When its last query completes or is killed (None until it executes)."""
        if self.exec_ms is None:
            return None
        return self.ends[-1] if self.killed is None else self.ends[self.killed]

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


def schedule(exec_ms: int, rows: list[int], timing: JobTiming) -> tuple[list[int], int | None]:
    """When each query ends, run one after the other from `exec_ms`, and the first one killed (or None)."""
    ends, at, limit = [], exec_ms, int(timing.max_query_seconds * 1000)
    for i, n in enumerate(rows):
        duration = timing.query_ms(n)
        if duration > limit:
            ends.append(at + limit)
            return ends + [at + limit] * (len(rows) - i - 1), i
        at += duration
        ends.append(at)
    return ends, None


def show_progress(job: Job, now_ms: int) -> None:
    """Set the statuses of an executing job's queries as of `now_ms` (done, running, waiting)."""
    job.status = "executing"
    running = False
    for b, end in zip(job.batches, job.ends, strict=True):
        if end <= now_ms and (job.killed is None or job.batches.index(b) < job.killed):
            b.status, b.record_count = "completed", b.rows
        elif not running:
            b.status, running = "executing", True
        else:
            b.status = "pending"


def kill(job: Job, code: int) -> None:
    """End a job whose query `job.killed` ran past Zuora's limit: it aborts, later queries with it."""
    job.status = "aborted"
    for i, b in enumerate(job.batches):
        if i < job.killed:
            b.status, b.record_count = "completed", b.rows
        else:
            c = code if i == job.killed else 90007
            b.status, b.message = "aborted", f"{KILLED[c]} ({c})"
