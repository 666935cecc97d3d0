"""Describe parsing: export context, custom fields, required fields."""

from __future__ import annotations

import pytest

from zuora_assets.zuora.catalog import model
from zuora_assets.zuora.describe import merge_fields, parse_describe
from zuora_assets.zuora.errors import ZuoraConfigError, ZuoraDataError


def _field(name: str, ztype: str, contexts=("soap", "export"), custom=False, selectable="true") -> str:
    ctx = "".join(f"<context>{c}</context>" for c in contexts)
    return (
        f"<field><name>{name}</name><label>{name}</label><selectable>{selectable}</selectable>"
        f"<custom>{str(custom).lower()}</custom><type>{ztype}</type><contexts>{ctx}</contexts></field>"
    )


def _doc(*fields: str) -> str:
    return (
        f'<object href="x"><name>Contact</name><label>Contact</label><fields>{"".join(fields)}</fields>'
        "<related-objects><object><name>Account</name></object></related-objects></object>"
    )


CONTACT = model("contact")


def test_keeps_catalog_fields_with_export_and_adds_custom_fields():
    fields = [_field(f.name, f.type) for f in CONTACT.fields if f.name != "City"]
    xml = _doc(
        *fields,
        _field("City", "text", contexts=("soap",)),
        _field("Region__c", "picklist", custom=True),
        _field("Secret__c", "text", contexts=("soap",), custom=True),
        _field("SoapOnly", "text", contexts=("soap",)),
        _field("UndeclaredStandard", "text"),
    )
    found = merge_fields(CONTACT, parse_describe(xml, "Contact"))
    names = [f.name for f in found.fields]
    assert "City" not in names and "export" in found.dropped["City"]
    assert names[-1] == "Region__c" and found.fields[-1].custom and found.fields[-1].type == "picklist"
    assert "Secret__c" not in names and "SoapOnly" not in names and "UndeclaredStandard" not in names
    assert names[:3] == ["Id", "CreatedDate", "UpdatedDate"]


def test_field_missing_from_describe_is_dropped_with_reason():
    xml = _doc(*[_field(f.name, f.type) for f in CONTACT.fields if f.name != "WorkPhone"])
    found = merge_fields(CONTACT, parse_describe(xml, "Contact"))
    assert "WorkPhone" in found.dropped and "not list" in found.dropped["WorkPhone"]


def test_no_contexts_means_exportable_and_unselectable_is_not():
    xml = _doc(
        "<field><name>Id</name><type>text</type></field>",
        _field("UpdatedDate", "datetime", selectable="false"),
    )
    described = {d.name: d for d in parse_describe(xml, "Contact")}
    assert described["Id"].exportable and not described["UpdatedDate"].exportable


def test_missing_id_or_cursor_stops_the_model():
    xml = _doc(*[_field(f.name, f.type) for f in CONTACT.fields if f.name != "UpdatedDate"])
    with pytest.raises(ZuoraConfigError, match="model contact.*UpdatedDate"):
        merge_fields(CONTACT, parse_describe(xml, "Contact"))


def test_bad_xml_is_a_clear_error():
    with pytest.raises(ZuoraDataError, match="describe of Zuora object Contact is not valid XML"):
        parse_describe("<html>oops", "Contact")
