"""The simulator clock: a settable UTC instant that optionally moves with wall time."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from zuora_assets.sim import tz


class SimClock:
    """Sim time = base + (wall seconds since the anchor, when following wall time); all in epoch ms."""

    def __init__(self, base_ms: int, follows_wall: bool):
        self._base = base_ms
        self._anchor: float | None = None
        self._follows = follows_wall
        self._lock = threading.Lock()

    def start(self) -> None:
        """Begin following wall time from now (no effect when frozen or already started)."""
        with self._lock:
            if self._anchor is None:
                self._anchor = time.monotonic()

    def now_ms(self) -> int:
        with self._lock:
            if not self._follows or self._anchor is None:
                return self._base
            return self._base + int((time.monotonic() - self._anchor) * 1000)

    def now(self) -> datetime:
        return tz.from_ms(self.now_ms())

    def set(self, when: datetime) -> None:
        """Jump to `when` (aware, or naive UTC); wall-following continues from there."""
        with self._lock:
            self._base = tz.to_ms(when)
            if self._anchor is not None:
                self._anchor = time.monotonic()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._base += int(seconds * 1000)
