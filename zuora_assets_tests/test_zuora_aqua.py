"""AQuA failures: their classification, and flows the simulator cannot produce (scripted server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zuora_assets.zuora.aqua import FIELD, PERMANENT, TOO_LARGE, TRANSIENT, classify
from zuora_assets.zuora.catalog import MODELS
from zuora_assets.zuora.client import ZuoraClient, ZuoraDataError, ZuoraJobError
from zuora_assets.zuora.extract import Extractor
from zuora_assets_tests.zuora_stub import Reply, StubServer

A = datetime(2026, 11, 1, tzinfo=UTC)
B = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("90022", "", TRANSIENT),
        (None, "Internal Server Error (90022)", TRANSIENT),
        (None, "Internal message: Service Temporarily Unavailable ... LINK_30000007", TRANSIENT),
        ("90006", "storage error", TRANSIENT),
        ("90027", "exceeded max processing time", TOO_LARGE),
        (None, "Job marked Error (90029)", TOO_LARGE),
        (None, "<security:max-object-size>2047MB</security:max-object-size>", TOO_LARGE),
        ("90009", "not authorized", PERMANENT),
        ("90018", "no permission", PERMANENT),
        ("90019", "partner", PERMANENT),
        (None, "something nobody has seen", PERMANENT),
    ],
)
def test_kinds(code, message, kind):
    assert classify(code, message).kind == kind


def test_unknown_field_names_field_and_object():
    failure = classify(
        "90005",
        "There is a syntax error in one of the queries in the AQuA input (Error = There is "
        "no field named Region__c, Query = select Id, Region__c from Account where ...)",
    )
    assert (failure.kind, failure.field, failure.object) == (FIELD, "Region__c", "Account")


def test_permanent_failures_say_what_to_fix():
    assert "grant" in classify("90018", "no permission").message
    assert "exports_deletes=False" in classify("90017", "deleted not supported").message


# -- AQuA flows the simulator does not produce, against a scripted server ---------------------------------


def _describe_xml(m) -> str:
    fields = "".join(f"<field><name>{f.name}</name><type>{f.type}</type><selectable>true</selectable>"
                     "<contexts><context>export</context></contexts></field>" for f in m.fields)
    return f"<object><name>{m.object}</name><fields>{fields}</fields></object>"


def _csv(m, ids) -> bytes:
    header = ",".join(f"{m.object}.{f.name}" for f in m.fields) + f",{m.object}.IsDeleted\n"
    rows = []
    for i in ids:
        values = {"Id": i, "UpdatedDate": "2026-11-01T10:00:00+0000", "CreatedDate": "2026-11-01T09:00:00+0000"}
        rows.append(",".join(values.get(f.name, "") for f in m.fields) + ",false\n")
    return (header + "".join(rows)).encode()


def _job(status: str, *batches: dict) -> dict:
    return {"id": "J1", "status": status, "batches": list(batches)}


@pytest.fixture
def stub():
    with StubServer() as server:
        for m in (MODELS["account"], MODELS["contact"]):
            server.script("GET", f"/v1/describe/{m.object}", Reply(200, _describe_xml(m)))
        yield server


def _extractor(stub: StubServer, **kw) -> Extractor:
    client = ZuoraClient("id", "secret", base_url=stub.base_url, sleep=lambda s: None)
    return Extractor(client, poll_initial=0.0, **kw)


def test_row_count_differing_from_record_count_raises_after_yielding(stub):
    stub.script("POST", "/v1/batch-query/", Reply(200, _job("submitted")))
    stub.script("GET", "/v1/batch-query/jobs/J1", Reply(200, _job("completed", {
        "name": "account", "status": "completed", "recordCount": "3", "fileId": "F1"})))
    stub.script("GET", "/v1/files/F1", Reply(200, _csv(MODELS["account"], ["a1", "a2"])))
    extraction = _extractor(stub).extract(MODELS["account"], A, B)
    got = []
    with pytest.raises(ZuoraDataError, match=r"model account, window .*: parsed 2 rows but Zuora counted 3"):
        for batch in extraction.batches:
            got.append(batch)
    assert sum(b.num_rows for b in got) == 2 == extraction.row_count


def test_segments_are_read_in_order(stub):
    stub.script("POST", "/v1/batch-query/", Reply(200, _job("submitted")))
    stub.script("GET", "/v1/batch-query/jobs/J1", Reply(200, _job("completed", {
        "name": "account", "status": "completed", "recordCount": 4, "segments": ["F1", "F2"]})))
    stub.script("GET", "/v1/files/F1", Reply(200, _csv(MODELS["account"], ["a1", "a2"])))
    stub.script("GET", "/v1/files/F2", Reply(200, _csv(MODELS["account"], ["a3", "a4"])))
    extraction = _extractor(stub).extract(MODELS["account"], A, B)
    ids = [i for b in extraction.batches for i in b.column("id").to_pylist()]
    assert ids == ["a1", "a2", "a3", "a4"]


def test_permanent_failure_stops_only_that_model(stub):
    stub.script("POST", "/v1/batch-query/", Reply(200, _job("submitted")))
    stub.script("GET", "/v1/batch-query/jobs/J1", Reply(200, _job(
        "aborted",
        {"name": "account", "status": "completed", "recordCount": 1, "fileId": "F1"},
        {"name": "contact", "status": "aborted", "message": "No permission to access some objects (90018)"})))
    stub.script("GET", "/v1/files/F1", Reply(200, _csv(MODELS["account"], ["a1"])))
    extractions = _extractor(stub).extract_many([MODELS["account"], MODELS["contact"]], A, B)
    assert [i for b in extractions["account"].batches for i in b.column("id").to_pylist()] == ["a1"]
    with pytest.raises(ZuoraJobError, match=r"model contact, window .*90018.*grant it"):
        next(extractions["contact"].batches)
    with pytest.raises(ZuoraJobError, match="model contact"):
        _extractor(stub).extract(MODELS["contact"], A, B)


def test_busy_tenant_90028_waits_and_resubmits(stub):
    stub.script("POST", "/v1/batch-query/",
                Reply(200, {"status": "error", "errorCode": "90028", "message": "too many concurrent jobs"}),
                Reply(200, _job("submitted")))
    stub.script("GET", "/v1/batch-query/jobs/J1", Reply(200, _job("completed", {
        "name": "account", "status": "completed", "recordCount": 1, "fileId": "F1"})))
    stub.script("GET", "/v1/files/F1", Reply(200, _csv(MODELS["account"], ["a1"])))
    extraction = _extractor(stub).extract(MODELS["account"], A, B)
    assert sum(b.num_rows for b in extraction.batches) == 1
    assert len(stub.calls("POST", "/v1/batch-query/")) == 2
