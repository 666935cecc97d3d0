"""Fault injection over real HTTP: each rule kind fires as specified, `times` and `after_n_calls` count."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets_tests.sim_support import NOW, Zuora, read_csv, typed_rows, window_query

PRODUCTS = [{"query": "select Id, Name from Product", "type": "zoqlexport"}]


@pytest.fixture(scope="module")
def module_sim():
    # Instant jobs (whatever ZUORA_SIM_JOB_TIMING says): these tests count polls, not seconds.
    with Simulator(SimConfig(seed=5, accounts=15, days=5, now=NOW, clock_follows_wall=False,
                             job_timing=JobTiming())) as sim:
        yield sim


@pytest.fixture
def sim(module_sim):
    module_sim.reset()
    yield module_sim


@pytest.fixture
def zuora(sim):
    client = Zuora(sim.base_url)
    client.token()
    return client


def test_http_429_with_and_without_retry_after(sim, zuora):
    sim.add_fault({"fault": "http_429", "path": "^/v1/describe", "retry_after": 7})
    sim.add_fault({"fault": "http_429", "path": "^/v1/describe", "with_retry_after": False, "retry_after": 3})
    first = zuora.call("GET", "/v1/describe")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7" and first.headers["RateLimit-Remaining"] == "0"
    second = zuora.call("GET", "/v1/describe")
    assert second.status_code == 429 and "Retry-After" not in second.headers
    assert second.headers["RateLimit-Reset"] == "3"
    assert zuora.call("GET", "/v1/describe").status_code == 200


@pytest.mark.parametrize("status,body", [(500, "json"), (502, "empty"), (503, "json"), (504, "empty")])
def test_http_5xx(sim, zuora, status, body):
    sim.add_fault({"fault": "http_5xx", "method": "POST", "path": "^/v1/batch-query", "status": status, "body": body})
    resp = zuora.call("POST", "/v1/batch-query/", json={"queries": PRODUCTS})
    assert resp.status_code == status
    if body == "json":
        assert resp.json()["success"] is False and resp.json()["reasons"][0]["code"] == 50000060
    else:
        assert resp.content == b""
    assert "id" in zuora.call("POST", "/v1/batch-query/", json={"queries": PRODUCTS}).json()


def test_200_false(sim, zuora):
    sim.add_fault({"fault": "200_false", "path": "^/v1/batch-query/jobs/", "code": 53100320})
    job = zuora.submit(PRODUCTS)
    resp = zuora.call("GET", f"/v1/batch-query/jobs/{job['id']}")
    assert resp.status_code == 200 and resp.json()["success"] is False
    assert resp.json()["reasons"][0]["code"] == 53100320
    assert zuora.poll(job["id"])["status"] == "completed"


def test_after_n_calls_and_times(sim, zuora):
    sim.add_fault({"fault": "http_5xx", "path": "^/v1/describe$", "after_n_calls": 2, "times": 2, "status": 500})
    codes = [zuora.call("GET", "/v1/describe").status_code for _ in range(6)]
    assert codes == [200, 200, 500, 500, 200, 200]


def test_query_substring_restricts_the_rule(sim, zuora):
    sim.add_fault({"fault": "http_429", "query": "showRelationships=true"})
    assert zuora.call("GET", "/v1/describe/Account").status_code == 200
    assert zuora.call("GET", "/v1/describe/Account?showRelationships=true").status_code == 429


def test_token_expire_then_fresh_token_works(sim, zuora):
    sim.add_fault({"fault": "token_expire", "path": "^/v1/describe$"})
    assert zuora.call("GET", "/v1/describe").status_code == 401
    assert zuora.call("GET", "/v1/describe/Account").status_code == 401  # every token is gone
    zuora.token()
    assert zuora.call("GET", "/v1/describe").status_code == 200


def test_token_429(sim, zuora):
    sim.add_fault({"fault": "token_429", "times": 2, "retry_after": 2})
    assert [zuora.token().status_code for _ in range(3)] == [429, 429, 200]


def test_slow_job(sim, zuora):
    sim.add_fault({"fault": "slow_job", "polls": 2})
    job = zuora.submit(PRODUCTS)
    states = [zuora.poll(job["id"])["status"] for _ in range(3)]
    assert states == ["executing", "executing", "completed"]


def test_job_fail_transient_then_resubmit_succeeds(sim, zuora):
    sim.add_fault({"fault": "job_fail_transient", "query": "from Product"})
    failed = zuora.run(PRODUCTS)
    assert failed["status"] == "aborted"
    assert failed["batches"][0]["message"] == "Internal Server Error (90022)"
    assert "fileId" not in failed["batches"][0]
    assert zuora.run(PRODUCTS)["status"] == "completed"


@pytest.mark.parametrize("code,status", [(90027, "aborted"), (90029, "error")])
def test_job_timeout(sim, zuora, code, status):
    sim.add_fault({"fault": "job_timeout", "code": code})
    job = zuora.run(PRODUCTS)
    assert job["status"] == status and f"({code})" in job["batches"][0]["message"]


def test_too_large_by_rows_and_by_config(sim, zuora):
    sim.add_fault({"fault": "too_large", "rows": 3, "query": "from Account"})
    small = zuora.run(PRODUCTS)
    big = zuora.run([{"query": "select Id from Account"}])
    assert zuora.download(small["batches"][0]["fileId"]).status_code == 200
    for _ in range(2):  # too_large fires every time by default
        resp = zuora.download(big["batches"][0]["fileId"])
        assert resp.status_code == 403
        assert "<security:max-object-size>2047MB</security:max-object-size>" in resp.text
    with Simulator(SimConfig(seed=1, accounts=3, days=2, now=NOW, clock_follows_wall=False,
                             max_file_bytes=50)) as tiny:
        client = Zuora(tiny.base_url)
        job = client.run([{"query": "select * from Account"}])
        assert client.download(job["batches"][0]["fileId"]).status_code == 403


def test_a_file_that_a_too_large_fault_always_refuses_is_not_written_and_one_it_refuses_once_is(sim, zuora):
    sim.add_fault({"fault": "too_large", "rows": 3, "query": "from Account"})
    always = zuora.run([{"query": "select Id from Account"}])["batches"][0]["fileId"]
    assert not sim.aqua.files[always].path.exists()  # nobody could read it: the job does not write it
    assert zuora.download(always).status_code == 403
    sim.clear_faults()
    sim.add_fault({"fault": "too_large", "rows": 3, "query": "from Account", "times": 1})
    once = zuora.run([{"query": "select Id, Name from Account"}])["batches"][0]["fileId"]
    assert zuora.download(once).status_code == 403
    assert zuora.download(once).status_code == 200


def test_file_gone_once(sim, zuora):
    sim.add_fault({"fault": "file_gone"})
    job = zuora.run(PRODUCTS)
    first = zuora.download(job["batches"][0]["fileId"])
    assert first.status_code == 404 and first.json()["reasons"][0]["code"] == "FILE_NOT_FOUND"
    assert zuora.download(job["batches"][0]["fileId"]).status_code == 200


def test_files_are_purged_after_three_sim_days(sim, zuora):
    job = zuora.run(PRODUCTS)
    sim.advance(3 * 86400 + 1)
    assert zuora.download(job["batches"][0]["fileId"]).status_code == 404


def test_download_needs_the_bearer(sim, zuora):
    job = zuora.run(PRODUCTS)
    resp = requests.get(f"{sim.base_url}/v1/files/{job['batches'][0]['fileId']}", timeout=10)
    assert resp.status_code == 401


def test_cut_download(sim, zuora):
    sim.add_fault({"fault": "cut_download", "after_bytes": 100})
    job = zuora.run([{"query": "select * from Account"}])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        zuora.download(job["batches"][0]["fileId"])
    assert zuora.download(job["batches"][0]["fileId"]).status_code == 200


def test_malformed_csv(sim, zuora):
    sim.add_fault({"fault": "malformed_csv", "line": 2, "query": "from Product"})
    job = zuora.run(PRODUCTS)
    header, rows = read_csv(zuora.download(job["batches"][0]["fileId"]).text)
    widths = [len(r) for r in rows]
    assert widths[2] == len(header) + 1 and widths.count(len(header)) == len(rows) - 1
    assert job["batches"][0]["recordCount"] == len(rows) - 1


def test_burst_rows_share_one_second(sim, zuora):
    at = NOW - timedelta(hours=2)
    sim.add_fault({"fault": "burst", "object": "InvoiceItem", "n": 300, "at": at.isoformat()})
    truth = sim.truth("invoice_item", at, at + timedelta(seconds=1))
    assert truth.num_rows >= 300
    text = zuora.export_text(window_query("InvoiceItem", at, at + timedelta(seconds=1)))
    assert typed_rows(text, "InvoiceItem", sim.fields("invoice_item")) == truth.to_pylist()


def test_burst_from_config():
    at = NOW - timedelta(hours=5)
    with Simulator(SimConfig(seed=2, accounts=5, days=3, now=NOW, clock_follows_wall=False,
                             bursts=(("InvoiceItem", 500, at),))) as sim:
        assert sim.truth("invoice_item", at, at + timedelta(seconds=1)).num_rows >= 500
        sim.reset()
        assert sim.truth("invoice_item", at, at + timedelta(seconds=1)).num_rows >= 500


def test_schema_drift_remove_field_gives_90005(sim, zuora):
    sim.add_fault({"fault": "schema_drift", "object": "Account", "remove": "Region__c"})
    resp = zuora.call("POST", "/v1/batch-query/", json={"queries": [{"query": "select Id, Region__c from Account"}]})
    assert resp.json()["errorCode"] == "90005" and "no field named Region__c" in resp.json()["message"]
    assert "Region__c" not in zuora.call("GET", "/v1/describe/Account").text
    header, _ = read_csv(zuora.export_text("select * from Account", deleted=False))
    assert "Account.Region__c" not in header


def test_schema_drift_add_custom_field(sim, zuora):
    resp = zuora.http.post(f"{sim.base_url}/__sim/faults", json={"fault": "schema_drift", "object": "Invoice",
                                                                  "add": {"name": "Segment__c", "type": "text"}})
    assert resp.status_code == 200, resp.text
    assert "<name>Segment__c</name>" in zuora.call("GET", "/v1/describe/Invoice").text
    sim.upsert("Invoice", {"Id": sim.truth("invoice", NOW - timedelta(days=9), NOW)["id"][0].as_py(),
                           "Segment__c": "SMB"})
    _, rows = read_csv(zuora.export_text("select Id, Segment__c from Invoice where Segment__c = 'SMB'",
                                         deleted=False))
    assert len(rows) == 1 and rows[0][1] == "SMB"


def test_truncated_body_cuts_the_answer_and_declares_the_cut(sim, zuora):
    sim.add_fault({"fault": "truncated_body", "path": "^/v1/describe$", "after_bytes": 10})
    cut = zuora.call("GET", "/v1/describe")
    assert len(cut.content) == 10 == int(cut.headers["Content-Length"])
    assert len(zuora.call("GET", "/v1/describe").content) > 10  # it fired once


@pytest.mark.parametrize("rule,word", [({"fault": "nope"}, "'fault'"), ({"fault": "http_5xx", "status": 418}, "status"),
                                       ({"fault": "http_429", "bogus": 1}, "bogus"),
                                       ({"fault": "burst", "object": "InvoiceItem"}, "'n'"),
                                       ({"fault": "truncated_body", "after_bytes": -1}, "after_bytes"),
                                       ({"fault": "cut_download", "content_length": "half"}, "content_length")])
def test_invalid_rules_are_refused_with_the_reason(sim, rule, word):
    with pytest.raises(ValueError, match=word):
        sim.add_fault(rule)
    resp = requests.post(f"{sim.base_url}/__sim/faults", json=rule, timeout=10)
    assert resp.status_code == 400 and word.strip("'") in resp.json()["error"]
