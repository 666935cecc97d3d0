"""Counting the records of a window in the lake (the `rows_match_zuora` check's lake side): the latest version
of each id counts, in the window it is in, however the versions are spread over partitions and transfers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
import pytest

from zuora_assets.common.failures import is_permanent
from zuora_assets.lake.counts import CountFailed, count_latest_in_window
from zuora_assets.lake.readers import latest_versions, scan
from zuora_assets.lake.storage import Storage
from zuora_assets_tests.lake_support import (  # noqa: F401 (storage_fixture is the `storage` fixture)
    FOLDER,
    MODEL,
    T0,
    batches,
    days,
    rows,
    storage_fixture,
    window_of,
    write_records,
)

DTS = days("2026-11-01", 4)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("invoice_id", pa.string()),
        ("updated_date", pa.timestamp("ms")),
        ("_deleted", pa.bool_()),
        ("_transferred_at", pa.timestamp("ms")),
    ]
)


def versions(dts: list[str], per_day: int, version: str = "v1") -> list[dict]:
    return [
        {"id": r["id"], "invoice_id": r["invoice_id"], "updated_date": r["updated_date"], "_deleted": False}
        for r in rows(dts, per_day, version)
    ]


def write(storage: Storage, records: list[dict], dts: list[str], mode: str, snapshot: datetime) -> None:
    schema = SCHEMA.remove(SCHEMA.get_field_index("_transferred_at"))  # the writer adds it
    write_records(storage, records, dts, schema=schema, mode=mode, snapshot=snapshot,
                  clock=lambda: T0 + timedelta(hours=1))


def day(dt: str, hours: float = 0) -> datetime:
    return datetime.fromisoformat(dt).replace(tzinfo=UTC) + timedelta(hours=hours)


def count(storage: Storage, start: datetime, end: datetime) -> int:
    """What the check counts: every partition from the window's first day on; in one aggregation, and in buckets
    of at most 7 versions (the path of a large window), which must agree."""
    dts = [dt for dt in DTS if dt >= start.date().isoformat()]
    whole = count_latest_in_window(storage, FOLDER, MODEL, dts, start, end)
    assert count_latest_in_window(storage, FOLDER, MODEL, dts, start, end, rows_per_bucket=7) == whole
    return whole


def reference(storage: Storage, start: datetime, end: datetime) -> int:
    """The same count by the `_current` rule in polars (the whole rows of the latest versions, in memory)."""
    dts = [dt for dt in DTS if dt >= start.date().isoformat()]
    naive = [t.astimezone(UTC).replace(tzinfo=None) for t in (start, end)]
    latest = latest_versions(scan(storage, FOLDER, MODEL, dts)).collect()
    return latest.filter(pl.col("updated_date").is_between(*naive, closed="left")).height


@pytest.fixture
def history(storage: Storage) -> Storage:
    """10 records a day over 4 days; then 3 records of day 1 updated on day 3 (they moved there), one of them
    deleted, and the 3rd record of day 2 written again, unchanged, by an append (a duplicate version)."""
    write(storage, versions(DTS, 10), DTS, "replace", T0 - timedelta(days=1))
    first, second, third = DTS[0], DTS[1], DTS[2]
    moved = [dict(r, updated_date=r["updated_date"] + timedelta(days=2)) for r in versions([first], 10, "v2")]
    moved = moved[:3]
    moved[0]["_deleted"] = True
    again = versions([second], 10)[2:3]
    write(storage, moved, [third], "append", T0 - timedelta(hours=2))
    write(storage, again, [second], "append", T0 - timedelta(hours=1))
    return storage


def test_a_record_counts_once_in_the_window_of_its_latest_version(history: Storage) -> None:
    first, second, third, fourth = DTS
    assert count(history, day(first), day(second)) == 7, "3 of day 1's records moved to day 3"
    assert count(history, day(second), day(third)) == 10, "a duplicate version of one record counts once"
    assert count(history, day(third), day(fourth)) == 13, "day 3's own 10, the 3 moved there (a tombstone too)"
    assert count(history, day(first), day(fourth, 24)) == 40, "every record once over the whole window"


def test_a_version_after_the_end_of_a_window_cut_by_the_clock_takes_the_record_out(history: Storage) -> None:
    third = DTS[2]
    # the 3 records moved to day 3 have the times of day 1's 1st..3rd records: 00:00, 02:39, 05:19
    expected = 7 + 1 + 10 + 1  # day 1 (less the 2 moved past 01:00), day 2, day 3 until 01:00
    assert count(history, day(DTS[0]), day(third, 1)) == expected
    assert count(history, day(third), day(third, 1)) == 1 + 1, "day 3's 00:00 record and the one moved there"


def test_the_count_equals_the_current_rule_on_any_window(history: Storage) -> None:
    for start, end in [(DTS[0], 6), (DTS[0], 30), (DTS[1], 47.5), (DTS[2], 12), (DTS[3], 24)]:
        assert count(history, day(start), day(start, end)) == reference(history, day(start), day(start, end))


def test_no_file_from_the_first_day_on_is_no_record(storage: Storage) -> None:
    assert count(storage, day(DTS[0]), day(DTS[3])) == 0
    write(storage, versions(DTS[:1], 5), DTS[:1], "replace", T0)
    assert count(storage, day(DTS[1]), day(DTS[3])) == 0, "the files of an earlier day are not read"
    assert count(storage, day(DTS[0]), day(DTS[1])) == 5


def test_a_failure_of_duckdb_names_the_model_the_window_and_the_spill_folder(history: Storage) -> None:
    with pytest.raises(CountFailed) as failed:
        count_latest_in_window(history, FOLDER, MODEL, DTS, day(DTS[0]), day(DTS[3]), memory_limit="1KB")
    message = str(failed.value)
    assert message.startswith(f"{MODEL}: counting the lake's records of [2026-11-01T00:00:00+00:00, ")
    assert "2026-11-01..2026-11-04" in message and "TMPDIR" in message and "memory limit 1KB" in message
    assert not is_permanent(failed.value)
