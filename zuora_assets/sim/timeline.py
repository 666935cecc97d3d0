"""When generated records are created, updated and deleted: vectorized version plans over [start, end]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECOND_MS = 1000
DAY_MS = 86_400_000


def floor_seconds(ms: np.ndarray) -> np.ndarray:
    return (ms // SECOND_MS) * SECOND_MS


@dataclass(frozen=True)
class Clock:
    """The span of generated history and the local midnights used to place Pacific-midnight values."""

    start_ms: int
    end_ms: int
    pacific_midnights: np.ndarray  # sorted epoch ms

    def utc_days(self) -> np.ndarray:
        """Epoch ms of 00:00 UTC of every UTC date the span touches."""
        first = self.start_ms - self.start_ms % DAY_MS
        return np.arange(first, self.end_ms + 1, DAY_MS, dtype=np.int64)

    def spread(self, rng: np.random.Generator, n: int, midnight_rate: float = 0.02) -> np.ndarray:
        """`n` creation instants in the span, every UTC date getting one when n allows, some at Pacific midnight."""
        days = self.utc_days()
        day = days[rng.permutation(np.arange(n) % len(days))]
        lo, hi = np.maximum(day, self.start_ms), np.minimum(day + DAY_MS - 1, self.end_ms)
        ms = floor_seconds(lo + (rng.random(n) * (hi - lo)).astype(np.int64))
        snapped = self.snap_to_midnight(rng, ms, midnight_rate)
        return np.where(snapped // DAY_MS == ms // DAY_MS, snapped, ms)

    def after(self, rng: np.random.Generator, parent_ms: np.ndarray, max_delay_ms: int) -> np.ndarray:
        """Instants a little after each parent instant (at most `max_delay_ms`, never after the end)."""
        delay = rng.integers(0, max_delay_ms + 1, size=len(parent_ms)) if max_delay_ms else 0
        return floor_seconds(np.minimum(parent_ms + delay, self.end_ms))

    def snap_to_midnight(self, rng: np.random.Generator, ms: np.ndarray, rate: float) -> np.ndarray:
        """Move about `rate` of the instants forward to the next Pacific midnight (when still in the span)."""
        if rate <= 0 or len(ms) == 0:
            return ms
        nxt = self.pacific_midnights[np.minimum(np.searchsorted(self.pacific_midnights, ms),
                                                len(self.pacific_midnights) - 1)]
        snap = (rng.random(len(ms)) < rate) & (nxt >= ms) & (nxt <= self.end_ms)
        return np.where(snap, nxt, ms)

    def values_after(self, rng: np.random.Generator, base_ms: np.ndarray, max_delay_ms: int,
                     midnight_rate: float = 0.05) -> np.ndarray:
        """Datetime field values: a random time after `base_ms`, some exactly at Pacific midnight."""
        return self.snap_to_midnight(rng, self.after(rng, base_ms, max_delay_ms), midnight_rate)


@dataclass(frozen=True)
class Versions:
    """The version rows of n records, grouped by record and in ascending time within a record."""

    rec: np.ndarray  # record index of each row
    time: np.ndarray  # epoch ms of the version (its UpdatedDate)
    created: np.ndarray  # the record's first version
    deleted: np.ndarray  # a deletion: the tombstone keeps the previous version's values

    def __len__(self) -> int:
        return len(self.rec)

    def value_source(self) -> np.ndarray:
        """For each row, the row whose mutable values it shows (a tombstone shows its predecessor's)."""
        src = np.arange(len(self.rec))
        src[self.deleted] -= 1
        return src


def plan(created_ms: np.ndarray, end_ms: int, updates: np.ndarray, delete: np.ndarray,
         rng: np.random.Generator) -> Versions:
    """Versions for records created at `created_ms`, each with `updates[i]` updates and an optional deletion.

    Updates and the deletion fall in successive equal slots of (created, end], so times never decrease.
    """
    extra = updates.astype(np.int64) + delete.astype(np.int64)
    counts = extra + 1
    rec = np.repeat(np.arange(len(created_ms)), counts)
    starts = np.cumsum(counts) - counts
    j = np.arange(len(rec)) - np.repeat(starts, counts)
    base = created_ms[rec]
    slots = np.maximum(extra[rec], 1)
    frac = (np.maximum(j - 1, 0) + rng.random(len(rec))) / slots
    later = floor_seconds(base + (end_ms - base) * frac).astype(np.int64)
    time = np.where(j == 0, base, np.clip(later, base, end_ms))
    deleted = (j == extra[rec]) & (j > 0) & delete[rec]
    return Versions(rec=rec, time=time, created=j == 0, deleted=deleted)


def draw_updates(rng: np.random.Generator, n: int, mean: float, cap: int = 3) -> np.ndarray:
    """How many times each of `n` records is updated (Poisson, capped)."""
    return np.minimum(rng.poisson(mean, size=n), cap) if mean > 0 else np.zeros(n, dtype=np.int64)
