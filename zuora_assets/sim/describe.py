"""Describe API XML: the list of objects, and each object's fields and related objects as Zuora returns them.

Zuora documents `GET /v1/describe/{object}` with no relationship parameter and an XML answer
(`text/xml; charset=utf-8`, developer.zuora.com/v1-api-reference/api/operation/GET_Describe/); real tenants
include `<related-objects>` in that plain answer, which is where published clients read joins from
(singer-io/tap-zuora tap_zuora/discover.py and its test fixture; molnarjani/zuora-aqua-client-cli). So
`<related-objects>` is always there, and `showRelationships=true` (an older, undocumented spelling)
changes nothing. Related objects carry Zuora's join names (`BillToContact`, `DefaultPaymentMethod`, ...).

Fields: exported fields (catalog + custom) have the contexts soap and export; the catalog's soap-only
fields (e.g. RatePlanCharge.RolloverBalance, "Changes to the Describe API") only soap, and Export ZOQL
refuses them ("There is no field named X"). `required`, `filterable`, `createable`/`updateable` come from
the catalog's flags; picklists list their `<options>`.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from zuora_assets.sim import pools
from zuora_assets.sim.csvfmt import label
from zuora_assets.sim.store import ModelStore
from zuora_assets.zuora.catalog import SYSTEM_FIELDS, Field, ZuoraModel, model

XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "text/xml; charset=utf-8"


def _tag(name: str, value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{text}</{name}>" if text else f"<{name}/>"


def object_list(stores: list[ModelStore], base_url: str) -> str:
    """`GET /v1/describe`: every object with its name and label."""
    items = "".join(
        f'<object href="{escape(base_url)}/v1/describe/{s.model.object}">{_tag("name", s.model.object)}'
        f'{_tag("label", _label(s.model.object))}</object>'
        for s in stores
    )
    return f"{XML_HEADER}<objects>{items}</objects>"


def _label(name: str) -> str:
    return label("x", name).split(": ", 1)[1]


def field_xml(m: ZuoraModel, f: Field, contexts: tuple[str, ...]) -> str:
    """One `<field>` element."""
    editable = not f.readonly and f.name not in SYSTEM_FIELDS
    maxlength = (32 if f.name.endswith("Id") else 255) if f.type in ("text", "picklist") else ""
    parts = [_tag("name", f.name), _tag("label", _label(f.name)), _tag("selectable", True),
             _tag("createable", editable), _tag("updateable", editable), _tag("filterable", f.filterable),
             _tag("custom", f.custom), _tag("maxlength", maxlength), _tag("required", f.required),
             _tag("type", f.type)]
    if f.type == "picklist":
        options = m.options.get(f.name) or pools.lookup(pools.PICKLISTS, m.object, f.name) or ()
        parts.append("<options>" + "".join(_tag("option", o) for o in dict.fromkeys(options)) + "</options>")
    parts.append("<contexts>" + "".join(_tag("context", c) for c in contexts) + "</contexts>")
    return "<field>" + "".join(parts) + "</field>"


def describe_object(store: ModelStore, base_url: str) -> str:
    """`GET /v1/describe/{Object}`: exported fields, soap-only fields, and the related (joinable) objects."""
    m = store.model
    fields = [field_xml(m, f, ("soap", "export")) for f in store.fields]
    fields += [field_xml(m, f, ("soap",)) for f in m.soap_fields]
    head = f'<object href="{escape(base_url)}/v1/describe/{m.object}">{_tag("name", m.object)}{_tag("label", _label(m.object))}'
    return f"{XML_HEADER}{head}<fields>{''.join(fields)}</fields>{_related(m, base_url)}</object>"


def _related(m: ZuoraModel, base_url: str) -> str:
    items = []
    for name, chain in m.joins.items():
        path, current = [m.object], m
        for hop in chain[:-1]:
            current = model(current.foreign_keys[hop])
            path.append(current.object)
        target = model(current.foreign_keys[chain[-1]]).object
        items.append(
            f'<object href="{escape(base_url)}/v1/describe/{target}">{_tag("name", name)}{_tag("label", _label(name))}'
            f'{_tag("cardinality", "TO_ONE")}{_tag("direct-relationship", len(chain) == 1)}'
            f'{_tag("path", ".".join([*path, name]))}</object>'
        )
    return f"<related-objects>{''.join(items)}</related-objects>"


def not_found(obj: str) -> str:
    """The 404 body for an unknown object."""
    return (f"{XML_HEADER}<error><code>INVALID_VALUE</code><message>{escape(obj)} is not a valid object name; "
            f"GET /v1/describe lists the objects of this tenant.</message></error>")
