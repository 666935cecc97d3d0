"""Export ZOQL over AQuA as Zuora documents it: joined objects, like, null tests, literal forms, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests.sim_support import NOW, Zuora, read_csv

EVER = (NOW - timedelta(days=3650), NOW + timedelta(seconds=1))


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimConfig(seed=17, accounts=30, days=10, now=NOW, clock_follows_wall=False)) as s:
        yield s


@pytest.fixture
def zuora(sim):
    sim.reset()
    return Zuora(sim.base_url)


def rows_of(zuora: Zuora, query: str) -> tuple[list[str], list[list[str]]]:
    job = zuora.run([{"query": query, "type": "zoqlexport"}])
    assert job["status"] == "completed", job
    return read_csv(zuora.download(job["batches"][0]["fileId"]).text)


def error_of(zuora: Zuora, query: str) -> str:
    answer = zuora.submit([{"query": query, "type": "zoqlexport"}])
    assert answer.get("errorCode") == "90005", answer
    return answer["message"]


def live(sim, name: str) -> dict[str, dict]:
    table = sim.truth(name, *EVER)
    return {r["id"]: r for r in table.to_pylist() if not r["_deleted"]}


def test_joined_fields_come_from_the_related_records(sim, zuora):
    header, rows = rows_of(zuora, "select Id, Account.Name, BillToContact.WorkEmail, Invoice.InvoiceNumber, "
                                  "DefaultPaymentMethod.Type from InvoiceItem")
    assert header == ["InvoiceItem.Id", "Account.Name", "BillToContact.WorkEmail", "Invoice.InvoiceNumber",
                      "DefaultPaymentMethod.Type"]
    items, accounts, contacts = live(sim, "invoice_item"), live(sim, "account"), live(sim, "contact")
    invoices, methods = live(sim, "invoice"), live(sim, "payment_method")
    checked = 0
    for rid, name, email, number, kind in rows:
        account = accounts[items[rid]["account_id"]]
        assert name == account["name"] and number == invoices[items[rid]["invoice_id"]]["invoice_number"]
        assert email == (contacts[account["bill_to_id"]]["work_email"] or "")
        method = methods.get(account["default_payment_method_id"])
        assert kind == (method["type"] if method else "")
        checked += 1
    assert checked == len(items)


def test_joined_wildcard_and_filter_on_a_joined_field(sim, zuora):
    header, rows = rows_of(zuora, "select AccountNumber, billtocontact.* from Account")
    assert header[0] == "Account.AccountNumber" and "BillToContact.WorkEmail" in header
    assert all(h.startswith("BillToContact.") for h in header[1:]) and len(header) > 10
    accounts = live(sim, "account")
    some = next(a for a in accounts.values() if a["status"] == "Active")
    _, rows = rows_of(zuora, f"select Id from InvoiceItem where Account.AccountNumber = '{some['account_number']}'")
    items = live(sim, "invoice_item")
    assert {r[0] for r in rows} == {i for i, r in items.items() if r["account_id"] == some["id"]}


def test_like_is_null_and_not_null(sim, zuora):
    accounts = live(sim, "account")
    _, rows = rows_of(zuora, "select Id from Account where Name like 'a%'")
    assert {r[0] for r in rows} == {i for i, a in accounts.items() if a["name"].lower().startswith("a")}
    _, rows = rows_of(zuora, "select Id from Account where Name like '%o_p%' and Status != 'Draft'")
    assert {r[0] for r in rows} == {i for i, a in accounts.items() if __import__("re").search(
        "o.p", a["name"], __import__("re").I) and a["status"] != "Draft"}
    _, nulls = rows_of(zuora, "select Id from Account where CrmId is null")
    _, filled = rows_of(zuora, "select Id from Account where CrmId != null")
    assert {r[0] for r in nulls} == {i for i, a in accounts.items() if a["crm_id"] is None}
    assert {r[0] for r in filled} == set(accounts) - {r[0] for r in nulls} and nulls and filled
    assert "like compares text" in error_of(zuora, "select Id from Account where Balance like '1%'")


def test_documented_literal_forms(sim, zuora):
    start = NOW - timedelta(days=2)
    day = start.strftime("%Y-%m-%d")
    _, with_seconds = rows_of(zuora, f"select Id from Invoice where UpdatedDate >= '{day}T00:00:00Z'")
    _, without = rows_of(zuora, f"select Id from Invoice where UpdatedDate >= '{day}T00:00Z'")
    _, gmt_day = rows_of(zuora, f"select Id from Invoice where UpdatedDate >= '{day}Z'")
    assert with_seconds == without == gmt_day and with_seconds
    _, quoted = rows_of(zuora, "select Id from Account where BillCycleDay >= '15'")
    _, bare = rows_of(zuora, "select Id from Account where BillCycleDay >= 15")
    assert quoted == bare


@pytest.mark.parametrize("query,words", [
    ("select Id from Account where Status in ('Active')", "'in' operator is not supported"),
    ("select Id from Account where Name = AccountNumber", "comparing two fields is not supported"),
    ("select Id, Nope.Name from Account", "There is no field named Nope.Name"),
    ("select Id from Account where UpdatedDate > '2024-13-01T00:00:00Z'", "not a valid date"),
])
def test_refusals_name_the_problem(zuora, query, words):
    assert words in error_of(zuora, query)


def test_custom_field_names_follow_zuoras_api_name_rule_everywhere(sim, zuora):
    refused = requests.post(f"{sim.base_url}/__sim/fields/Account", json={"name": "Région__c"}, timeout=10)
    assert refused.status_code == 400 and "ASCII" in refused.json()["error"]
    assert requests.post(f"{sim.base_url}/__sim/fields/Account", json={"name": "Zone_2__c"},
                         timeout=10).status_code == 200
    header, _ = rows_of(zuora, "select Id, Zone_2__c from Account")
    assert header == ["Account.Id", "Account.Zone_2__c"]
    with pytest.raises(ValueError, match="ASCII"):
        SimConfig(custom_fields={"Account": [("Région__c", "text")]})
