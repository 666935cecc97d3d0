"""Result files of export jobs (AQuA queries, object exports): the chosen rows of a snapshot, written to disk.

A file keeps the rows its query chose (a `versions.Rows`, a consistent snapshot) and how to write them until
its job writes it: as Zuora does, the CSV is written as part of the job, before the query reports
`completed`, so a download is a plain file transfer. Writing stops at the simulator's `max_file_bytes`: such
a file is marked `too_large` (refused at download) and nothing of it is kept. Joined columns are read for
each batch as it is written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from zuora_assets.sim import csvfmt
from zuora_assets.sim.plan import Column, Joined
from zuora_assets.sim.versions import Rows

SUFFIXES = {"csv": ".csv", "gzip": ".csv.gz", "zip": ".zip"}


@dataclass(frozen=True)
class Content:
    """What a result file holds: the chosen rows of the snapshot and how to write them."""

    rows: Rows
    columns: list[csvfmt.CsvColumn]
    options: csvfmt.CsvOptions
    malformed_after: int | None = None
    joins: tuple[Column, ...] = ()
    joined: Joined | None = None

    def batches(self) -> Iterator[pa.Table]:
        for batch in self.rows.batches(csvfmt.BATCH_ROWS):
            yield self.joined(batch, self.joins) if self.joins and self.joined else batch


@dataclass
class ResultFile:
    """A result file: its rows, then (once its job writes it) its CSV on disk (`size` is None until then)."""

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
    retention_days: int | None = None  # None: the simulator's AQuA retention (SimConfig.file_retention_days)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def content_type(self) -> str:
        return {"gzip": "application/x-gzip", "zip": "application/zip"}.get(self.fmt, "text/csv;charset=UTF-8")

    @property
    def written(self) -> bool:
        """Whether its job has written it (to disk, or found it over the size limit)."""
        return self.size is not None or self.too_large

    def render(self, max_bytes: int | None, max_rows: int | None = None) -> int | None:
        """Write the file (once; its job calls this before reporting it) and return its size, or None when it is
        over `max_bytes` or was dropped unwritten. Over `max_rows` (a `too_large` fault that refuses every
        download of it) it is not written at all, only marked as too large: nobody can read it."""
        with self.lock:
            if self.size is None and max_rows is not None and self.rows > max_rows:
                self.too_large, self.content = True, None
            if self.size is None and not self.too_large and self.content is not None:
                c = self.content
                self.size = csvfmt.write_csv(self.path, self.fmt, c.batches(), c.columns, c.options,
                                             c.malformed_after, max_bytes)
                self.too_large, self.content = self.size is None, None
            return self.size

    def drop(self) -> None:
        """Forget the rows of a file its job will never write (the job ended without completing its query)."""
        with self.lock:
            self.content = None

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
