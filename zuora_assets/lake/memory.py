"""One memory budget for a transfer: how many bytes the download's buffer, the extraction's read-ahead and the
lake's writer may hold, and when the lake hands the memory it freed back to the system.

The budget is in Arrow bytes (what `RecordBatch.nbytes` counts), and in bytes of the file for the download.
The process holds about twice the row group (the buffered rows and the encoder's pages and dictionaries) plus
the read-ahead, the download's buffer and the CSV reader's blocks, on top of the interpreter's own. The allocator was chosen by measurement: 2M invoice items of one day, CSV
parsed on a thread -> `write_transfer` to a local folder, peak RSS without Dagster (CPU seconds):
  32 MiB row groups:  mimalloc 268 MB (8.5 s), mimalloc + release 266 MB (8.2 s), jemalloc decay 0 256 MB (9.3 s)
  128 MiB row groups: mimalloc 385 MB, + release 388 MB, jemalloc 454 MB, jemalloc decay 0 395 MB,
                      system 775 MB, system + release 604 MB; mimalloc with MIMALLOC_PURGE_DELAY=0 349 MB.
The row group size decides the peak, not the allocator: Arrow's default (mimalloc in the wheels) stays, and
the lake calls `release()` after every data file and at the end of a transfer, so a long-lived process (the
sensor's, the code server's) gets the memory back between transfers; no environment variable is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from zuora_assets.common.failures import InvalidValue

MiB = 1024 * 1024


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes a transfer holds at once: `download_bytes` of a result file received and not yet parsed,
    `read_ahead_bytes` of parsed batches waiting for the lake, `row_group_bytes` buffered per row group (Arrow
    bytes), `pending_files` finished files waiting for upload (on disk)."""

    download_bytes: int = 8 * MiB
    read_ahead_bytes: int = 32 * MiB
    row_group_bytes: int = 32 * MiB
    pending_files: int = 2

    def __post_init__(self) -> None:
        if min(self.download_bytes, self.read_ahead_bytes, self.row_group_bytes, self.pending_files) < 1:
            raise InvalidValue(f"{self}: every part of the memory budget must be positive")


DEFAULT_BUDGET = MemoryBudget()


def release() -> None:
    """Hand the memory Arrow's pool holds but no longer uses back to the system (cheap; safe at any time)."""
    pa.default_memory_pool().release_unused()
