"""The reconciliation's comparison: live keys of the lake's latest versions that a full key list lacks, read from
many files on both sides, under a small DuckDB memory limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from zuora_assets.athena.reconcile import gone_keys

SNAPSHOT = datetime(2026, 3, 1, 12, tzinfo=UTC)
T0 = datetime(2026, 1, 1)  # naive UTC, as stored in the lake


def versions_table(rows: list[tuple[str, datetime, bool, datetime]]) -> pa.Table:
    ids, updated, deleted, transferred = zip(*rows, strict=True)
    return pa.table({
        "id": pa.array(ids, pa.string()),
        "name": pa.array([f"n{i}" for i in ids], pa.string()),
        "updated_date": pa.array(updated, pa.timestamp("ms")),
        "_deleted": pa.array(deleted, pa.bool_()),
        "_transferred_at": pa.array(transferred, pa.timestamp("ms")),
    })


def write_chunks(table: pa.Table, folder, n: int) -> list[str]:
    folder.mkdir()
    size = -(-table.num_rows // n)
    paths = []
    for i in range(n):
        path = folder / f"{i}.parquet"
        pq.write_table(table.slice(i * size, size), path)
        paths.append(str(path))
    return paths


def keys(batches) -> list[str]:
    return sorted(k for b in batches for k in b.column(0).to_pylist())


def test_only_live_keys_missing_from_every_present_file_and_older_than_the_snapshot_are_gone(tmp_path):
    n = 20_000
    rows = [(f"A{i:06d}", T0 + timedelta(minutes=i), False, T0) for i in range(n)]
    # a second, newer version of some keys (the latest decides), in other files
    rows += [(f"A{i:06d}", T0 + timedelta(days=30, minutes=i), False, T0 + timedelta(days=30)) for i in range(0, n, 7)]
    rows += [("DELETED1", T0, False, T0), ("DELETED1", T0 + timedelta(days=1), True, T0)]  # already a tombstone
    rows += [("NEWER1", T0, False, T0), ("NEWER1", SNAPSHOT.replace(tzinfo=None), False, T0)]  # race: at snapshot
    lake = write_chunks(versions_table(rows).take(pa.array(range(len(rows))[::-1])), tmp_path / "lake", 13)

    gone = {f"A{i:06d}" for i in range(0, n, 97)} | {"DELETED1", "NEWER1"}
    present = pa.table({"id": [f"A{i:06d}" for i in range(n) if f"A{i:06d}" not in gone]})
    present_files = write_chunks(present, tmp_path / "present", 11)

    found = keys(gone_keys(ds.dataset(lake), present_files, snapshot=SNAPSHOT, memory_limit="64MB"))
    assert found == sorted(k for k in gone if k.startswith("A")), "tombstoned and newer-than-snapshot keys stay"


def test_with_no_present_keys_every_live_key_older_than_the_snapshot_is_gone(tmp_path):
    rows = [("X1", T0, False, T0), ("X2", T0, True, T0), ("X3", SNAPSHOT.replace(tzinfo=None) + timedelta(hours=1), False, T0)]
    lake = write_chunks(versions_table(rows), tmp_path / "lake", 1)
    assert keys(gone_keys(ds.dataset(lake), [], snapshot=SNAPSHOT)) == ["X1"]


def test_a_naive_snapshot_is_refused(tmp_path):
    lake = write_chunks(versions_table([("X1", T0, False, T0)]), tmp_path / "lake", 1)
    with pytest.raises(ValueError, match="no time zone"):
        list(gone_keys(ds.dataset(lake), [], snapshot=datetime(2026, 1, 1)))
