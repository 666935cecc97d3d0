"""Stateful AQuA sessions: which records each query of a session returns, full load or increment.

Zuora (docs.zuora.com .../aqua-stateless-and-stateful-modes, .../post-query/export-deleted-data;
developer.zuora.com POST_BatchQueryJob):
- `version` 1.1 and later, with `partner` and `project`, is stateful ("Starting with version 1.1, the AQuA
  API supports the exporting of deleted records in Stateful mode"; clients send "1.2"). 1.0 is stateless.
- (partner, project) is a session. The first call is a full load of each query, without deleted records;
  later calls return what was created, updated (and, with a `deleted` column, deleted) since the previous
  call. Changing a query's text or its deleted column, or adding a query, gives that query a full load
  again; `batches[].full` says which. A session idle for 180 days starts over.
- `incrementalTime` overrides the start ("YYYY-MM-DD HH:mm:ss", Pacific time for US data centers, UTC for
  EU) and does not move the session (guardian/support-service-lambdas#394). `offset` (0..3600 s) pulls the
  end of the interval back.
- Records created and deleted within one interval are never returned.
- Jobs of one session run one after the other; a session moves only when its job completes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from zuora_assets.sim.jobs import Batch, Job
from zuora_assets.sim.versions import DELETED, Rows, Span

IDLE_RESET_MS = 180 * 86_400_000


@dataclass(frozen=True)
class Mark:
    """Where a query of a session stopped: its signature and the end of the interval it exported."""

    signature: str
    end_ms: int


class Sessions:
    """Every stateful session of a simulator and the last completed job of each."""

    def __init__(self) -> None:
        self.marks: dict[tuple, dict[str, Mark]] = {}
        self.last_completed: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def window(self, job: Job, batch: Batch) -> Span | None:
        """The UpdatedDate range (start, end] of a stateful query as [start + 1, end + 1) ms; None = full load.

        Sets `batch.full`.
        """
        end = job.exec_ms - job.offset_s * 1000
        if job.incremental_ms is not None:
            batch.full = False
            return job.incremental_ms, end + 1
        with self._lock:
            mark = self.marks.get(job.key, {}).get(batch.name)
        if mark is None or mark.signature != signature(batch) or job.exec_ms - mark.end_ms > IDLE_RESET_MS:
            batch.full = True
            return None
        batch.full = False
        return mark.end_ms + 1, end + 1

    def complete(self, job: Job) -> None:
        """Move the session of a completed job (not for `incrementalTime` runs, which leave it where it was)."""
        with self._lock:
            self.last_completed[job.key] = job.id
            if job.incremental_ms is not None:
                return
            marks = self.marks.setdefault(job.key, {})
            for b in job.batches:
                marks[b.name] = Mark(signature(b), job.exec_ms - job.offset_s * 1000)

    def reset(self) -> None:
        with self._lock:
            self.marks.clear()
            self.last_completed.clear()


def signature(batch: Batch) -> str:
    """What makes a query the same query for its session: its text and its deleted column."""
    return f"{batch.text}|{sorted((batch.deleted or {}).items())}"


def without_short_lived(rows: Rows, window: Span) -> Rows:
    """`rows` less the tombstones of records created inside the window (never exported, as Zuora documents)."""
    if not len(rows):
        return rows
    table = rows.columns(["CreatedDate", DELETED])
    created = pc.cast(table.column("CreatedDate"), "int64").to_numpy(zero_copy_only=False)
    tomb = table.column(DELETED).to_numpy(zero_copy_only=False).astype(bool)
    return rows.take(np.flatnonzero(~(tomb & (created >= window[0]))))
