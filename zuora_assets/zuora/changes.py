"""A cheap probe for changes: the newest `UpdatedDate` of a model since a cursor, via Object Query.

One `GET /object-query/<plural>?filter[]=updateddate.GT:<cursor>&sort[]=updateddate.DESC&pageSize=1`
per model: synchronous and small, so a sensor tick stays within its time limit (an AQuA job may take
minutes). Object Query returns no deleted records, so a delete alone is seen by the next sync of that
model (any append covers it) or by the nightly consolidation. Models that Object Query does not serve
are probed through the model whose records change with theirs (an invoice payment changes its
payment; an adjustment changes its invoice); a model with neither waits for the nightly consolidation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from zuora_assets.zuora.catalog import ZuoraModel, object_query_plural
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.zoql import to_utc

# Zuora objects without an Object Query endpoint, and the object whose changes stand in for theirs.
PROXIES: dict[str, str | None] = {
    "InvoicePayment": "Payment",
    "InvoiceItemAdjustment": "Invoice",
    "JournalEntry": None,
}


def probe_object(model: ZuoraModel) -> str | None:
    """The Zuora object whose changes show that `model` changed (None: no cheap probe exists)."""
    return PROXIES.get(model.object, model.object)


def latest_change(client: ZuoraClient, obj: str, since: datetime) -> datetime | None:
    """The newest `UpdatedDate` of `obj` after `since` (UTC), or None when nothing changed."""
    params = {
        "filter[]": f"updateddate.GT:{to_utc(since, 'since'):%Y-%m-%dT%H:%M:%SZ}",
        "sort[]": "updateddate.DESC",
        "pageSize": "1",
    }
    data = client.get(f"/object-query/{object_query_plural(obj)}", params=params).json().get("data") or []
    if not data:
        return None
    return datetime.fromisoformat(str(data[0]["updatedDate"]).replace("Z", "+00:00")).astimezone(UTC)
