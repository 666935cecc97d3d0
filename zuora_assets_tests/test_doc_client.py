"""A client written from Zuora's documentation (doc_client) runs every flow against the simulator, with
realistic job timing, and every answer has the documented shape: JSON keys, XML elements, CSV, HTTP codes.

Documented shapes (developer.zuora.com): createToken; GET_Describe; POST_BatchQueryJob / GET_BatchQueryJob
(SubmitBatchQueryResponse, GetAggregateQueryJobResponse, BatchesQueries); Action_POSTquery /
Action_POSTqueryMore (ProxyActionqueryResponse); Object_POSTExport / Object_GETExport
(ProxyCreateOrModifyResponse, ProxyGetExport, ProxyNoDataResponse).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets_tests.doc_client import DocClient
from zuora_assets_tests.sim_support import NOW

EVER = (NOW - timedelta(days=3650), NOW + timedelta(days=1))
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "scope", "jti"}
JOB_KEYS = {"id", "name", "version", "format", "encrypted", "status", "batches", "sourceData", "startTime",
            "useLastCompletedJobQueries", "partner", "project", "incrementalTime", "notifyUrl", "offset"}
BATCH_KEYS = {"batchId", "name", "query", "batchType", "apiVersion", "status", "localizedStatus", "recordCount",
              "full", "message", "fileId", "segments", "deleted"}
JOB_STATUSES = {"submitted", "executing", "completed", "error", "aborted", "cancelled"}
BATCH_STATUSES = {"submitted", "pending", "executing", "completed", "aborted", "deleted_notallowed"}
FIELD_ELEMENTS = ["name", "label", "selectable", "createable", "updateable", "filterable", "custom", "maxlength",
                  "required", "type", "contexts"]
EXPORT_KEYS = {"ConvertToCurrencies", "CreatedById", "CreatedDate", "Encrypted", "FileId", "Format", "Id", "Name",
               "Query", "Size", "Status", "StatusReason", "UpdatedById", "UpdatedDate", "Zip"}


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimConfig(seed=23, accounts=30, days=10, now=NOW, clock_follows_wall=False,
                             job_timing=JobTiming.realistic())) as s:
        yield s


@pytest.fixture
def client(sim):
    sim.reset()
    return DocClient(sim.base_url, sim.config.client_id, sim.config.client_secret, sleep=sim.advance)


def live_ids(sim, name: str) -> set[str]:
    return {r["id"] for r in sim.truth(name, *EVER).to_pylist() if not r["_deleted"]}


def assert_job_shape(job: dict) -> None:
    assert set(job) <= JOB_KEYS and {"id", "status", "batches", "version", "format"} <= set(job), set(job) - JOB_KEYS
    assert job["status"] in JOB_STATUSES and re.fullmatch(r"[0-9a-f]{32}", job["id"])
    for batch in job["batches"]:
        assert set(batch) <= BATCH_KEYS and {"batchId", "name", "query", "status", "batchType"} <= set(batch)
        assert batch["status"] in BATCH_STATUSES and batch["batchType"] == "zoqlexport"


def test_token_and_describe(sim, client):
    assert set(client.authenticate()) == TOKEN_KEYS
    assert set(client.objects()) >= {"Account", "InvoiceItem", "Subscription"}
    fields, related = client.describe("Account")
    for info in fields.values():
        assert [k for k in FIELD_ELEMENTS if k in info] == FIELD_ELEMENTS
        assert info["type"] in ("text", "picklist", "integer", "decimal", "boolean", "date", "datetime")
        assert set(info["contexts"]) <= {"soap", "export"} and info["contexts"]
    assert fields["Status"]["options"] == ["Active", "Draft", "Canceled"]
    assert {"BillToContact", "SoldToContact", "DefaultPaymentMethod"} <= set(related)
    assert client.call("GET", "/v1/describe/NoSuchObject").status_code == 404
    client.token = "expired"
    assert client.call("GET", "/v1/describe/Account").status_code == 401


def test_stateless_aqua_with_deleted_records(sim, client):
    victim = sorted(live_ids(sim, "contact"))[0]
    sim.advance(60)
    sim.delete("Contact", victim)
    start, end = sim.clock() - timedelta(days=3), sim.clock() + timedelta(seconds=1)
    fields = client.exportable("Contact")
    query = (f"select {', '.join(fields)} from Contact where UpdatedDate >= '{start:%Y-%m-%dT%H:%M:%SZ}' "
             f"and UpdatedDate < '{end:%Y-%m-%dT%H:%M:%SZ}'")
    submitted, polls = client.aqua([{"name": "q", "query": query, "type": "zoqlexport",
                                     "deleted": {"column": "IsDeleted", "format": "Boolean", "forceExport": True}}],
                                   version="1.0")
    for job in [submitted, *polls]:
        assert_job_shape(job)
    seen = [j["status"] for j in [submitted, *polls]]
    assert seen[0] == "submitted" and "executing" in seen and seen[-1] == "completed"  # realistic timing
    result = client.aqua_files(polls[-1])["q"]
    assert result.header == [f"Contact.{f}" for f in fields] + ["Contact.IsDeleted"]
    truth = sim.truth("contact", start, end).to_pylist()
    deleted = result.header.index("Contact.IsDeleted")
    assert sorted((r[0], r[deleted]) for r in result.rows) == sorted(
        (t["id"], "true" if t["_deleted"] else "false") for t in truth)
    assert int(result.meta["recordCount"]) == len(result.rows) and (victim, "true") in {(r[0], r[deleted]) for r in
                                                                                        result.rows}
    created = result.header.index("Contact.CreatedDate")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d\+0000)?", r[created]) for r in result.rows)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_stateful_aqua_full_then_incremental_with_deleted_records(sim, client, version):
    query = f"select {', '.join(client.exportable('Account'))} from Account"
    first = client.stateful(query, "doc-partner", f"accounts_{version}", version)
    assert first.meta["full"] is True and "Account.Deleted" in first.header
    assert {r[0] for r in first.rows} == live_ids(sim, "account")
    sim.advance(300)
    changed = sim.upsert("Account", {"Id": first.rows[0][0], "Notes": 'multi\nline, "quoted"'})
    sim.delete("Account", first.rows[1][0])
    second = client.stateful(query, "doc-partner", f"accounts_{version}", version)
    assert second.meta["full"] is False
    deleted = second.header.index("Account.Deleted")
    assert {(r[0], r[deleted]) for r in second.rows} == {(changed["Id"], "false"), (first.rows[1][0], "true")}
    notes = second.header.index("Account.Notes")
    assert next(r[notes] for r in second.rows if r[0] == changed["Id"]) == 'multi\nline, "quoted"'
    assert '"multi\nline, ""quoted"""' in second.text  # RFC 4180 quoting in the raw file


def test_rest_query_and_query_more(sim, client):
    records, pages = client.query_all("select Id, FirstName, LastName, WorkEmail, UpdatedDate from Contact",
                                      batch_size=25)
    assert len(pages) > 2 and all(set(p) <= {"records", "size", "done", "queryLocator"} for p in pages)
    assert all(("queryLocator" in p) != p["done"] for p in pages) and [p["size"] for p in pages[:-1]] == [25] * (
        len(pages) - 1)
    assert {r["Id"] for r in records} == live_ids(sim, "contact")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000[+-]\d\d:\d\d", r["UpdatedDate"]) for r in records)
    bad = client.call("POST", "/v1/action/query", json={"queryString": "select Id from NoSuchObject"})
    assert bad.status_code == 400 and set(bad.json()) == {"faultcode", "faultstring", "detail"}


def test_object_export_with_joined_objects(sim, client):
    result, polls = client.export("select AccountNumber, Name, BillToContact.WorkEmail, "
                                  "DefaultPaymentMethod.Type from Account")
    assert [p["Status"] for p in polls][-1] == "Completed" and "Processing" in [p["Status"] for p in polls]
    assert all(set(p) <= EXPORT_KEYS for p in polls) and result.meta["Size"] == len(result.text.encode())
    assert result.header == ["Account.AccountNumber", "Account.Name", "BillToContact.WorkEmail",
                             "DefaultPaymentMethod.Type"]
    numbers = {r["account_number"] for r in sim.truth("account", *EVER).to_pylist() if not r["_deleted"]}
    assert {r[0] for r in result.rows} == numbers
    missing = client.call("GET", "/v1/object/export/0123")
    assert missing.status_code == 404 and missing.json() == {"done": True, "records": [], "size": 0}
    assert all(status in (200,) for method, path, status in client.log if path != "/v1/object/export/0123")
