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

import contextlib
import logging
import tempfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.zuora import describe
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
from zuora_assets.zuora.catalog import ZuoraModel, snake_case
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.errors import (
    ZuoraDataError,
    ZuoraError,
    ZuoraFileTooLargeError,
    ZuoraJobError,
    ZuoraRequestError,
)
from zuora_assets.zuora.prefetch import prefetch
from zuora_assets.zuora.results import FileSpec, read_result
from zuora_assets.zuora.retry import full_jitter
from zuora_assets.zuora.streaming import FollowedDownload
from zuora_assets.zuora.zoql import DELETED_FIELD, ExportQuery, Window, select, to_utc

Outcome = BatchResult | Failure
# Typed batches parsed ahead of the consumer, at most: enough to keep parsing while it writes and uploads a
# partition's file (a smaller budget stalls the parser; a larger one, or bigger batches, costs memory).
PREFETCH_BYTES = 32 << 20
ProgressCallback = Callable[[int, int], None]


class _ModelRun:
    """One model's extraction of one window: its fields, the ones still queried, and its batches."""

    def __init__(self, extractor: Extractor, model: ZuoraModel, window: Window):
        self.ex = extractor
        self.model = model
        self.window = window
        self.error: ZuoraError | None = None
        self.first: Outcome | None = None
        self.dropped: dict[str, str] = {}
        self.row_count = 0
        self.byte_count = 0
        self._last_updated: object = None
        self._last_id: str | None = None
        try:
            found = describe.discovery(extractor.client, model) if model.described else describe.Discovery(model.fields, {})
            self.fields, self.dropped = found.fields, dict(found.dropped)
        except ZuoraError as exc:
            self.fields, self.error = model.fields, exc
        self.active = list(self.fields)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def place(self) -> str:
        return f"model {self.model.name}, window {self.window}"

    def schema(self) -> pa.Schema:
        return self.model.arrow_schema(self.fields)

    def freeze(self) -> None:
        """Fix the schema to the fields the first accepted job selected."""
        self.fields = tuple(self.active)

    def query(self, window: Window, after_id: str | None = None, limit: int | None = None) -> ExportQuery:
        names = tuple(f.name for f in self.active)
        zoql = select(self.model, names, window, after_id=after_id, limit=limit)
        return ExportQuery(self.name, self.model, names, zoql, self.model.exports_deletes)

    def drop(self, field_name: str, reason: str) -> bool:
        """Stop querying `field_name` (False if it is not queried or cannot be dropped)."""
        match = next((f for f in self.active if f.name.lower() == field_name.lower()), None)
        if match is None or match.name in (self.model.primary_key, self.model.cursor):
            return False
        self.active.remove(match)
        self.dropped[match.name] = reason
        describe.reject_field(self.ex.client, self.model, match.name, reason)
        self.ex.logger.warning("model %s: field %s dropped for this run: %s", self.name, match.name, reason)
        return True

    # -- batches ------------------------------------------------------------------------------------

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The window's rows as typed batches, splitting windows that are too large."""
        if self.error is not None:
            raise self.error
        if self.window.seconds == 0:
            return
        todo: deque[tuple[Window, Outcome | None]] = deque([(self.window, self.first)])
        while todo:
            window, first = todo.popleft()
            result = yield from self._attempt(window, first)
            if isinstance(result, BatchResult):
                continue
            if window.seconds > 1:
                self.ex.logger.info("model %s: window %s too large (%s); splitting it in half",
                                    self.name, window, result.message)
                left, right = window.halves()
                todo.extendleft([(right, None), (left, None)])
            else:
                yield from self._pages(window)

    def _pages(self, window: Window) -> Iterator[pa.RecordBatch]:
        """The rows of a one-second window in pages ordered by Id, halving the page size while too large."""
        limit, after = self.ex.page_size, None
        self.ex.logger.info("model %s: window %s is still too large; reading it in pages by Id", self.name, window)
        while True:
            self._last_id = None
            result = yield from self._attempt(window, after_id=after, limit=limit)
            if isinstance(result, Failure):
                if limit == 1:
                    raise ZuoraJobError(f"{self.place}: the record after Id {after!r} is too large to export")
                limit = max(1, limit // 2)
                self.ex.logger.info("model %s: Id page too large; trying %d rows per page", self.name, limit)
                continue
            if result.record_count < limit:
                return
            if self._last_id is None or (after is not None and self._last_id <= after):
                raise ZuoraDataError(f"{self.place}: paging by Id made no progress after Id {after!r}")
            after = self._last_id

    def _attempt(
        self, window: Window, outcome: Outcome | None = None, *, after_id: str | None = None, limit: int | None = None
    ) -> Generator[pa.RecordBatch, None, Outcome]:
        """Run the query (unless `outcome` is given), download and yield its rows.

        Returns the `BatchResult` once its rows are yielded, or the too-large `Failure` that stopped it
        before any row. A result file that is gone (404) makes the query run again.
        """
        for _ in range(self.ex.max_job_attempts):
            if outcome is None:
                outcome = self.ex._run_queries([self], window, after_id=after_id, limit=limit)[self.name]
            if isinstance(outcome, Failure):
                if outcome.kind == TOO_LARGE:
                    return outcome
                raise self.stop_error(outcome, window)
            with self._downloaded(outcome) as got:
                if not isinstance(got, Failure):
                    yield from self._read(outcome, got, window)
                    return outcome
            if got.kind == TOO_LARGE:
                return got
            self.ex.logger.warning("model %s, window %s: %s; running the query again", self.name, window, got.message)
            outcome = None
        raise ZuoraJobError(f"{self.place}: the result files of window {window} kept disappearing before download; "
                            "retry the transfer")

    @contextlib.contextmanager
    def _downloaded(self, result: BatchResult) -> Iterator[list[FollowedDownload] | Failure]:
        """The result's files downloading (each by its own thread) to a temporary folder, or the Failure
        that prevented it. Every file is asked for before any row is read, so a file that is gone or too
        large makes the query run again or the window split, never after rows were yielded."""
        with tempfile.TemporaryDirectory(prefix="zuora-athena-", dir=self.ex.tmp_dir) as folder, \
                contextlib.ExitStack() as downloads:
            files = []
            try:
                for file_id in result.file_ids:
                    path = f"/v1/files/{file_id}"
                    response = self.ex.client.stream(path)
                    files.append((path, downloads.enter_context(contextlib.closing(response))))
            except ZuoraFileTooLargeError:
                yield Failure(TOO_LARGE, "result file over Zuora's download limit (max-object-size)")
                return
            except ZuoraRequestError as exc:
                if exc.status != 404:
                    raise
                yield Failure(TRANSIENT, f"result file gone (HTTP 404, AQuA job {result.job_id})")
                return
            yield [downloads.enter_context(FollowedDownload(self.ex.client, path, Path(folder) / f"{i}.csv", resp))
                   for i, (path, resp) in enumerate(files)]

    def _read(self, result: BatchResult, files: Sequence[FollowedDownload], window: Window) -> Iterator[pa.RecordBatch]:
        """Parse the files while they download, check their order and total row count, and count progress."""
        spec = FileSpec(
            place=f"model {self.name}, window {window}",
            object=self.model.object,
            schema_fields=self.fields,
            queried=result.query.fields,
            deleted_column=DELETED_FIELD if result.query.deleted else None,
            schema=self.schema(),
        )
        rows = 0
        for file in files:
            bytes_before = self.byte_count
            try:
                for batch in read_result(spec, file.reader):
                    self._check_order(batch, spec.place)
                    self._last_id = batch.column(snake_case(self.model.primary_key))[-1].as_py()
                    rows += batch.num_rows
                    self.row_count += batch.num_rows
                    self.byte_count = bytes_before + file.size
                    if self.ex.on_progress is not None:
                        self.ex.on_progress(self.row_count, self.byte_count)
                    yield batch
            except ZuoraRequestError as exc:  # the download failed after its first response
                raise type(exc)(f"{spec.place}, AQuA job {result.job_id}, after {rows} rows: {exc}",
                                status=exc.status, code=exc.code) from exc
            self.byte_count = bytes_before + file.size
        if rows != result.record_count:
            raise ZuoraDataError(
                f"{spec.place}: parsed {rows} rows but Zuora counted {result.record_count} "
                f"(AQuA job {result.job_id}); the download was incomplete or the file is corrupt: rerun the transfer"
            )

    def _check_order(self, batch: pa.RecordBatch, place: str) -> None:
        if batch.num_rows == 0:
            return
        updated = batch.column(snake_case(self.model.cursor))
        head = pa.concat_arrays([pa.array([self._last_updated], updated.type), updated[:-1]])
        if pc.any(pc.less(updated, head)).as_py():
            raise ZuoraDataError(
                f"{place}: Zuora returned rows out of {self.model.cursor} order; the lake relies on it: "
                "rerun the transfer"
            )
        self._last_updated = updated[-1].as_py()

    def stop_error(self, failure: Failure, window: Window) -> ZuoraError:
        """The error that stops this model for a failure that splitting or retrying cannot fix."""
        return ZuoraJobError(
            f"model {self.name}, window {window}: the export failed: {failure.message}", code=failure.code
        )


def _batch_bytes(batch: pa.RecordBatch) -> int:
    return batch.nbytes


class Extraction:
    """The rows of one model changed in one window, as a lazy stream of Arrow record batches."""

    def __init__(self, run: _ModelRun, start: datetime, end: datetime):
        self._run = run
        self.model = run.model
        self.start = start
        self.end = end
        self.schema: pa.Schema = run.schema()
        # Made ahead by a thread (download and parsing) while the consumer writes the previous ones.
        self.batches: Iterator[pa.RecordBatch] = prefetch(
            run.batches(), PREFETCH_BYTES, _batch_bytes, name=f"extract {run.name}"
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
    of transient failures (waiting `resubmit_backoff` seconds times 2**n, jittered), and `tmp_dir` is
    where result files are downloaded (the system's temporary folder by default). The Extractor is
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
        tmp_dir: str | None = None,
    ):
        if not 1 <= queries_per_job <= 50:
            raise ValueError(f"queries_per_job must be 1..50 (an AQuA job takes at most 50), got {queries_per_job}")
        self.client = client
        self.logger = logger or logging.getLogger(__name__)
        self.on_progress = on_progress
        self.queries_per_job = queries_per_job
        self.page_size = page_size
        self.max_job_attempts = max_job_attempts
        self.resubmit_backoff = resubmit_backoff
        self.tmp_dir = tmp_dir
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
            raise ValueError(f"extract_many got a model twice: {', '.join(m.name for m in models)}")
        runs = [_ModelRun(self, m, window) for m in models]
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

    def _first_job(self, runs: list[_ModelRun], window: Window) -> None:
        """Run the whole-window job of `runs`, then fix their schemas; errors stop only their models."""
        try:
            outcomes = self._run_queries(runs, window)
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

    def _run_queries(
        self, runs: Sequence[_ModelRun], window: Window, *, after_id: str | None = None, limit: int | None = None
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
                    wait = full_jitter(attempt, self.resubmit_backoff, 600.0)
                    self.logger.warning("transient AQuA failure (%s); resubmitting %s in %.0f s",
                                        transient[0][1].message, ", ".join(r.name for r, _ in transient), wait)
                    self.client.sleep(wait)
                    retry += [r for r, _ in transient]
            pending = retry
        return results


def _blame(failure: Failure, runs: Sequence[_ModelRun]) -> dict[str, Outcome | None]:
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
