"""The one retry helper: full-jitter exponential backoff that honours the server's own wait, an
injectable sleep, and `retry(call)` for loops that retry a call on transient errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Wait number n (1, 2, ...) is random in [0, min(cap, base * 2**(n-1))] (full jitter), and never
    shorter than what the server asked for (`Retry-After`); `floor` is the least wait (polls use it)."""

    base: float = 1.0
    cap: float = 60.0
    floor: float = 0.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def wait(self, attempt: int, server_asks: float = 0.0) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return max(self.floor, self.rng.uniform(0, ceiling), server_asks)


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A random wait in [0, min(cap, base * 2**(attempt-1))] for retry number `attempt` (1, 2, ...)."""
    return Backoff(base, cap, rng=rng or random.Random()).wait(attempt)


def retry(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: Backoff,
    retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
    what: str = "",
) -> T:
    """`call()`, called again after `backoff.wait(n)` while it raises an error `retryable` accepts, at
    most `attempts` times in all; other errors, and the last one, propagate. An error may carry the
    server's wait as `retry_after` (seconds)."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt >= attempts or not retryable(error):
                raise
            wait = backoff.wait(attempt, float(getattr(error, "retry_after", 0.0) or 0.0))
            log.warning("%s%s; retry %d of %d in %.1f s", f"{what}: " if what else "", error, attempt + 1,
                        attempts, wait)
            sleep(wait)
    raise AssertionError("unreachable: attempts must be at least 1")


def _seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds in a `Retry-After`-style header: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def server_wait(headers: Mapping[str, str]) -> float:
    """What the server asks us to wait: `Retry-After`, or `RateLimit-Reset` once `RateLimit-Remaining` is 0."""
    waits = [_seconds(headers.get("Retry-After"))]
    remaining = (headers.get("RateLimit-Remaining") or "").strip()
    if remaining == "0":
        waits.append(_seconds(headers.get("RateLimit-Reset")))
    return max((w for w in waits if w is not None), default=0.0)
