"""The silent-field re-read through the real assets and schedule, against the simulator over HTTP, in the local
lake and in S3 on moto: Zuora changes balances without touching UpdatedDate, an incremental sync cannot see it,
the scheduled re-read brings the new balances to `<model>_current` and counts the rows changed only that way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest
import requests

from zuora_assets.definitions import build_definitions
from zuora_assets.defs.assets import MODE_TAG, REREAD_TAG
from zuora_assets.defs.reread import reread_window
from zuora_assets_tests.current_support import current_rows, destination_of
from zuora_assets_tests.pipeline import materialize
from zuora_assets_tests.time_support import SimTime

BUCKET = "reread-lake"
SCHEMA = "reread"


@pytest.fixture(params=["local", "s3"])
def destination(request, local_lake, monkeypatch):
    yield from destination_of(request, monkeypatch, BUCKET, SCHEMA)


def balances(destination: str) -> dict[str, tuple]:
    rows = current_rows(destination, "account", ["id", "balance", "total_invoice_balance", "name"], SCHEMA)
    return {r[0]: r[1:] for r in rows}


def test_silently_changed_balances_reach_current_after_the_scheduled_reread_and_are_counted(
    destination, serve, monkeypatch
):
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=3)
    first_day = start.date() - timedelta(days=6)
    monkeypatch.setenv("ZUORA_START_DATE", first_day.isoformat())
    sim = serve(seed=31, accounts=10, days=5, now=start, clock_follows_wall=False)
    clock = SimTime(sim)
    days = [(start.date() - timedelta(days=k)).isoformat() for k in range(6, -1, -1)]
    assert materialize(["zuora/account", "athena/account"], days, clock=clock).success
    before = balances(destination)
    a, b, c = sorted(before)[:3]

    sim.set_clock(start + timedelta(hours=1))
    url = f"{sim.base_url}/__sim/silent/Account"
    requests.post(f"{url}/{a}", json={"Balance": "1234.5"}, timeout=10).raise_for_status()
    requests.post(f"{url}/{b}", json={"Balance": "0", "TotalInvoiceBalance": "77.25"}, timeout=10).raise_for_status()
    refused = requests.post(f"{url}/{a}", json={"Name": "Not Silent"}, timeout=10)
    assert refused.status_code == 400 and "only fields Zuora changes without UpdatedDate" in refused.json()["error"]
    sim.upsert("Account", {"Id": c, "Name": "Renamed"})  # an ordinary change: UpdatedDate moves

    # An incremental (append) sync of today sees the rename, not the silent balances.
    sim.set_clock(start + timedelta(hours=2))
    monkeypatch.setenv("ZUORA_LAG_SECONDS", "0")
    today = sim.clock().date().isoformat()
    assert materialize(["zuora/account"], [today], tags={MODE_TAG: "append"}, clock=clock).success
    after_append = balances(destination)
    assert after_append[c][2] == "Renamed"
    assert after_append[a] == before[a] and after_append[b] == before[b], "the incremental sync cannot see them"

    # The schedule's request: a full replace of account (models.toml: no reread_days), counted.
    defs = build_definitions(clock=clock)
    schedule = defs.resolve_schedule_def("silent_field_reread")
    with dg.build_schedule_context(scheduled_execution_time=sim.clock()) as context:
        [request] = [r for r in schedule.evaluate_tick(context).run_requests if r.tags["zuora/model"] == "account"]
    assert request.tags[REREAD_TAG] == "true" and request.tags[MODE_TAG] == "replace"
    window = [request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]]
    assert window == [first_day.isoformat(), today]
    partitions = [(date.fromisoformat(window[0]) + timedelta(days=k)).isoformat()
                  for k in range((date.fromisoformat(window[1]) - date.fromisoformat(window[0])).days + 1)]
    result = materialize([k.to_user_string() for k in request.asset_selection], partitions, tags=request.tags,
                         clock=clock)
    assert result.success

    after = balances(destination)
    assert after[a][0] == Decimal("1234.5") and after[b][:2] == (Decimal("0"), Decimal("77.25"))
    assert {k: v for k, v in after.items() if k not in (a, b)} == {k: v for k, v in after_append.items() if k not in (a, b)}
    found = [e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
             if e.asset_key == dg.AssetKey(["zuora", "account"])]
    assert len(found) == len(partitions)
    metadata = {k: v.value for k, v in found[0].items()}
    assert metadata["rows_changed_only_in_silent_fields"] == 2, "a and b: only their balances moved"
    assert metadata["rows_changed_in_other_fields"] == 0, "the rename is already in the lake"
    assert metadata["reread_rows"] == len(before) and metadata["rows_unchanged"] == len(before) - 2


def test_the_reread_window_is_the_last_days_or_every_partition():
    today, first = date(2026, 5, 10), date(2026, 1, 1)
    assert reread_window(today, first, 120) == ("2026-01-11", "2026-05-10")
    assert reread_window(today, first, 1) == ("2026-05-10", "2026-05-10")
    assert reread_window(today, first, None) == ("2026-01-01", "2026-05-10")
    assert reread_window(today, date(2026, 5, 1), 120) == ("2026-05-01", "2026-05-10")
