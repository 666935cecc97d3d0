"""AQuA over real HTTP: exports equal truth(), deletes, ZOQL quirks, submit errors, job cap, options."""

from __future__ import annotations

import gzip
import zipfile
from datetime import timedelta
from io import BytesIO

import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets_tests.sim_support import NOW, Zuora, read_csv, typed_rows, window_query

WEEK_AGO = NOW - timedelta(days=7)


@pytest.fixture(scope="module")
def module_sim():
    with Simulator(SimConfig(seed=11, accounts=25, days=10, now=NOW, clock_follows_wall=False,
                             max_concurrent_jobs=3)) as sim:
        yield sim


@pytest.fixture
def sim(module_sim):
    module_sim.reset()
    yield module_sim


@pytest.fixture
def zuora(sim):
    return Zuora(sim.base_url)


def assert_export_equals_truth(sim, zuora, model_name, obj, start, end, **options):
    text = zuora.export_text(window_query(obj, start, end), **options)
    expected = sim.truth(model_name, start, end).to_pylist()
    assert expected, f"the test window of {obj} should not be empty"
    assert typed_rows(text, obj, sim.fields(model_name)) == expected


@pytest.mark.parametrize("model_name,obj", [("account", "Account"), ("invoice_item", "InvoiceItem"),
                                            ("subscription", "Subscription"), ("payment", "Payment")])
def test_export_equals_truth(sim, zuora, model_name, obj):
    assert_export_equals_truth(sim, zuora, model_name, obj, WEEK_AGO, NOW)


def test_export_in_tenant_time_gzip_and_zip_equals_truth(sim, zuora):
    for fmt in ("gzip", "zip"):
        job = zuora.run([{"query": window_query("Invoice", WEEK_AGO, NOW), "type": "zoqlexport",
                          "deleted": {"column": "IsDeleted", "format": "Boolean", "forceExport": True}}],
                        format=fmt, dateTimeUtc=False)
        raw = zuora.download(job["batches"][0]["fileId"]).content
        if fmt == "gzip":
            text = gzip.decompress(raw).decode()
        else:
            with zipfile.ZipFile(BytesIO(raw)) as zf:
                text = zf.read(zf.namelist()[0]).decode()
        assert "-0700," in text  # June in Los Angeles, not UTC
        assert typed_rows(text, "Invoice", sim.fields("invoice")) == sim.truth("invoice", WEEK_AGO, NOW).to_pylist()


def test_csv_has_quoted_newlines_and_midnight_pacific_dates(sim, zuora):
    start = NOW - timedelta(days=10)
    text = zuora.export_text(window_query("Account", start, NOW) + " or Notes is not null")
    assert '"Line one\nLine two"' in text or '"Comma, ""quote"" and\nnewline"' in text
    text = zuora.export_text(window_query("InvoiceItem", start, NOW, select="Id, ChargeDate"), deleted=False)
    _, rows = read_csv(text)
    assert any(len(r[1]) == 10 for r in rows), "some ChargeDate values are midnight Pacific, written date-only"


def test_deleted_record_becomes_a_tombstone(sim, zuora):
    victim = sim.truth("invoice_payment", WEEK_AGO, NOW).to_pylist()[0]
    sim.advance(60)
    sim.delete("InvoicePayment", victim["id"])
    after = sim.clock()
    rows = typed_rows(zuora.export_text(window_query("InvoicePayment", after - timedelta(seconds=1),
                                                     after + timedelta(seconds=1))),
                      "InvoicePayment", sim.fields("invoice_payment"))
    assert [(r["id"], r["_deleted"], r["amount"]) for r in rows] == [(victim["id"], True, victim["amount"])]
    assert rows[0]["updated_date"] == after.replace(tzinfo=None)
    no_deleted = zuora.export_text(window_query("InvoicePayment", WEEK_AGO, after + timedelta(seconds=1)),
                                   deleted=False)
    assert victim["id"] not in no_deleted


def test_tombstones_expire_after_30_days(sim, zuora):
    victim = sim.truth("usage", WEEK_AGO, NOW).to_pylist()[0]
    sim.delete("Usage", victim["id"])
    deleted_at = sim.clock()
    window = (deleted_at - timedelta(seconds=1), deleted_at + timedelta(seconds=1))
    assert sim.truth("usage", *window).num_rows == 1
    sim.advance(31 * 86400)
    assert sim.truth("usage", *window).num_rows == 0
    assert zuora.export_text(window_query("Usage", *window)).count("\n") == 1  # header only


def test_control_plane_upsert_appears_in_the_next_window(sim, zuora):
    sim.advance(3600)
    resp = zuora.http.post(f"{sim.base_url}/__sim/records/Account", json={"Name": "Brand, New \"Co\"",
                                                                          "Balance": "12.345"})
    assert resp.status_code == 200, resp.text
    created = resp.json()
    start = sim.clock() - timedelta(seconds=1)
    sim.advance(60)
    text = zuora.export_text(window_query("Account", start, sim.clock()))
    rows = typed_rows(text, "Account", sim.fields("account"))
    assert [(r["id"], r["name"], str(r["balance"])) for r in rows] == [(created["Id"], 'Brand, New "Co"', "12.345")]
    assert ',"Brand, New ""Co""",' in text and ",12.345," in text  # minimal RFC 4180 quoting, bare decimals


def test_space_separated_datetime_literal_is_ignored(sim, zuora):
    text = zuora.export_text("select Id from Account where UpdatedDate >= '2099-01-01 00:00:00'", deleted=False)
    assert len(read_csv(text)[1]) == sim.truth("account", NOW - timedelta(days=3650), NOW).num_rows


def test_date_only_literal_is_the_whole_tenant_day(sim, zuora):
    text = zuora.export_text("select Id, UpdatedDate from Invoice where UpdatedDate = '2024-05-30'", deleted=False,
                             dateTimeUtc=False)
    _, rows = read_csv(text)
    assert rows and all(r[1].startswith("2024-05-30") for r in rows)


def test_order_by_and_limit(sim, zuora):
    text = zuora.export_text("select Id from Invoice order by Id desc limit 2, 3", deleted=False)
    ids = [r[0] for r in read_csv(text)[1]]
    everything = sorted(sim.truth("invoice", NOW - timedelta(days=3650), NOW).column("id").to_pylist(), reverse=True)
    assert ids == everything[2:5]


def test_labels_and_null_replacement(sim, zuora):
    text = zuora.export_text("select Id, VATId from Account where VATId is null", deleted=False,
                             useQueryLabels=False, nullReplacement="NULL")
    header, rows = read_csv(text)
    assert header == ["Account: Id", "Account: VAT Id"]
    assert rows and all(r[1] == "NULL" for r in rows)


@pytest.mark.parametrize("body,code", [
    ({"queries": [{"query": "select Nope from Account"}]}, "90005"),
    ({"queries": [{"query": "select IntegrationId__NS from Account"}]}, "90005"),
    ({"queries": [{"query": "select Id from NoSuchObject"}]}, "90005"),
    ({"queries": [{"query": "select Id from Account where"}]}, "90005"),
    ({"queries": [{"query": "select Id from Account"}] * 51}, "90004"),
    ({"queries": []}, "90016"),
    ({"queries": [{"query": "select Id from Account", "deleted": {"column": "D", "format": "Boolean"}}]}, "90012"),
])
def test_submit_errors_come_back_as_http_200(zuora, body, code):
    resp = zuora.call("POST", "/v1/batch-query/", json={"format": "csv", **body})
    assert resp.status_code == 200
    assert resp.json()["status"] == "error" and resp.json()["errorCode"] == code
    assert "id" not in resp.json()


def test_unknown_field_message_names_the_field(zuora):
    resp = zuora.call("POST", "/v1/batch-query/", json={"queries": [{"query": "select Id, Bogus__c from Account"}]})
    assert "There is no field named Bogus__c" in resp.json()["message"]


def test_json_format_is_malformed(zuora):
    resp = zuora.call("POST", "/v1/batch-query/", json={"format": "json",
                                                        "queries": [{"query": "select Id from Account"}]})
    assert resp.json() == {"success": False, "code": 50000090,
                           "message": "Oops, request is malformed. Please check your request."}


def test_job_cap_90028_and_in_flight_accounting():
    """Jobs count against the tenant's limit while submitted or executing; over it, Zuora refuses (90028)."""
    with Simulator(SimConfig(seed=3, accounts=5, days=3, now=NOW, clock_follows_wall=False, max_concurrent_jobs=3,
                             job_timing=JobTiming(queue_seconds=30))) as sim:
        zuora = Zuora(sim.base_url)
        query = [{"query": "select Id from Product"}]
        jobs = [zuora.submit(query) for _ in range(3)]
        assert {j["status"] for j in jobs} == {"submitted"} and jobs[0]["batches"][0]["status"] == "pending"
        refused = zuora.submit(query)
        assert refused["status"] == "error" and refused["errorCode"] == "90028" and "id" not in refused
        stateful = zuora.submit(query, partner="p", project="x")  # the stateful limit is counted apart
        assert "id" in stateful
        sim.advance(31)  # the queued jobs run (instantly) and complete without being polled
        assert "id" in zuora.submit(query)
        assert sim.max_jobs_in_flight() == 4
        log = [e for e in sim.requests() if e["path"].startswith("/v1/batch-query")]
        assert max(e["jobs_in_flight"] for e in log) == 4


def test_cancel_running_job_and_not_a_finished_one(zuora):
    with Simulator(SimConfig(seed=3, accounts=5, days=3, now=NOW, clock_follows_wall=False,
                             job_timing=JobTiming(queue_seconds=30))) as sim:
        client = Zuora(sim.base_url)
        job = client.submit([{"query": "select Id from Product"}])
        cancelled = client.call("DELETE", f"/v1/batch-query/jobs/{job['id']}").json()
        assert cancelled["status"] == "cancelled" and cancelled["batches"][0]["status"] == "cancelled"
        sim.advance(60)
        assert client.poll(job["id"])["status"] == "cancelled"  # it never runs
    done = zuora.run([{"query": "select Id from Product"}])
    again = zuora.call("DELETE", f"/v1/batch-query/jobs/{done['id']}").json()
    assert again["errorCode"] == "90003"
    assert zuora.call("GET", "/v1/batch-query/jobs/ffff").status_code == 404


def test_snapshot_is_taken_when_the_job_starts_executing(sim):
    with Simulator(SimConfig(seed=3, accounts=5, days=3, now=NOW, clock_follows_wall=False,
                             polls_to_complete=3, job_timing=JobTiming())) as slow:
        client = Zuora(slow.base_url)
        job = client.submit([{"query": "select Id from Account"}])
        assert client.poll(job["id"])["status"] == "executing"
        slow.upsert("Account", {"Name": "Too late"})
        assert client.poll(job["id"])["status"] == "executing"
        done = client.poll(job["id"])
        assert done["status"] == "completed"
        assert done["batches"][0]["recordCount"] == 5



def test_result_file_is_written_before_its_query_reports_completed():
    """As at Zuora, the job writes the file: a completed query's file is on disk, a download only sends it."""
    with Simulator(SimConfig(seed=3, accounts=5, days=3, now=NOW, clock_follows_wall=False,
                             job_timing=JobTiming(query_seconds=60))) as slow:
        client = Zuora(slow.base_url)
        job = client.submit([{"query": "select Id from Account"}])
        running = client.poll(job["id"])
        file_id = running["batches"][0]["fileId"]
        early = client.download(file_id)
        assert running["batches"][0]["status"] == "executing" and early.status_code == 404
        assert f"poll job {job['id']}" in early.json()["reasons"][0]["message"]
        assert not slow.aqua.files[file_id].path.exists()
        slow.advance(61)
        done = client.poll(job["id"])
        written = slow.aqua.files[file_id]
        assert done["status"] == "completed" and written.path.exists() and written.content is None
        assert written.size == written.path.stat().st_size
        assert len(read_csv(client.download(file_id).text)[1]) == done["batches"][0]["recordCount"] == 5

def test_stateful_session_full_then_incremental(sim, zuora):
    spec = [{"name": "acc", "query": "select Id from Account",
             "deleted": {"column": "IsDeleted", "format": "Boolean"}}]
    first = zuora.run(spec, partner="p", project="x")
    assert first["batches"][0]["full"] is True and first["batches"][0]["recordCount"] == 25
    sim.advance(10)
    sim.upsert("Account", {"Name": "Changed later"})
    second = zuora.run(spec, partner="p", project="x")
    assert second["batches"][0]["full"] is False and second["batches"][0]["recordCount"] == 1
    last = zuora.call("GET", "/v1/batch-query/jobs/partner/p/project/x").json()
    assert last["id"] == second["id"]


def test_numeric_deleted_column(sim, zuora):
    victim = sim.truth("usage", WEEK_AGO, NOW).to_pylist()[0]
    sim.delete("Usage", victim["id"])
    job = zuora.run([{"query": "select Id from Usage", "type": "zoqlexport",
                      "deleted": {"column": "Gone", "format": "Numeric", "forceExport": True}}])
    header, rows = read_csv(zuora.download(job["batches"][0]["fileId"]).text)
    assert header == ["Usage.Id", "Usage.Gone"]
    everything = sim.truth("usage", NOW - timedelta(days=3650), sim.clock() + timedelta(seconds=1))
    tombstones = {r["id"] for r in everything.to_pylist() if r["_deleted"]}
    assert victim["id"] in tombstones
    assert {r[1] for r in rows} == {"0", "1"} and {r[0] for r in rows if r[1] == "1"} == tombstones
