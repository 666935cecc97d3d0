"""The simulator's HTTP surface: OAuth, bearer checks, common headers, describe XML, entities, control, CLI."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import requests

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.zuora.catalog import MODELS
from zuora_assets_tests.sim_support import NOW, Zuora

ENTITIES = ("11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000")


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimConfig(seed=9, accounts=8, days=4, now=NOW, clock_follows_wall=False,
                             custom_fields={"Account": [("Region__c", "text")], "Invoice": [("Po__c", "integer")]})) as s:
        yield s


def test_token_flow(sim):
    client = Zuora(sim.base_url)
    resp = client.token()
    body = resp.json()
    assert resp.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 3599
    assert len(body["access_token"]) == 32 and body["jti"] and "tenant." in body["scope"]
    assert client.call("GET", "/v1/describe").status_code == 200


@pytest.mark.parametrize("form,status", [
    ({"client_id": "sim-client-id", "client_secret": "wrong", "grant_type": "client_credentials"}, 401),
    ({"client_id": "nobody", "client_secret": "sim-client-secret", "grant_type": "client_credentials"}, 401),
    ({"client_id": "sim-client-id", "client_secret": "sim-client-secret", "grant_type": "password"}, 400),
])
def test_bad_token_requests(sim, form, status):
    resp = requests.post(f"{sim.base_url}/oauth/token", data=form, timeout=10)
    assert resp.status_code == status
    assert resp.json()["success"] is False and resp.json()["reasons"][0]["message"]


@pytest.mark.parametrize("auth", [None, "Bearer not-a-token", "Basic abc"])
def test_calls_without_a_valid_bearer_get_401(sim, auth):
    headers = {"Authorization": auth} if auth else {}
    resp = requests.get(f"{sim.base_url}/v1/describe", headers=headers, timeout=10)
    assert resp.status_code == 401 and resp.json()["reasons"][0]["code"] == 90000011


def test_tokens_expire_after_token_expires_in():
    with Simulator(SimConfig(seed=1, accounts=2, days=2, now=NOW, token_expires_in=0)) as short:
        client = Zuora(short.base_url)
        assert client.token().json()["expires_in"] == 0
        assert client.call("GET", "/v1/describe").status_code == 401


def test_common_response_headers(sim):
    client = Zuora(sim.base_url, headers={"Zuora-Track-Id": "track-42"})
    resp = client.call("GET", "/v1/describe/Account")
    assert resp.headers["Zuora-Track-Id"] == "track-42"
    assert len(resp.headers["Zuora-Request-Id"]) == 36
    assert int(resp.headers["RateLimit-Remaining"]) > 0 and "RateLimit-Reset" in resp.headers
    assert resp.headers["RateLimit-Limit"].endswith(";w=60")
    assert resp.headers["Concurrency-Limit-Type"] == "Default"
    entry = [e for e in sim.requests() if e["path"] == "/v1/describe/Account"][-1]
    assert entry["track_id"] == "track-42" and entry["status"] == 200
    assert entry["headers"]["authorization"] == "Bearer ***"


def test_describe_object_list(sim):
    root = ET.fromstring(Zuora(sim.base_url).call("GET", "/v1/describe").text)
    names = {o.findtext("name") for o in root.findall("object")}
    assert names == {m.object for m in MODELS.values()}


def test_describe_object_fields_and_contexts(sim):
    resp = Zuora(sim.base_url).call("GET", "/v1/describe/invoice")
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"  # as GET_Describe documents it
    root = ET.fromstring(resp.text)
    assert root.findtext("name") == "Invoice"
    fields = {f.findtext("name"): f for f in root.find("fields")}
    contexts = {name: [c.text for c in f.find("contexts")] for name, f in fields.items()}
    assert contexts["Amount"] == ["soap", "export"] and fields["Amount"].findtext("type") == "decimal"
    assert fields["Po__c"].findtext("custom") == "true" and fields["Po__c"].findtext("type") == "integer"
    assert [n for n, c in contexts.items() if c == ["soap"]] == ["Body"]  # the catalog's soap-only field
    assert {f.name for f in sim.fields("invoice")} == {n for n, c in contexts.items() if "export" in c}
    assert [o.text for o in fields["Status"].find("options")] == ["Draft", "Posted", "Canceled", "Error"]
    assert fields["InvoiceDate"].findtext("required") == "true" and fields["Comments"].findtext("required") == "false"
    assert fields["Comments"].findtext("filterable") == "false" and fields["Status"].findtext("filterable") == "true"
    assert fields["Amount"].findtext("createable") == "false" and fields["AccountId"].findtext("createable") == "true"


def test_describe_lists_related_objects_with_zuoras_join_names_without_asking(sim):
    """A plain describe carries <related-objects> (as tap-zuora's discovery reads it), named like Zuora's joins."""
    client = Zuora(sim.base_url)
    plain = client.call("GET", "/v1/describe/InvoiceItem").text
    assert plain == client.call("GET", "/v1/describe/InvoiceItem?showRelationships=true").text
    related = {o.findtext("name"): o for o in ET.fromstring(plain).find("related-objects")}
    assert {"Account", "Invoice", "BillToContact", "SoldToContact", "DefaultPaymentMethod"} <= set(related)
    bill_to = related["BillToContact"]
    assert bill_to.get("href").endswith("/v1/describe/Contact")
    assert (bill_to.findtext("cardinality"), bill_to.findtext("direct-relationship"), bill_to.findtext("path")) == (
        "TO_ONE", "false", "InvoiceItem.Account.BillToContact")
    assert related["Invoice"].findtext("direct-relationship") == "true"
    account = {o.findtext("name") for o in ET.fromstring(client.call("GET", "/v1/describe/Account").text)
               .find("related-objects")}
    assert {"BillToContact", "SoldToContact", "DefaultPaymentMethod"} <= account and "BillTo" not in account


def test_describe_unknown_object_is_404_xml(sim):
    resp = Zuora(sim.base_url).call("GET", "/v1/describe/Nope")
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("text/xml")
    assert ET.fromstring(resp.text).findtext("message").startswith("Nope is not a valid object")


def test_unknown_route_and_method(sim):
    client = Zuora(sim.base_url)
    assert client.call("GET", "/v1/nothing").status_code == 404
    assert client.call("PUT", "/v1/batch-query/").status_code == 405


def test_control_plane_clock_and_errors(sim):
    base = f"{sim.base_url}/__sim"
    assert requests.get(f"{base}/clock", timeout=10).json()["now"] == "2024-06-01T12:00:00Z"
    assert requests.post(f"{base}/clock", json={"advance_s": 90}, timeout=10).json()["now"] == "2024-06-01T12:01:30Z"
    assert requests.post(f"{base}/clock", json={"now": "2024-06-01T12:00:00Z"}, timeout=10).status_code == 200
    bad = requests.post(f"{base}/records/Account", json={"NoSuchField": 1}, timeout=10)
    assert bad.status_code == 400 and "NoSuchField" in bad.json()["error"]
    missing = requests.delete(f"{base}/records/Account/0000", timeout=10)
    assert missing.status_code == 400 and "0000" in missing.json()["error"]
    assert requests.post(f"{base}/visibility_lag", json={"seconds": -1}, timeout=10).status_code == 400


def test_visibility_lag_hides_fresh_changes(sim):
    requests.post(f"{sim.base_url}/__sim/visibility_lag", json={"seconds": 300}, timeout=10).raise_for_status()
    try:
        record = sim.upsert("Contact", {"FirstName": "Late"})
        window = (sim.clock() - timedelta(seconds=1), sim.clock() + timedelta(hours=1))
        assert sim.truth("contact", *window).num_rows == 0
        sim.advance(300)
        assert sim.truth("contact", *window)["id"].to_pylist() == [record["Id"]]
    finally:
        sim.set_visibility_lag(0)


def test_multi_entity_tenants_are_disjoint_and_need_the_header():
    with Simulator(SimConfig(seed=4, accounts=3, days=2, now=NOW, clock_follows_wall=False,
                             entities=ENTITIES)) as sim:
        client = Zuora(sim.base_url)
        resp = client.call("GET", "/v1/describe")
        assert resp.status_code == 400 and ENTITIES[0] in resp.json()["reasons"][0]["message"]
        ids = []
        for entity in ENTITIES:
            page = client.call("GET", "/object-query/accounts?pageSize=99", headers={"Zuora-Entity-Ids": entity})
            assert page.status_code == 200
            ids.append({a["id"] for a in page.json()["data"]})
            window = (NOW - timedelta(days=30), NOW)
            assert ids[-1] == set(sim.truth("account", *window, entity=entity)["id"].to_pylist())
        assert len(ids[0]) == 3 and not ids[0] & ids[1]
        unknown = client.call("GET", "/v1/describe", headers={"Zuora-Entity-Ids": "nope"})
        assert unknown.status_code == 400


def test_cli_serves_a_tenant():
    proc = subprocess.Popen([sys.executable, "-m", "zuora_assets.sim", "--port", "0", "--seed", "3",
                             "--accounts", "3", "--days", "2"], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        creds = dict(kv.split("=") for kv in proc.stdout.readline().split())
        client = Zuora(url, creds["client_id"], creds["client_secret"])
        assert client.token().status_code == 200
        assert client.call("GET", "/object-query/accounts?pageSize=5").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
