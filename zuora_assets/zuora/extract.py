"""Extraction: one window of one or more models out of Zuora as lazily streamed, typed Arrow batches.

`Extractor.extract_many` sends one AQuA job (up to 50 queries, one per model, same window: a
consistent snapshot), waits for it, and returns one `Extraction` per model whose `batches` download
and parse the result files only when iterated. A window whose file is too large (or whose job times
out) is split in half, down to one second, then read in pages by `Id`; transient failures are
resubmitted with backoff; a field the query rejects is dropped (its column stays, as nulls, if the
schema was already fixed) and remembered for the run; permanent failures stop that model only.
Batches come in non-decreasing `updated_date` order, which is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pyarrow as pa

from zuora_assets.common.failures import InvalidValue
from zuora_assets.common.retry import Backoff
from zuora_assets.zuora.aqua import (
    BUSY,
    FIELD,
    PERMANENT,
    TOO_LARGE,
    TRANSIENT,
    AquaJobs,
    BatchResult,
    Failure,
    JobRejected,
)
from zuora_assets.zuora.catalog import ZuoraModel
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.errors import (
    ZuoraError,
)
from zuora_assets.zuora.model_run import ModelRun, ProgressCallback
from zuora_assets.zuora.prefetch import prefetch
from zuora_assets.zuora.streaming import BUFFER_BYTES
from zuora_assets.zuora.zoql import Window, to_utc

Outcome = BatchResult | Failure
# Typed batches parsed ahead of the consumer, at most: enough to keep parsing while it writes and uploads a
# partition's file (a smaller budget stalls the parser; a larger one, or bigger batches, costs memory).
PREFETCH_BYTES = 32 << 20
RESUBMIT_WAIT_CAP = 600.0  # the longest wait before resubmitting a job that failed transiently


def _batch_bytes(batch: pa.RecordBatch) -> int:
    return batch.nbytes


class Extraction:
    """The rows of one model changed in one window, as a lazy stream of Arrow record batches."""

    def __init__(self, run: ModelRun, start: datetime, end: datetime):
        self._run = run
        self.model = run.model
        self.start = start
        self.end = end
        self.schema: pa.Schema = run.schema()
        # Made ahead by a thread (download and parsing) while the consumer writes the previous ones.
        self.batches: Iterator[pa.RecordBatch] = prefetch(
            run.batches(), run.ex.read_ahead_bytes, _batch_bytes, name=f"extract {run.name}"
        )

    @property
    def dropped_fields(self) -> list[str]:
        """Fields of the model not exported this run (not exportable, or rejected by a query)."""
        return list(self._run.dropped)

    @property
    def row_count(self) -> int:
        """Rows parsed so far, at most a few batches ahead of `batches` (the total once it is exhausted)."""
        return self._run.row_count

    @property
    def error(self) -> ZuoraError | None:
        """The error that stops this model before any batch, if one is already known."""
        return self._run.error

    def __repr__(self) -> str:
        return f"Extraction(model={self.model.name!r}, window={self._run.window})"


class Extractor:
    """Extracts windows of models from one Zuora tenant through AQuA stateless export jobs.

    Besides the documented knobs: `queries_per_job` (at most 50) bounds the models sharing one job,
    `page_size` is the first Id-page size of a one-second window, `max_job_attempts` bounds resubmits
    of transient failures (waiting `resubmit_backoff` seconds times 2**n, jittered), `read_ahead_bytes` how many
    bytes of parsed batches wait for the consumer at most, and `download_bytes` how many bytes of a result file
    wait for the parser. The Extractor is
    thread-safe: concurrent extractions share its cap of `max_jobs_in_flight`.
    """

    def __init__(
        self,
        client: ZuoraClient,
        *,
        max_jobs_in_flight: int = 4,
        poll_initial: float = 1.0,
        poll_max: float = 30.0,
        job_timeout: float = 3.5 * 3600,
        logger: logging.Logger | None = None,
        on_progress: ProgressCallback | None = None,
        queries_per_job: int = 50,
        page_size: int = 250_000,
        max_job_attempts: int = 4,
        resubmit_backoff: float = 30.0,
        read_ahead_bytes: int = PREFETCH_BYTES,
        download_bytes: int = BUFFER_BYTES,
    ):
        if not 1 <= queries_per_job <= 50:
            raise InvalidValue(f"queries_per_job must be 1..50 (an AQuA job takes at most 50), got {queries_per_job}")
        self.client = client
        self.logger = logger or logging.getLogger(__name__)
        self.on_progress = on_progress
        self.queries_per_job = queries_per_job
        self.page_size = page_size
        self.max_job_attempts = max_job_attempts
        self.resubmit_backoff = resubmit_backoff
        self.read_ahead_bytes = read_ahead_bytes
        self.download_bytes = download_bytes
        self.jobs = AquaJobs(client, max_jobs_in_flight, poll_initial, poll_max, job_timeout, logger=self.logger)

    def extract(self, model: ZuoraModel, start: datetime, end: datetime) -> Extraction:
        """Extract `model`'s rows with UpdatedDate in `[start, end)`; raises at once if the model cannot run."""
        extraction = self.extract_many([model], start, end)[model.name]
        if extraction.error is not None:
            raise extraction.error
        return extraction

    def extract_many(self, models: Iterable[ZuoraModel], start: datetime, end: datetime) -> dict[str, Extraction]:
        """Extract one window of several models with one AQuA job per 50 of them (consistent snapshots)."""
        start, end = to_utc(start, "window start"), to_utc(end, "window end")
        window = Window.of(start, end)
        models = list(models)
        if len({m.name for m in models}) != len(models):
            raise InvalidValue(f"extract_many got a model twice: {', '.join(m.name for m in models)}")
        runs = [ModelRun(self, m, window) for m in models]
        ready = [r for r in runs if r.error is None]
        if window.seconds > 0 and ready:
            groups = [ready[i:i + self.queries_per_job] for i in range(0, len(ready), self.queries_per_job)]
            if len(groups) == 1:
                self._first_job(groups[0], window)
            else:
                workers = min(len(groups), self.jobs.max_in_flight)
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aqua") as pool:
                    list(pool.map(lambda group: self._first_job(group, window), groups))
        return {r.name: Extraction(r, start, end) for r in runs}

    def _first_job(self, runs: list[ModelRun], window: Window) -> None:
        """Run the whole-window job of `runs`, then fix their schemas; errors stop only their models."""
        try:
            outcomes = self.run_queries(runs, window)
        except ZuoraError as exc:
            for r in runs:
                r.error = exc
            return
        for r in runs:
            r.freeze()
            outcome = outcomes[r.name]
            if isinstance(outcome, Failure) and outcome.kind != TOO_LARGE:
                r.error = r.stop_error(outcome, window)
            r.first = outcome

    def run_queries(
        self, runs: Sequence[ModelRun], window: Window, *, after_id: str | None = None, limit: int | None = None
    ) -> dict[str, Outcome]:
        """Run `runs`' queries for `window` as one job until each completes or fails for good.

        Returns a `BatchResult` or a too-large/permanent `Failure` per model; fields that are rejected
        are dropped and transient failures resubmitted (at most `max_job_attempts` times).
        """
        pending, results, attempt = list(runs), {}, 0
        while pending:
            try:
                outcomes = self.jobs.run([r.query(window, after_id, limit) for r in pending])
            except JobRejected as rejected:
                outcomes = _blame(rejected.failure, pending)
            retry, transient = [], []
            for r in pending:
                outcome = outcomes.get(r.name)
                if outcome is None:
                    retry.append(r)
                elif isinstance(outcome, Failure) and outcome.kind == FIELD:
                    if r.drop(outcome.field or "", f"Zuora rejected it in a query ({outcome.message})"):
                        retry.append(r)
                    else:
                        results[r.name] = Failure(PERMANENT, outcome.message, outcome.code)
                elif isinstance(outcome, Failure) and outcome.kind == TRANSIENT:
                    transient.append((r, outcome))
                else:
                    results[r.name] = outcome
            if transient:
                attempt += 1
                if attempt >= self.max_job_attempts:
                    for r, failure in transient:
                        results[r.name] = Failure(
                            PERMANENT, f"still failing after {attempt} attempts: {failure.message}. Zuora keeps "
                            "failing this export: retry later", failure.code)
                else:
                    wait = Backoff(self.resubmit_backoff, RESUBMIT_WAIT_CAP).wait(attempt)
                    self.logger.warning("transient AQuA failure (%s); resubmitting %s in %.0f s",
                                        transient[0][1].message, ", ".join(r.name for r, _ in transient), wait)
                    self.client.sleep(wait)
                    retry += [r for r, _ in transient]
            pending = retry
        return results


def _blame(failure: Failure, runs: Sequence[ModelRun]) -> dict[str, Outcome | None]:
    """Which models a job-level rejection concerns: those named by it (None = resubmit the others)."""
    if failure.kind == BUSY:
        failure = Failure(PERMANENT, f"{failure.message}. Zuora kept refusing new jobs because too many AQuA "
                          "jobs run on the tenant (90028): lower other integrations' load or retry later",
                          failure.code)
    concerned = [r for r in runs if failure.object and r.model.object.lower() == failure.object.lower()]
    if not concerned and failure.kind == FIELD:
        concerned = [r for r in runs if any(f.name.lower() == (failure.field or "").lower() for f in r.active)]
    if not concerned:
        concerned = list(runs)
    return {r.name: (failure if r in concerned else None) for r in runs}
