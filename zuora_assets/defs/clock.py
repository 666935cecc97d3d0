"""The clock of the Dagster side: what the assets, the sensor and the IO manager take as "now".

`WallClock` is the wall clock (UTC), bound as the `clock` resource; assets, checks and the sensor take it as a
`ClockParam`, so tests bind any object with the same two methods instead: `now()` (aware UTC) and `sleep(seconds)`, e.g. a clock that
moves only when told, so midnight, 40 days later or a year of history are inputs, never waits.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

import dagster as dg


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# How assets, checks and the sensor ask for the clock: any object with `now()` and `sleep()`.
ClockParam = dg.ResourceParam[Clock]


def snapshot_of(clock: Clock) -> datetime:
    """The clock's now, truncated to the second: the snapshot a transfer is named by."""
    return clock.now().astimezone(UTC).replace(microsecond=0)
