"""Overlapping runs of the real assets end exact against the simulator with the newest snapshot, in the local
lake and in S3 on moto (issue 10, point 1).

The simulator's clock is the project's clock, frozen and moved by the test. A slow run (the simulator's
`slow_job` fault, 12 polls) is also held at the lake until the later run has finished: its upload comes after
the later run's commit, the interleaving that lost the newer snapshot before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from zuora_assets.definitions import build_resources
from zuora_assets.defs.assets import MODE_TAG
from zuora_assets.defs.resources import aws_clients
from zuora_assets_tests.pipeline import materialize, moto_settings
from zuora_assets_tests.time_support import (
    HOLDS,
    InThread,
    SimTime,
    held_resources,
    job_submissions,
    latest_versions,
    partition_table,
    partition_transfers,
    wait_until,
)

MODEL = "account"
NOON = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC) + timedelta(hours=12)
TODAY = NOON.date().isoformat()
DAY_START = NOON.replace(hour=0)


@pytest.fixture(params=["local", "s3"])
def destination(request, local_lake, monkeypatch):
    """The lake of the run: the local folder, or a bucket on the moto server."""
    monkeypatch.setenv("ZUORA_POLL_INITIAL_SECONDS", "0.01")
    monkeypatch.setenv("ZUORA_LAG_SECONDS", "0")
    if request.param == "s3":
        moto = request.getfixturevalue("moto")
        moto.client("s3").create_bucket(Bucket="overlap-lake")
        for name, value in moto_settings(moto.endpoint, bucket="overlap-lake", folder="zuora", schema="overlap").items():
            monkeypatch.setenv(name, value)
        aws_clients.cache_clear()
    yield request.param
    aws_clients.cache_clear()


@pytest.fixture
def sim(destination, serve):
    return serve(seed=17, accounts=25, days=3, now=NOON, clock_follows_wall=False)


def change_three_accounts(sim) -> None:
    """Create, update and delete one account each (at the simulator's clock)."""
    alive = sim.truth(MODEL, DAY_START, sim.clock())
    alive = alive.filter(pc.invert(alive.column("_deleted"))).column("id").to_pylist()
    sim.upsert("Account", {"Name": "Created While A Was Slow"})
    sim.upsert("Account", {"Id": alive[0], "Name": "Updated While A Was Slow"})
    sim.delete("Account", alive[1])


def start_slow_run(sim, tags: dict | None = None) -> tuple[InThread, SimTime]:
    """Run A: a replace of today whose export job takes 12 extra polls and whose uploads wait for HOLDS["A"]."""
    sim.add_fault({"fault": "slow_job", "polls": 12, "times": 1})
    clock = SimTime(sim)
    resources = held_resources(build_resources(), "A")
    submitted = job_submissions(sim)
    run = InThread(lambda: materialize([f"zuora/{MODEL}"], [TODAY], clock=clock, resources=resources, tags=tags))
    wait_until(lambda: job_submissions(sim) > submitted, what="run A's export job")
    return run, clock


def materializations(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return event.event_specific_data.materialization.metadata


def exact(table, truth) -> bool:
    return latest_versions(table, truth.column_names).equals(truth.sort_by("id"))


def test_a_slow_replace_and_a_later_replace_with_changes_between_end_with_the_later_snapshot(sim):
    slow, slow_clock = start_slow_run(sim)
    sim.advance(5)
    change_three_accounts(sim)
    sim.advance(5)
    later = materialize([f"zuora/{MODEL}"], [TODAY], clock=SimTime(sim))  # B: starts after A, ends first
    HOLDS["A"].set()
    slow = slow.result()

    newer, older = materializations(later), materializations(slow)
    assert older["superseded_by"].value == newer["transfer"].value == f"{NOON + timedelta(seconds=10):%Y%m%d%H%M%S}"
    assert older["transfer"].value == f"{slow_clock.readings[0]:%Y%m%d%H%M%S}" < newer["transfer"].value
    assert partition_transfers(MODEL, TODAY) == {newer["transfer"].value}
    truth = sim.truth(MODEL, DAY_START, NOON + timedelta(seconds=10))
    table = partition_table(MODEL, TODAY)
    assert table.num_rows == truth.num_rows and exact(table, truth), "exactly the later snapshot"
    names = dict(zip(table.column("id").to_pylist(), table.column("name").to_pylist(), strict=True))
    assert "Created While A Was Slow" in names.values() and "Updated While A Was Slow" in names.values()


def test_a_slow_replace_keeps_an_append_that_committed_first(sim):
    materialize([f"zuora/{MODEL}"], [TODAY], clock=SimTime(sim))  # the partition as of noon
    sim.advance(60)
    slow, _ = start_slow_run(sim)
    sim.advance(5)
    change_three_accounts(sim)
    sim.advance(5)
    append = materialize([f"zuora/{MODEL}"], [TODAY], clock=SimTime(sim), tags={MODE_TAG: "append"})
    HOLDS["A"].set()
    slow = slow.result()

    replace, appended = materializations(slow), materializations(append)
    assert "superseded_by" not in replace, "a newer append never makes a replace yield"
    assert partition_transfers(MODEL, TODAY) == {replace["transfer"].value, appended["transfer"].value}
    truth = sim.truth(MODEL, DAY_START, sim.clock())
    assert exact(partition_table(MODEL, TODAY), truth), "the latest version of each record is the simulator's"


def test_two_replaces_starting_in_the_same_second_take_two_seconds_and_end_exact(sim):
    first, first_clock = start_slow_run(sim)  # held at its first upload
    second = materialize([f"zuora/{MODEL}"], [TODAY], clock=SimTime(sim))  # same second: the clock is frozen
    HOLDS["A"].set()
    first = first.result()

    taken, moved = materializations(second), materializations(first)
    snapshot = f"{first_clock.readings[0]:%Y%m%d%H%M%S}"
    assert taken["transfer"].value == snapshot
    assert moved["transfer"].value == f"{first_clock.readings[0] + timedelta(seconds=1):%Y%m%d%H%M%S}"
    assert snapshot in moved["timestamps_taken"].value
    assert moved["transfer"].value <= f"{sim.clock():%Y%m%d%H%M%S}", "never ahead of the clock"
    assert partition_transfers(MODEL, TODAY) == {moved["transfer"].value}
    truth = sim.truth(MODEL, DAY_START, first_clock.readings[0])
    table = partition_table(MODEL, TODAY)
    assert table.num_rows == truth.num_rows and exact(table, truth)
