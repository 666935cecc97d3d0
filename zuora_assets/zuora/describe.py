"""Run-time schema discovery: which fields of a model this tenant can export, from `GET /v1/describe`.

The catalog declares each model's fields; describe adds the tenant's custom fields (`__c`) and drops
declared fields that lack the `export` context (selecting them fails Export ZOQL). Results are cached
per client, i.e. per run. Fields that a query later rejects ("There is no field named X", 90005) are
remembered per client too, so the rest of the run does not select them again.
"""

from __future__ import annotations

import logging
import threading
import weakref
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from zuora_assets.zuora.catalog import Field, ZuoraModel
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.errors import ZuoraConfigError, ZuoraDataError, ZuoraRequestError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DescribedField:
    """One `<field>` of a describe response."""

    name: str
    type: str
    custom: bool
    exportable: bool


@dataclass
class Discovery:
    """The fields of a model this run exports, and the declared fields it cannot (name -> reason)."""

    fields: tuple[Field, ...]
    dropped: dict[str, str] = field(default_factory=dict)


def _text(el: ET.Element, tag: str) -> str:
    return (el.findtext(tag) or "").strip()


def parse_describe(xml_text: str, object_name: str) -> list[DescribedField]:
    """The fields in a `GET /v1/describe/{Object}` XML document."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ZuoraDataError(
            f"describe of Zuora object {object_name} is not valid XML ({exc}): check the base URL and "
            "that the tenant's API is reachable"
        ) from None
    described = []
    for el in root.iter("field"):
        name = _text(el, "name")
        if not name:
            continue
        contexts = [c.text.strip().lower() for c in el.iter("context") if c.text]
        selectable = _text(el, "selectable").lower() != "false"
        described.append(
            DescribedField(
                name=name,
                type=_text(el, "type") or "text",
                custom=_text(el, "custom").lower() == "true" or name.endswith("__c"),
                # Describe before WSDL 85 has no contexts: every selectable field was exportable then.
                exportable=selectable and (not contexts or "export" in contexts),
            )
        )
    return described


def merge_fields(model: ZuoraModel, described: list[DescribedField]) -> Discovery:
    """The catalog fields this tenant exports, plus its exportable custom fields (in describe order)."""
    by_name = {d.name.lower(): d for d in described}
    kept: list[Field] = []
    dropped: dict[str, str] = {}
    for f in model.fields:
        d = by_name.get(f.name.lower())
        if d is None:
            dropped[f.name] = "describe does not list it (feature not enabled on this tenant?)"
        elif not d.exportable:
            dropped[f.name] = "describe lists it without the 'export' context"
        else:
            kept.append(f)
    declared = {f.name.lower() for f in model.fields}
    kept += [Field(d.name, d.type.lower(), custom=True) for d in described
             if d.custom and d.exportable and d.name.lower() not in declared]
    for required in (model.primary_key, model.cursor):
        if required in dropped:
            raise ZuoraConfigError(
                f"model {model.name}: Zuora object {model.object} cannot export {required} "
                f"({dropped[required]}); without it the model cannot be extracted: remove the model from "
                "the selection or ask Zuora support to enable exports of this object"
            )
    return Discovery(tuple(kept), dropped)


class _RunCache:
    """Per-client memory: describe results and fields rejected by queries."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.discoveries: dict[str, Discovery] = {}
        self.rejected: dict[str, dict[str, str]] = {}


_CACHES: weakref.WeakKeyDictionary[ZuoraClient, _RunCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache(client: ZuoraClient) -> _RunCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(client)
        if cache is None:
            cache = _CACHES[client] = _RunCache()
        return cache


def _describe(client: ZuoraClient, model: ZuoraModel) -> Discovery:
    try:
        resp = client.get(f"/v1/describe/{model.object}")
    except ZuoraRequestError as exc:
        if exc.status == 404:
            raise ZuoraConfigError(
                f"model {model.name}: Zuora object {model.object} is not available on this tenant "
                "(describe answered 404): enable its feature in Zuora or remove the model from the selection"
            ) from None
        raise
    return merge_fields(model, parse_describe(resp.text, model.object))


def discovery(client: ZuoraClient, model: ZuoraModel) -> Discovery:
    """What this run exports of `model`: described fields minus fields rejected earlier in the run."""
    cache = _cache(client)
    with cache.lock:
        found = cache.discoveries.get(model.name)
    if found is None:
        found = _describe(client, model)
        for name, reason in found.dropped.items():
            log.warning("model %s: field %s is not exported: %s", model.name, name, reason)
        with cache.lock:
            found = cache.discoveries.setdefault(model.name, found)
    with cache.lock:
        rejected = dict(cache.rejected.get(model.name, {}))
    fields = tuple(f for f in found.fields if f.name not in rejected)
    return Discovery(fields, {**found.dropped, **rejected})


def discover_fields(client: ZuoraClient, model: ZuoraModel) -> tuple[Field, ...]:
    """The fields of `model` this run exports (cached per client)."""
    return discovery(client, model).fields


def reject_field(client: ZuoraClient, model: ZuoraModel, field_name: str, reason: str) -> None:
    """Remember for the rest of the run that `field_name` of `model` cannot be queried."""
    cache = _cache(client)
    with cache.lock:
        cache.rejected.setdefault(model.name, {})[field_name] = reason
