"""The REST query action (query/queryMore) and data source exports, over real HTTP, as Zuora documents them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets_tests.sim_support import NOW, Zuora, read_csv

EVER = (NOW - timedelta(days=3650), NOW + timedelta(seconds=1))


@pytest.fixture(scope="module")
def sim():
    # Instant jobs (whatever ZUORA_SIM_JOB_TIMING says): these tests read an export's result right away.
    with Simulator(SimConfig(seed=19, accounts=60, days=10, now=NOW, clock_follows_wall=False,
                             job_timing=JobTiming())) as s:
        yield s


@pytest.fixture
def zuora(sim):
    sim.reset()
    return Zuora(sim.base_url)


def query(zuora: Zuora, zoql: str, **conf) -> dict:
    body = {"queryString": zoql} | ({"conf": conf} if conf else {})
    resp = zuora.call("POST", "/v1/action/query", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def fault(zuora: Zuora, zoql: str) -> dict:
    resp = zuora.call("POST", "/v1/action/query", json={"queryString": zoql})
    assert resp.status_code == 400, resp.text
    return resp.json()


def test_query_and_query_more_page_through_every_live_record(sim, zuora):
    live = {r["id"]: r for r in sim.truth("contact", *EVER).to_pylist() if not r["_deleted"]}
    page = query(zuora, "select Id, FirstName, Fax, CreatedDate from Contact", batchSize=50)
    assert set(page) == {"records", "size", "done", "queryLocator"} and page["done"] is False and page["size"] == 50
    assert page["queryLocator"].endswith("-50") and len(page["queryLocator"].split("-")[0]) == 32
    seen = page["records"]
    while not page["done"]:
        resp = zuora.call("POST", "/v1/action/queryMore", json={"queryLocator": page["queryLocator"]})
        page = resp.json()
        seen += page["records"]
    assert "queryLocator" not in page and sorted(r["Id"] for r in seen) == sorted(live)
    record = next(r for r in seen if live[r["Id"]]["fax"] is None)
    assert "Fax" not in record  # fields with null values are not returned
    created = datetime.fromisoformat(record["CreatedDate"])
    assert record["CreatedDate"][19:23] == ".000" and created.utcoffset() == timedelta(hours=-7)  # June, Los Angeles
    assert created.replace(tzinfo=None) - timedelta(hours=-7) == live[record["Id"]]["created_date"]


def test_query_values_are_json_numbers_and_batches_are_at_most_2000(sim, zuora):
    page = query(zuora, "select Id, Balance, BillCycleDay, AutoPay from Account where Status = 'Active'",
                 batchSize=5000)
    accounts = {r["id"]: r for r in sim.truth("account", *EVER).to_pylist()}
    record = page["records"][0]
    assert isinstance(record["BillCycleDay"], int) and isinstance(record["AutoPay"], bool)
    assert Decimal(str(record["Balance"])) == accounts[record["Id"]]["balance"]
    assert page["done"] is True and page["size"] <= 2000


@pytest.mark.parametrize("zoql,code,words", [
    ("select Id, TaxMessage from Invoice", "fns:INVALID_FIELD", "invalid field for query: Invoice.taxmessage"),
    ("select Id, Nope from Invoice", "fns:INVALID_FIELD", "invalid field for query: nope"),
    ("select Id from CreditMemo", "fns:INVALID_TYPE", "invalid type for query: creditmemo"),
    ("select Id from Order", "fns:INVALID_TYPE", "invalid type for query: order"),
    ("SELECT Id FROM Account", "fns:MALFORMED_QUERY", "lower case"),
    ("select Id from Account where Status in ('Active')", "fns:MALFORMED_QUERY", "'in' operator"),
    ("select Id from Account where (Status = 'Active')", "fns:MALFORMED_QUERY", "parentheses"),
    ("select * from Account", "fns:MALFORMED_QUERY", "wildcard"),
    ("select Id, Account.Name from Contact", "fns:MALFORMED_QUERY", "joining Account"),
    ("select Id from Account order by Id", "fns:MALFORMED_QUERY", "order by"),
    ("select Id from Account where " + " or ".join(["BillCycleDay = 1"] * 201), "fns:MALFORMED_QUERY", "200"),
])
def test_query_faults(zuora, zoql, code, words):
    body = fault(zuora, zoql)
    assert body["faultcode"] == code and words in body["faultstring"]
    assert list(body["detail"].values())[0]["FaultCode"] == code.split(":")[1]


def test_a_query_locator_expires_after_15_idle_minutes(sim, zuora):
    page = query(zuora, "select Id from Account", batchSize=10)
    sim.advance(14 * 60)
    page = zuora.call("POST", "/v1/action/queryMore", json={"queryLocator": page["queryLocator"],
                                                            "conf": {"batchSize": 10}}).json()
    sim.advance(15 * 60 + 1)
    gone = zuora.call("POST", "/v1/action/queryMore", json={"queryLocator": page["queryLocator"]})
    assert gone.status_code == 400 and gone.json()["faultcode"] == "fns:INVALID_QUERY_LOCATOR"


def test_export_lifecycle_and_file(sim, zuora):
    created = zuora.call("POST", "/v1/object/export", json={
        "Query": "select Id, Name, BillToContact.WorkEmail from Account", "Format": "csv", "Name": "accounts"})
    assert created.status_code == 200 and set(created.json()) == {"Success", "Id"} and created.json()["Success"]
    export = zuora.call("GET", f"/v1/object/export/{created.json()['Id']}").json()
    assert export["Status"] == "Completed" and export["Name"] == "accounts" and export["Format"] == "csv"
    assert {"Id", "Query", "Zip", "Encrypted", "FileId", "Size", "CreatedDate", "UpdatedDate", "CreatedById"} <= set(export)
    text = zuora.download(export["FileId"]).text
    assert len(text.encode()) == export["Size"]
    header, rows = read_csv(text)
    assert header == ["Account.Id", "Account.Name", "BillToContact.WorkEmail"]
    assert {r[0] for r in rows} == {r["id"] for r in sim.truth("account", *EVER).to_pylist() if not r["_deleted"]}


def test_export_failures_and_unknown_ids(zuora):
    failed = zuora.call("POST", "/v1/object/export", json={"Query": "select Nope from Account"}).json()
    status = zuora.call("GET", f"/v1/object/export/{failed['Id']}").json()
    assert status["Status"] == "Failed" and "There is no field named Nope" in status["StatusReason"]
    missing = zuora.call("POST", "/v1/object/export", json={"Format": "csv"})
    assert missing.status_code == 400 and missing.json()["Success"] is False
    assert missing.json()["Errors"][0]["Code"] == "MISSING_REQUIRED_VALUE"
    unknown = zuora.call("GET", "/v1/object/export/0000")
    assert unknown.status_code == 404 and unknown.json() == {"done": True, "records": [], "size": 0}


def test_export_timing_cancel_and_limit():
    with Simulator(SimConfig(seed=2, accounts=5, days=2, now=NOW, clock_follows_wall=False, max_concurrent_jobs=2,
                             job_timing=JobTiming(queue_seconds=10, query_seconds=20))) as sim:
        zuora = Zuora(sim.base_url)
        ids = [zuora.call("POST", "/v1/object/export", json={"Query": "select Id from Account"}).json()["Id"]
               for _ in range(2)]
        refused = zuora.call("POST", "/v1/object/export", json={"Query": "select Id from Account"})
        assert refused.status_code == 400 and refused.json()["Errors"][0]["Code"] == "LIMIT_EXCEEDED"
        assert zuora.call("GET", f"/v1/object/export/{ids[0]}").json()["Status"] == "Pending"
        sim.advance(15)
        assert zuora.call("GET", f"/v1/object/export/{ids[0]}").json()["Status"] == "Processing"
        assert zuora.call("DELETE", f"/v1/object/export/{ids[1]}").json() == {"success": True, "id": ids[1]}
        sim.advance(15)
        states = [zuora.call("GET", f"/v1/object/export/{i}").json()["Status"] for i in ids]
        assert states == ["Completed", "Canceled"]
