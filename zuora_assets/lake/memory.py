"""One memory budget for a transfer: how many bytes of Arrow data the extraction's read-ahead and the lake's
writer may hold, and when the lake hands the memory it freed back to the system.

The budget is in Arrow bytes (what `RecordBatch.nbytes` counts). The process holds about twice the row
group (the buffered rows and the encoder's pages and dictionaries) plus the read-ahead, the CSV reader's
blocks and the interpreter's own: with the defaults (32 MiB read-ahead, 32 MiB row groups) a 2M-row day
peaks near 270 MB without Dagster and near 420 MB in a Dagster step (README, "Performance").
The allocator stays Arrow's default (mimalloc in the wheels): against jemalloc (with or without decay 0)
and the system allocator it had the lowest or equal peak and the least CPU on the same transfer
(benchmarks/bench_pipeline.py). Memory freed by one thread and allocated by another is handed back when
the lake calls `release()`: after every data file and at the end of a transfer, never by an environment
variable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

MiB = 1024 * 1024


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes of Arrow data a transfer holds at once: `read_ahead_bytes` of parsed batches waiting for the lake,
    `row_group_bytes` buffered per row group, `pending_files` finished files waiting for upload (on disk)."""

    read_ahead_bytes: int = 32 * MiB
    row_group_bytes: int = 32 * MiB
    pending_files: int = 2

    def __post_init__(self) -> None:
        if min(self.read_ahead_bytes, self.row_group_bytes, self.pending_files) < 1:
            raise ValueError(f"{self}: every part of the memory budget must be positive")


DEFAULT_BUDGET = MemoryBudget()


def release() -> None:
    """Hand the memory Arrow's pool holds but no longer uses back to the system (cheap; safe at any time)."""
    pa.default_memory_pool().release_unused()
