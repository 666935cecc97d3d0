"""One model's extraction over a window: its queries, dropped fields, pages by Id, downloads, and the
checks of row counts and `updated_date` order (`Extractor` in `extract.py` runs them)."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from zuora_assets.zuora import describe
from zuora_assets.zuora.aqua import (
    TOO_LARGE,
    TRANSIENT,
    BatchResult,
    Failure,
)
from zuora_assets.zuora.catalog import ZuoraModel, snake_case
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.errors import (
    ZuoraCutFileError,
    ZuoraDataError,
    ZuoraError,
    ZuoraFileTooLargeError,
    ZuoraJobError,
    ZuoraRequestError,
)
from zuora_assets.zuora.results import FileSpec, read_result
from zuora_assets.zuora.streaming import StreamedDownload
from zuora_assets.zuora.zoql import DELETED_FIELD, ExportQuery, Window, select

Outcome = BatchResult | Failure
ProgressCallback = Callable[[int, int], None]


class Runner(Protocol):
    """What a model run needs of the extractor that runs it (`extract.Extractor`)."""

    client: ZuoraClient
    logger: logging.Logger
    max_job_attempts: int
    download_bytes: int
    on_progress: ProgressCallback | None
    page_size: int

    def run_queries(
        self, runs: Sequence[ModelRun], window: Window, *, after_id: str | None = None, limit: int | None = None
    ) -> dict[str, Outcome]: ...


class ModelRun:
    """One model's extraction of one window: its fields, the ones still queried, and its batches."""

    def __init__(self, extractor: Runner, model: ZuoraModel, window: Window):
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
            found = (
                describe.discovery(extractor.client, model)
                if model.described
                else describe.Discovery(model.fields, {})
            )
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
                outcome = self.ex.run_queries([self], window, after_id=after_id, limit=limit)[self.name]
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
    def _downloaded(self, result: BatchResult) -> Iterator[list[StreamedDownload] | Failure]:
        """The result's files downloading (each by its own thread, into memory as it is read), or the Failure
        that prevented it. Every file is asked for before any row is read, so a file that is gone or too
        large makes the query run again or the window split, never after rows were yielded."""
        with contextlib.ExitStack() as downloads:
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
            yield [downloads.enter_context(StreamedDownload(self.ex.client, path, resp, self.ex.download_bytes)) for path, resp in files]

    def _read(self, result: BatchResult, files: Sequence[StreamedDownload], window: Window) -> Iterator[pa.RecordBatch]:
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
            kind = ZuoraCutFileError if rows < result.record_count else ZuoraDataError  # fewer: cut short
            raise kind(
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
