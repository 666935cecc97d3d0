"""Describe API XML: the list of objects, and each object's fields with Zuora's attributes and contexts.

Exported fields (catalog + custom) have contexts soap and export. Every object also lists two fields with
only the soap context (`IntegrationId__NS`, `SyncDate__NS`), which Export ZOQL rejects ("no field named").
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from zuora_assets.sim import pools
from zuora_assets.sim.csvfmt import label
from zuora_assets.sim.store import ModelStore
from zuora_assets.zuora.catalog import Field

SOAP_ONLY = (Field("IntegrationId__NS", "text"), Field("SyncDate__NS", "datetime"))
SYSTEM_FIELDS = {"Id", "CreatedDate", "UpdatedDate", "CreatedById", "UpdatedById"}
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _tag(name: str, value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{text}</{name}>"


def object_list(stores: list[ModelStore], base_url: str) -> str:
    """`GET /v1/describe`: every object with its name and label."""
    items = "".join(
        f'<object href="{escape(base_url)}/v1/describe/{s.model.object}">{_tag("name", s.model.object)}'
        f'{_tag("label", label(s.model.object, s.model.object).split(": ", 1)[1])}</object>'
        for s in stores
    )
    return f"{XML_HEADER}<objects>{items}</objects>"


def field_xml(obj: str, f: Field, contexts: tuple[str, ...]) -> str:
    """One `<field>` element."""
    system = f.name in SYSTEM_FIELDS
    maxlength = (32 if f.name.endswith("Id") else 255) if f.type in ("text", "picklist") else ""
    parts = [_tag("name", f.name), _tag("label", label(obj, f.name).split(": ", 1)[1]),
             _tag("selectable", True), _tag("createable", not system), _tag("updateable", not system),
             _tag("filterable", True), _tag("custom", f.custom), _tag("maxlength", maxlength),
             _tag("required", f.name == "Id"), _tag("type", f.type)]
    options = pools.lookup(pools.PICKLISTS, obj, f.name) if f.type == "picklist" else None
    if options:
        parts.append("<options>" + "".join(_tag("option", o) for o in dict.fromkeys(options)) + "</options>")
    parts.append("<contexts>" + "".join(_tag("context", c) for c in contexts) + "</contexts>")
    return "<field>" + "".join(parts) + "</field>"


def describe_object(store: ModelStore, base_url: str, relationships: bool) -> str:
    """`GET /v1/describe/{Object}`: exported fields, soap-only fields, and optionally related objects."""
    obj = store.model.object
    fields = [field_xml(obj, f, ("soap", "export")) for f in store.fields]
    fields += [field_xml(obj, f, ("soap",)) for f in SOAP_ONLY]
    head = f'<object href="{escape(base_url)}/v1/describe/{obj}">{_tag("name", obj)}{_tag("label", obj)}'
    body = f"{head}<fields>{''.join(fields)}</fields>"
    if relationships:
        body += _related(store, base_url)
    return f"{XML_HEADER}{body}</object>"


def _related(store: ModelStore, base_url: str) -> str:
    obj = store.model.object
    items = "".join(
        f'<object href="{escape(base_url)}/v1/describe/{target}">{_tag("name", fk[:-2])}{_tag("label", fk[:-2])}'
        f'{_tag("cardinality", "TO_ONE")}{_tag("direct-relationship", True)}{_tag("path", f"{obj}.{fk[:-2]}")}'
        f"</object>"
        for fk, target in store.model.foreign_keys.items()
    )
    return f"<related-objects>{items}</related-objects>"


def not_found(obj: str) -> str:
    """The 404 body for an unknown object."""
    return (f"{XML_HEADER}<error><code>INVALID_VALUE</code><message>{escape(obj)} is not a valid object name; "
            f"GET /v1/describe lists the objects of this tenant.</message></error>")
