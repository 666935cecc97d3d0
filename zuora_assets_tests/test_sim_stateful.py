"""Stateful AQuA over real HTTP, as Zuora documents it: versions 1.1 and later, deleted records, incrementalTime."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets_tests.sim_support import NOW, Zuora, read_csv

DELETED = {"column": "IsDeleted", "format": "Boolean"}  # no forceExport: stateful mode does not need it


@pytest.fixture(scope="module")
def module_sim():
    with Simulator(SimConfig(seed=13, accounts=20, days=10, now=NOW, clock_follows_wall=False)) as sim:
        yield sim


@pytest.fixture
def sim(module_sim):
    module_sim.reset()
    yield module_sim


@pytest.fixture
def zuora(sim):
    return Zuora(sim.base_url)


def export(zuora: Zuora, version, query: str = "select Id, Name from Account", project: str = "p1", **options):
    """Run one stateful query (name `acc`); (job, {id: deleted flag})."""
    spec = [{"name": "acc", "query": query, "type": "zoqlexport", "deleted": DELETED}]
    job = zuora.run(spec, version=version, partner="sim", project=project, **options)
    assert job["status"] == "completed", job
    header, rows = read_csv(zuora.download(job["batches"][0]["fileId"]).text)
    return job, {r[0]: r[header.index("Account.IsDeleted")] == "true" for r in rows}


@pytest.mark.parametrize("version", ["1.1", "1.2", 1.2, "2.0"])
def test_version_1_1_and_later_is_stateful_with_deleted_records(sim, zuora, version):
    first, rows = export(zuora, version)
    assert first["batches"][0]["full"] is True and first["partner"] == "sim" and first["project"] == "p1"
    assert len(rows) == sim.truth("account", NOW - timedelta(days=3650), NOW).num_rows - sum(
        sim.truth("account", NOW - timedelta(days=3650), NOW)["_deleted"].to_pylist())  # no tombstone in a full load
    assert not any(rows.values())
    sim.advance(60)
    changed = sim.upsert("Account", {"Id": next(iter(rows)), "Notes": "changed"})
    victim = list(rows)[1]
    sim.delete("Account", victim)
    second, delta = export(zuora, version)
    assert second["batches"][0]["full"] is False
    assert delta == {changed["Id"]: False, victim: True}
    third, nothing = export(zuora, version)
    assert nothing == {} and third["batches"][0]["recordCount"] == 0


def test_version_1_0_ignores_partner_and_project(sim, zuora):
    job = zuora.submit([{"query": "select Id from Account", "deleted": DELETED}], version="1.0", partner="sim",
                       project="p")
    assert job.get("errorCode") == "90012"  # stateless: a deleted column needs forceExport
    job = zuora.run([{"query": "select Id from Account"}], version="1.0", partner="sim", project="p")
    assert job["batches"][0]["full"] is True and "partner" not in job


def test_a_record_created_and_deleted_inside_an_interval_is_never_returned(sim, zuora):
    export(zuora, "1.2")
    sim.advance(60)
    short = sim.upsert("Account", {"Name": "Short-lived", "Currency": "USD", "BillCycleDay": 1})
    sim.advance(60)
    sim.delete("Account", short["Id"])
    _, delta = export(zuora, "1.2")
    assert short["Id"] not in delta


def test_changing_the_query_gives_that_query_a_full_load(sim, zuora):
    export(zuora, "1.1")
    job, rows = export(zuora, "1.1", query="select Id, Name, Status from Account")
    assert job["batches"][0]["full"] is True and len(rows) > 10


def test_incremental_time_is_pacific_and_does_not_move_the_session(sim, zuora):
    export(zuora, "1.1")
    sim.advance(3600)
    record = sim.upsert("Account", {"Id": sim.truth("account", NOW - timedelta(days=3650), NOW)["id"][0].as_py(),
                                    "Notes": "an hour later"})
    pacific = (NOW + timedelta(minutes=59)).astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    job, rows = export(zuora, "1.1", incrementalTime=pacific.strftime("%Y-%m-%d %H:%M:%S"))
    assert job["incrementalTime"] == int((NOW + timedelta(minutes=59)).timestamp() * 1000)
    assert set(rows) == {record["Id"]} and job["batches"][0]["full"] is False
    _, again = export(zuora, "1.1")  # the session still starts where the first call ended
    assert set(again) == {record["Id"]}
    bad = zuora.submit([{"query": "select Id from Account"}], partner="sim", project="p1",
                       incrementalTime="2024-06-01T00:00:00Z")
    assert bad["errorCode"] == "90015"


def test_incremental_time_is_utc_in_the_eu_data_center():
    with Simulator(SimConfig(seed=2, accounts=3, days=2, now=NOW, clock_follows_wall=False, data_center="EU")) as sim:
        job = Zuora(sim.base_url).run([{"query": "select Id from Account"}], partner="sim", project="p",
                                      incrementalTime="2024-06-01 00:00:00")
        assert job["incrementalTime"] == int(NOW.replace(hour=0).timestamp() * 1000)


def test_offset_pulls_the_end_of_the_interval_back(sim, zuora):
    export(zuora, "1.1")
    sim.advance(120)
    record = sim.upsert("Account", {"Name": "Recent", "Currency": "USD", "BillCycleDay": 1})
    sim.advance(30)
    _, rows = export(zuora, "1.1", offset=600)  # the change is 30 s old: after the pulled-back end
    assert record["Id"] not in rows


def test_repeating_the_last_queries_and_the_last_job_endpoint(sim, zuora):
    first, _ = export(zuora, "1.1", project="again")
    sim.advance(60)
    repeat = zuora.run([], version="1.1", partner="sim", project="again")  # no queries: the session's own
    assert [b["name"] for b in repeat["batches"]] == ["acc"] and repeat["batches"][0]["full"] is False
    last = zuora.call("GET", "/v1/batch-query/jobs/partner/sim/project/again").json()
    assert last["id"] == repeat["id"] != first["id"]
    assert zuora.call("GET", "/v1/batch-query/jobs/partner/sim/project/none").status_code == 404
    assert zuora.submit([], version="1.1", partner="sim", project="empty")["errorCode"] == "90016"


def test_jobs_of_one_session_run_one_after_the_other():
    timing = JobTiming(queue_seconds=10, query_seconds=100)
    with Simulator(SimConfig(seed=2, accounts=3, days=2, now=NOW, clock_follows_wall=False,
                             job_timing=timing)) as sim:
        zuora = Zuora(sim.base_url)
        spec = [{"name": "acc", "query": "select Id from Account"}]
        first = zuora.submit(spec, partner="sim", project="serial")
        second = zuora.submit(spec, partner="sim", project="serial")
        other = zuora.submit(spec, partner="sim", project="elsewhere")
        sim.advance(20)
        states = [zuora.poll(j["id"])["status"] for j in (first, second, other)]
        assert states == ["executing", "submitted", "executing"]
        sim.advance(100)  # the first ends at 110 s; the second starts then and runs until 210 s
        assert [zuora.poll(j["id"])["status"] for j in (first, second)] == ["completed", "executing"]
        sim.advance(100)
        assert zuora.poll(second["id"])["status"] == "completed"


def test_unknown_partner_is_refused_when_the_tenant_lists_its_partners():
    with Simulator(SimConfig(seed=2, accounts=3, days=2, now=NOW, clock_follows_wall=False,
                             partners=("salesforce",))) as sim:
        zuora = Zuora(sim.base_url)
        assert zuora.submit([{"query": "select Id from Account"}], partner="nope", project="p")["errorCode"] == "90019"
        assert "id" in zuora.submit([{"query": "select Id from Account"}], partner="salesforce", project="p")
