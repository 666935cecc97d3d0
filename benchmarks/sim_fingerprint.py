"""Fingerprint what a seeded simulator answers: sha256 of AQuA result files, data source exports, Object Query
pages, query-action records and describe, for a small tenant, before and after control-plane changes.

    .venv/bin/python benchmarks/sim_fingerprint.py [--accounts 60] [--items 200000] > fingerprint.txt

Two runs of the same code print the same lines; a change to how the simulator stores its data (not what it
serves) must not change them either (diff two runs' outputs). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from datetime import UTC, datetime

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.zuora.catalog import MODELS, object_query_plural
from zuora_assets_tests.sim_support import Zuora

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def digest(data: bytes | str) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()[:16]


def aqua(zuora: Zuora, query: str, fmt: str = "csv", deleted: bool = True) -> str:
    spec = {"name": "q", "query": query, "type": "zoqlexport"}
    if deleted:
        spec["deleted"] = {"column": "IsDeleted", "format": "Boolean", "forceExport": True}
    job = zuora.run([spec], format=fmt)
    batch = job["batches"][0]
    if job["status"] != "completed":
        return f"{job['status']} {batch.get('message')}"
    body = zuora.download(batch["fileId"]).content
    body = gzip.decompress(body) if fmt == "gzip" else body  # the gzip header holds the time it was written
    return f"{batch['recordCount']} rows {digest(body)}"


def export(zuora: Zuora, sim: Simulator, query: str) -> str:
    created = zuora.call("POST", "/v1/object/export", json={"Query": query, "Format": "csv"}).json()
    sim.advance(5)
    found = zuora.call("GET", f"/v1/object/export/{created['Id']}").json()
    return f"{found['Status']} {digest(zuora.download(found['FileId']).content)}"


def object_query(zuora: Zuora, path: str, params: dict) -> str:
    pages, cursor = [], None
    for _ in range(50):
        resp = zuora.call("GET", f"/object-query/{path}", params={**params, **({"cursor": cursor} if cursor else {})})
        body = resp.json()
        pages.append(body.get("data", body))
        cursor = body.get("nextPage")
        if not cursor:
            break
    return f"{resp.status_code} {digest(json.dumps(pages, sort_keys=True))}"


def fingerprint(sim: Simulator, zuora: Zuora, label: str) -> list[str]:
    out = []
    for m in MODELS.values():
        out.append(f"{label} aqua {m.object}: {aqua(zuora, f'select * from {m.object}')}")
    one_account = sim.truth("account", datetime(2000, 1, 1, tzinfo=UTC), NOW).column("id")[0].as_py()
    product = sim.truth("product", datetime(2000, 1, 1, tzinfo=UTC), NOW).column("id")[0].as_py()
    for query in (f"select Id, AccountId, ProductId, ChargeName from InvoiceItem where AccountId = '{one_account}'",
                  f"select Id, ChargeName from InvoiceItem where ProductId != '{product}' order by ProductId, Id",
                  "select Id, UOM from InvoiceItem where ChargeName like 'P%' and CreatedById != 'x'",
                  "select InvoiceItem.Id, Invoice.InvoiceNumber, Account.Name, Account.Currency from InvoiceItem",
                  "select Id, TaxMode from InvoiceItem where TaxCode = 'TX-STD' order by UOM desc, Id limit 50",
                  "select AccountNumber, billtocontact.* from Account where Currency = 'USD'",
                  "select Id, SubscriptionId from RatePlanCharge where SubscriptionId is null",
                  "select Id from InvoiceItem where RatePlanChargeId != null"):
        out.append(f"{label} aqua {query[:60]}: {aqua(zuora, query, deleted=False)}")
    out.append(f"{label} aqua gzip InvoiceItem: {aqua(zuora, 'select * from InvoiceItem', fmt='gzip')}")
    out.append(f"{label} export InvoiceItem: {export(zuora, sim, 'select * from InvoiceItem')}")
    out.append(f"{label} export join: {export(zuora, sim, 'select Id, Account.Name from Invoice')}")
    for m in MODELS.values():
        if m.object != "InvoiceItem":
            out.append(f"{label} oq {m.object}: {object_query(zuora, object_query_plural(m.object), {'pageSize': 99})}")
    filters = {"filter[]": f"accountid.EQ:{one_account}", "pageSize": 99, "sort[]": "productid.DESC"}
    out.append(f"{label} oq invoice-items by account: {object_query(zuora, 'invoice-items', filters)}")
    action = zuora.call("POST", "/v1/action/query", json={"queryString": "select Id, AccountId from Invoice"}).json()
    out.append(f"{label} action Invoice: {digest(json.dumps(action.get('records'), sort_keys=True))}")
    out.append(f"{label} describe InvoiceItem: {digest(zuora.call('GET', '/v1/describe/InvoiceItem').text.replace(zuora.base, ''))}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--items", type=int, default=None, help="InvoiceItem rows (default: as generated)")
    args = parser.parse_args()
    with Simulator(SimConfig(seed=7, accounts=args.accounts, days=30, now=NOW, clock_follows_wall=False,
                             invoice_items=args.items)) as sim:
        zuora = Zuora(sim.base_url)
        lines = fingerprint(sim, zuora, "generated")
        item = sim.truth("invoice_item", datetime(2000, 1, 1, tzinfo=UTC), NOW).to_pylist()[0]
        sim.upsert("InvoiceItem", {"Id": item["id"], "ChargeName": "Changed, by the fingerprint"})
        sim.delete("InvoiceItem", sim.truth("invoice_item", datetime(2000, 1, 1, tzinfo=UTC), NOW)
                   .column("id")[1].as_py())
        sim.add_burst("InvoiceItem", 40, datetime(2024, 5, 30, tzinfo=UTC))
        sim.add_custom_field("InvoiceItem", "Late__c", "text")
        sim.advance(60)
        lines += fingerprint(sim, zuora, "changed")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
