"""How long to wait before retrying: full-jitter exponential backoff and the server's own hints."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A random wait in [0, min(cap, base * 2**(attempt-1))] for retry number `attempt` (1, 2, ...)."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return (rng or random).uniform(0, ceiling)


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
