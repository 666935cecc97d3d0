"""ZOQL rendering: literal forms, half-open windows, Id pages, job requests, environments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from zuora_assets.zuora.catalog import MODELS, model
from zuora_assets.zuora.environments import ENVIRONMENTS, resolve_base_url
from zuora_assets.zuora.errors import ZuoraConfigError
from zuora_assets.zuora.zoql import ExportQuery, Window, datetime_literal, job_request, select

A = datetime(2026, 11, 1, tzinfo=UTC)
B = datetime(2026, 11, 2, tzinfo=UTC)


def test_literal_is_iso_with_z_never_space_separated():
    assert datetime_literal(datetime(2026, 8, 1, 7, 5, 9, tzinfo=UTC)) == "'2026-08-01T07:05:09Z'"
    plus10 = timezone(timedelta(hours=10))
    assert datetime_literal(datetime(2026, 8, 1, 10, 0, tzinfo=plus10)) == "'2026-08-01T00:00:00Z'"


def test_literal_refuses_naive_and_fractional_datetimes():
    with pytest.raises(ValueError, match="no time zone"):
        datetime_literal(datetime(2026, 8, 1))
    with pytest.raises(ValueError, match="whole seconds"):
        datetime_literal(datetime(2026, 8, 1, 0, 0, 0, 500, tzinfo=UTC))


def test_window_rounds_up_to_whole_seconds_and_keeps_it_half_open():
    w = Window.of(datetime(2026, 8, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(2026, 8, 1, 0, 0, 5, tzinfo=UTC))
    assert (w.start.second, w.end.second, w.seconds) == (1, 5, 4)
    left, right = w.halves()
    assert (left.start, left.end, right.end) == (w.start, right.start, w.end)
    assert left.seconds + right.seconds == 4
    with pytest.raises(ValueError, match="before its start"):
        Window.of(B, A)


def test_select_window_query():
    invoice = model("invoice")
    q = select(invoice, ["Id", "UpdatedDate", "Amount"], Window.of(A, B))
    assert q == (
        "select Id, UpdatedDate, Amount from Invoice where UpdatedDate >= '2026-11-01T00:00:00Z' "
        "and UpdatedDate < '2026-11-02T00:00:00Z' order by UpdatedDate"
    )
    assert " 00:00:00'" not in q


def test_select_id_page_orders_by_id_and_limits():
    q = select(
        model("invoice_item"), ["Id"], Window.of(A, A + timedelta(seconds=1)), after_id="abc123", limit=1000
    )
    assert q.endswith("and Id > 'abc123' order by Id limit 1000")
    with pytest.raises(ValueError, match="cannot be used"):
        select(model("invoice_item"), ["Id"], Window.of(A, B), after_id="x' or '1'='1", limit=10)


def test_job_request_is_stateless_with_labels_utc_and_forced_deletes():
    account = MODELS["account"]
    q = ExportQuery("account", account, ("Id",), "select Id from Account", deleted=True)
    plain = ExportQuery(
        "journal_entry", MODELS["journal_entry"], ("Id",), "select Id from JournalEntry", False
    )
    body = job_request("zuora-athena-1", [q, plain])
    assert body["useQueryLabels"] is True and body["dateTimeUtc"] is True
    assert body["format"] == "csv" and "partner" not in body and "project" not in body
    assert body["queries"][0]["deleted"] == {"column": "IsDeleted", "format": "Boolean", "forceExport": True}
    assert body["queries"][0]["type"] == "zoqlexport"
    assert "deleted" not in body["queries"][1]
    with pytest.raises(ValueError, match="1 to 50"):
        job_request("x", [q] * 51)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("us-production", "https://rest.na.zuora.com"),
        ("us-cloud2-production", "https://rest.zuora.com"),
        ("us-sandbox", "https://rest.sandbox.na.zuora.com"),
        ("us-cloud2-sandbox", "https://rest.apisandbox.zuora.com"),
        ("us-developer-sandbox", "https://rest.test.zuora.com"),
        ("eu-production", "https://rest.eu.zuora.com"),
        ("eu-sandbox", "https://rest.sandbox.eu.zuora.com"),
        ("eu-developer-sandbox", "https://rest.test.eu.zuora.com"),
        ("apac-production", "https://rest.ap.zuora.com"),
        ("apac-developer-sandbox", "https://rest.test.ap.zuora.com"),
    ],
)
def test_named_environments(name, url):
    assert resolve_base_url(name, None) == url


def test_unknown_environment_lists_valid_names():
    with pytest.raises(ZuoraConfigError) as err:
        resolve_base_url("mars-production", None)
    assert "mars-production" in str(err.value)
    assert all(name in str(err.value) for name in ENVIRONMENTS)


def test_base_url_must_be_https_except_loopback():
    assert resolve_base_url(None, "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert resolve_base_url(None, "http://localhost:1") == "http://localhost:1"
    assert resolve_base_url(None, "https://zuora.example.com") == "https://zuora.example.com"
    with pytest.raises(ZuoraConfigError, match="plain http"):
        resolve_base_url(None, "http://rest.zuora.com")
    with pytest.raises(ZuoraConfigError, match="exactly one"):
        resolve_base_url("us-production", "https://rest.zuora.com")
    with pytest.raises(ZuoraConfigError, match="exactly one"):
        resolve_base_url(None, None)
