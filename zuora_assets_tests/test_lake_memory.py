"""The lake's memory budget: row groups no bigger than the budget's, and at most `pending_files` finished files
waiting for upload while the next is encoded."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zuora_assets.common.contract import TRANSFERRED_AT_COLUMN
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.memory import MemoryBudget
from zuora_assets.lake.parquet import TEMP_DIR, FinishedFile
from zuora_assets.lake.storage import ObjectInfo
from zuora_assets.lake.tempfiles import locked_temp_file
from zuora_assets.lake.transfer import write_transfer
from zuora_assets.lake.upload import UploadPool
from zuora_assets_tests.lake_support import FOLDER, MODEL, SCHEMA, TestClock, batches, days, rows, window_of


def test_row_groups_hold_at_most_the_budgets_bytes(tmp_path: Path) -> None:
    storage, clock = LocalStorage(tmp_path), TestClock()
    dts = days("2026-10-01", 2)
    records = rows(dts, 3000)
    budget = MemoryBudget(row_group_bytes=64_000)
    writes = write_transfer(
        storage, folder=FOLDER, model=MODEL, schema=SCHEMA, batches=batches(records, 500),
        partition_column="updated_date", partitions=dts, window=window_of(dts), mode="replace",
        clock=clock.now, sleep=clock.sleep, budget=budget,
    )
    bytes_per_row = pa.Table.from_batches(list(batches(records, 500))).nbytes / len(records)
    for write in writes:
        [key] = [f.key for f in write.files]
        meta = pq.ParquetFile(storage.root / key).metadata
        groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        assert sum(groups) == 3000 and len(groups) > 1
        assert max(groups) * bytes_per_row <= budget.row_group_bytes * 1.05  # Arrow bytes per row vary a little
    assert TRANSFERRED_AT_COLUMN in pq.ParquetFile(storage.root / key).schema_arrow.names


def test_bad_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="memory budget must be positive"):
        MemoryBudget(row_group_bytes=0)


def _finished(n: int) -> FinishedFile:
    temp = locked_temp_file(TEMP_DIR, prefix="lake-test-", suffix=".parquet")
    return FinishedFile(temp, n, frozenset())


def test_the_upload_queue_holds_at_most_pending_files_and_releases_them() -> None:
    pool, go = UploadPool(workers=2, pending=2, name="test upload"), threading.Event()
    files = [_finished(n) for n in range(3)]

    def upload(n: int):
        assert go.wait(30)
        return ObjectInfo(f"key{n}", 1), n

    futures = [pool.submit(files[n], lambda n=n: upload(n)) for n in range(2)]
    assert not pool._slots.acquire(blocking=False)  # a third file would wait for one of these uploads
    go.set()
    futures.append(pool.submit(files[2], lambda: upload(2)))
    pool.wait()
    assert [f.result()[1] for f in futures] == [0, 1, 2]
    assert all(not f.path.exists() for f in files)  # each file removed after its upload


def test_a_failed_upload_stops_the_next_submit_and_releases_its_file() -> None:
    pool = UploadPool(workers=1, pending=1, name="test upload")
    failed = pool.submit(_finished(0), lambda: (_ for _ in ()).throw(OSError("injected")))
    with pytest.raises(OSError, match="injected"):
        failed.result()
    refused = _finished(1)
    with pytest.raises(OSError, match="injected"):
        pool.submit(refused, lambda: (ObjectInfo("k", 1), 1))
    assert not refused.path.exists()
    pool.stop()


def test_unique_columns_are_written_without_a_dictionary(tmp_path: Path) -> None:
    storage, clock = LocalStorage(tmp_path), TestClock()
    dts = ["2026-10-01"]
    [write] = write_transfer(
        storage, folder=FOLDER, model=MODEL, schema=SCHEMA, batches=batches(rows(dts, 500), 100),
        partition_column="updated_date", partitions=dts, window=window_of(dts), mode="replace",
        clock=clock.now, sleep=clock.sleep, unique_columns=("id",),
    )
    meta = pq.ParquetFile(storage.root / write.files[0].key).metadata
    group = meta.row_group(0)
    encodings = {group.column(c).path_in_schema: group.column(c).encodings for c in range(group.num_columns)}
    assert not any("DICTIONARY" in e for e in encodings["id"])
    assert any("DICTIONARY" in e for e in encodings["invoice_id"])
    assert group.column(0).compression == "ZSTD"
