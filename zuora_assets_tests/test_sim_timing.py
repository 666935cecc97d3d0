"""Job timing on the sim clock: queued, executing query by query for a time that grows with rows, completed."""

from __future__ import annotations

import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.__main__ import config_from
from zuora_assets.sim.config import RATE_ENV, TIMING_ENV, JobTiming
from zuora_assets_tests.sim_support import NOW, Zuora

# 1 s per row (a million seconds per million rows), 2 s per query, 5 s in the queue.
SLOW = JobTiming(queue_seconds=5, query_seconds=2, seconds_per_million_rows=1_000_000)


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimConfig(seed=4, accounts=10, days=5, now=NOW, clock_follows_wall=False,
                             job_timing=SLOW)) as s:
        yield s


def test_a_job_is_pending_then_executes_query_by_query_then_completes(sim):
    sim.reset()
    zuora = Zuora(sim.base_url)
    products = sim.truth("product", NOW.replace(year=2000), NOW).num_rows
    accounts = sim.truth("account", NOW.replace(year=2000), NOW).num_rows
    job = zuora.submit([{"name": "p", "query": "select Id from Product"},
                        {"name": "a", "query": "select Id from Account"}])
    assert job["status"] == "submitted" and [b["status"] for b in job["batches"]] == ["pending", "pending"]

    def at(seconds: float) -> dict:
        sim.set_clock(NOW.replace(microsecond=0) + __import__("datetime").timedelta(seconds=seconds))
        return zuora.poll(job["id"])

    assert at(4.9)["status"] == "submitted"
    running = at(5)
    assert running["status"] == "executing" and [b["status"] for b in running["batches"]] == ["executing", "pending"]
    first_done = 5 + 2 + products
    half = at(first_done)
    assert [b["status"] for b in half["batches"]] == ["completed", "executing"]
    assert half["batches"][0]["recordCount"] == products and "fileId" in half["batches"][0]
    assert half["batches"][1]["recordCount"] == 0
    assert at(first_done + 2 + accounts - 0.5)["status"] == "executing"  # the account query takes its rows' time
    done = at(first_done + 2 + accounts)
    assert done["status"] == "completed" and done["batches"][1]["recordCount"] == accounts
    assert sim.requests()[-1]["status"] == 200


def test_a_job_completes_by_the_clock_without_being_polled(sim):
    sim.reset()
    zuora = Zuora(sim.base_url)
    job = zuora.submit([{"query": "select Id from Product"}])
    sim.advance(3600)
    assert sim.stats()["jobs_in_flight"] == 0
    assert zuora.poll(job["id"])["status"] == "completed"


def test_a_query_running_past_three_hours_is_killed():
    four_hours = JobTiming(queue_seconds=5, query_seconds=4 * 3600)
    with Simulator(SimConfig(seed=4, accounts=3, days=2, now=NOW, clock_follows_wall=False,
                             job_timing=four_hours)) as sim:
        zuora = Zuora(sim.base_url)
        job = zuora.submit([{"name": "big", "query": "select Id from Account"},
                            {"name": "after", "query": "select Id from Product"}])
        sim.advance(5 + 3 * 3600 - 1)
        assert zuora.poll(job["id"])["status"] == "executing"
        sim.advance(1)
        killed = zuora.poll(job["id"])
        assert killed["status"] == "aborted"
        assert [b["message"] for b in killed["batches"]] == [
            "Query exceeded the maximum processing time of 3 hours (90027)",
            "The query execution has been aborted (90007)"]


def test_timing_presets_and_the_environment_switch():
    assert JobTiming.from_environment({}) == JobTiming()
    realistic = JobTiming.from_environment({TIMING_ENV: "realistic"})
    assert realistic == JobTiming.realistic() and realistic.query_ms(1_000_000) == 2402_000
    assert JobTiming.from_environment({RATE_ENV: "600"}).seconds_per_million_rows == 600
    with pytest.raises(ValueError, match=TIMING_ENV):
        JobTiming.from_environment({TIMING_ENV: "fast"})
    with pytest.raises(ValueError, match=RATE_ENV):
        JobTiming.from_environment({RATE_ENV: "soon"})
    with pytest.raises(ValueError, match="queue_seconds"):
        JobTiming(queue_seconds=-1)


def test_cli_sets_job_timing():
    assert config_from(["--job-seconds-per-million-rows", "120"]).job_timing.seconds_per_million_rows == 120
    assert config_from(["--job-timing", "realistic"]).job_timing == JobTiming.realistic()
    assert config_from(["--job-timing", "instant"]).job_timing == JobTiming()
