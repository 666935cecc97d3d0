"""What every layer shares: the retry helper, the failure kinds, the contract's day check, the URL check."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from zuora_assets.common.contract import is_day, partition_folder
from zuora_assets.common.failures import InvalidValue, Permanent, Transient, is_permanent
from zuora_assets.common.retry import Backoff, retry, server_wait
from zuora_assets.common.urls import is_loopback, url_problem


class Flaky(Transient):
    def __init__(self, retry_after: float = 0.0):
        super().__init__("busy")
        self.retry_after = retry_after


def failing(times: int, error: Exception, result: str = "done"):
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return result

    return call, calls


def test_retry_waits_full_jitter_between_attempts_and_never_after_the_last():
    sleeps: list[float] = []
    backoff = Backoff(base=1.0, cap=5.0, rng=random.Random(3))
    call, calls = failing(4, Flaky())
    assert retry(call, attempts=5, backoff=backoff, retryable=lambda e: isinstance(e, Flaky), sleep=sleeps.append) == "done"
    assert len(calls) == 5 and len(sleeps) == 4
    assert all(0 <= s <= min(5.0, 2**n) for n, s in enumerate(sleeps))

    sleeps.clear()
    call, calls = failing(9, Flaky())
    with pytest.raises(Flaky):
        retry(call, attempts=3, backoff=backoff, retryable=lambda e: isinstance(e, Flaky), sleep=sleeps.append)
    assert len(calls) == 3 and len(sleeps) == 2


def test_retry_honours_the_servers_wait_and_lets_other_errors_through():
    sleeps: list[float] = []
    call, _ = failing(1, Flaky(retry_after=12.0))
    retry(call, attempts=2, backoff=Backoff(0.01, 0.02), retryable=lambda e: isinstance(e, Flaky), sleep=sleeps.append)
    assert sleeps == [12.0]

    call, calls = failing(1, KeyError("bug"))
    with pytest.raises(KeyError):
        retry(call, attempts=5, backoff=Backoff(), retryable=lambda e: isinstance(e, Flaky), sleep=sleeps.append)
    assert len(calls) == 1


def test_backoff_has_a_floor_and_a_cap():
    backoff = Backoff(base=10.0, cap=3.0, floor=1.0, rng=random.Random(1))
    waits = [backoff.wait(n) for n in range(1, 50)]
    assert min(waits) >= 1.0 and max(waits) <= 3.0


def test_server_wait_reads_retry_after_seconds_or_date_and_the_rate_limit_reset():
    assert server_wait({"Retry-After": "7"}) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= server_wait({"Retry-After": later}) <= 30
    assert server_wait({"RateLimit-Remaining": "0", "RateLimit-Reset": "4"}) == 4.0
    assert server_wait({"RateLimit-Remaining": "3", "RateLimit-Reset": "4"}) == 0.0
    assert server_wait({"Retry-After": "soon"}) == 0.0


def test_failure_kinds_decide_through_the_causes():
    class Both(Transient, Permanent):
        pass

    try:
        try:
            raise InvalidValue("bad")
        except InvalidValue as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_permanent(outer)
    assert not is_permanent(Both("a transient kind of a permanent family"))
    assert not is_permanent(ValueError("untyped"))
    assert isinstance(InvalidValue("x"), ValueError)


@pytest.mark.parametrize(
    "value, ok",
    [("2026-11-01", True), ("2024-02-29", True), ("2026-02-30", False), ("2026-1-01", False),
     ("２０２６-11-01", False), ("2026-11-01 ", False), (None, False), (20261101, False)],
)
def test_a_partition_value_is_a_real_day_written_yyyy_mm_dd(value, ok):
    assert is_day(value) is ok
    assert partition_folder("2026-11-01") == "dt=2026-11-01"


@pytest.mark.parametrize(
    "url, https_only, problem",
    [
        ("https://rest.na.zuora.com", True, None),
        ("http://127.0.0.1:8080", True, None),
        ("http://localhost:8080", True, None),
        ("http://[::1]:8080", True, None),
        ("http://rest.na.zuora.com", True, "plain http"),
        ("http://minio.internal:9000", False, None),
        ("rest.na.zuora.com", True, "not an http(s) URL"),
        ("https://host/?q=1", True, "not an http(s) URL"),
        ("https://user:pw@host", True, "user name or password"),
    ],
)
def test_one_url_check(url, https_only, problem):
    found = url_problem(url, https_only=https_only)
    assert (found is None) if problem is None else (problem in found)


def test_loopback_hosts():
    assert is_loopback("127.0.0.2") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("localhost.evil.com")
