"""Test support for the lake tests: a storage fixture over a local folder and the moto S3 server, data, wrappers."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.s3 import S3Storage
from zuora_assets.lake.storage import ObjectInfo, Storage
from zuora_assets.lake.transfer import write_transfer

BUCKET = "lake-test"
FOLDER = "zuora"
MODEL = "invoice_item"
T0 = datetime(2026, 11, 29, 2, 0, 0, tzinfo=UTC)

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("invoice_id", pa.string()),
        ("charge_amount", pa.decimal128(38, 9)),
        ("quantity", pa.int64()),
        ("processed", pa.bool_()),
        ("service_start_date", pa.date32()),
        ("created_date", pa.timestamp("ms")),
        ("updated_date", pa.timestamp("ms")),
    ]
)


@pytest.fixture(name="storage", params=["local", "s3"])
def storage_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """The lake under test: a local folder, or a bucket on the moto server."""
    if request.param == "local":
        return LocalStorage(tmp_path / "lake")
    moto = request.getfixturevalue("moto")
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return S3Storage(client, BUCKET, credentials=moto.session().get_credentials)


def fixed_clock(moment: datetime = T0) -> Callable[[], datetime]:
    """A clock that always says `moment`."""
    return lambda: moment


class TestClock:
    """A UTC clock for tests: it moves only when told (`advance`, `set`), by `tick` seconds after every
    reading, or when slept on (`sleep` moves it instead of waiting). Thread-safe."""

    __test__ = False  # not a test class

    def __init__(self, start: datetime = T0, tick: float = 0.0):
        self._now, self._tick = start, timedelta(seconds=tick)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            moment, self._now = self._now, self._now + self._tick
            return moment

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


def days(first: str, count: int) -> list[str]:
    """`count` consecutive dt keys from `first`."""
    start = date.fromisoformat(first)
    return [(start + timedelta(days=i)).isoformat() for i in range(count)]


def rows(dts: Iterable[str], per_day: int, version: str = "v1") -> list[dict[str, Any]]:
    """Invoice-item-like rows, `per_day` for each dt, spread over the day; ids are stable across versions."""
    out = []
    for dt in dts:
        day = datetime.fromisoformat(dt)
        for i in range(per_day):
            updated = day + timedelta(seconds=i * 86_399 // max(per_day - 1, 1))
            out.append(
                {
                    "id": f"{dt}-{i:05d}",
                    "invoice_id": f"inv-{version}-{i % 7}",
                    "charge_amount": Decimal(f"{i}.123456789"),
                    "quantity": i,
                    "processed": i % 2 == 0,
                    "service_start_date": day.date(),
                    "created_date": updated - timedelta(days=3),
                    "updated_date": updated,
                }
            )
    return out


def batches(
    records: list[dict[str, Any]], size: int = 100, schema: pa.Schema = SCHEMA
) -> Iterator[pa.RecordBatch]:
    """`records` as record batches of `size` rows."""
    it = iter(records)
    while chunk := list(itertools.islice(it, size)):
        yield pa.RecordBatch.from_pylist(chunk, schema=schema)


def write_records(
    storage: Storage,
    records: list[dict[str, Any]],
    dts: list[str],
    *,
    schema: pa.Schema = SCHEMA,
    mode: str = "replace",
    snapshot: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """`write_transfer` of `records` as one transfer of the test model over partitions `dts` (their window)."""
    write_transfer(
        storage,
        folder=FOLDER,
        model=MODEL,
        schema=schema,
        batches=batches(records, schema=schema),
        partition_column="updated_date",
        partitions=dts,
        window=window_of(dts),
        mode=mode,  # type: ignore[arg-type]
        snapshot=snapshot,
        clock=clock or fixed_clock(),
    )


def window_of(dts: list[str]) -> tuple[datetime, datetime]:
    """The window that covers exactly the days `dts`."""
    start = datetime.fromisoformat(min(dts)).replace(tzinfo=UTC)
    return start, datetime.fromisoformat(max(dts)).replace(tzinfo=UTC) + timedelta(days=1)


def data_keys(storage: Storage, folder: str = FOLDER, model: str = MODEL) -> list[str]:
    """Every key under the model's folder."""
    return [o.key for o in storage.list(f"{folder}/{model}/")]


class StorageWrapper(Storage):
    """Delegates to `inner`; subclasses override one method to inject a fault or a pause."""

    def __init__(self, inner: Storage):
        self.inner = inner

    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        return self.inner.put_file(key, path, if_none_match=if_none_match)

    def put_bytes(
        self, key: str, data: bytes, *, if_none_match: bool = True, if_match: str | None = None
    ) -> ObjectInfo:
        return self.inner.put_bytes(key, data, if_none_match=if_none_match, if_match=if_match)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        return self.inner.get_versioned(key)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, keys: Iterable[str]) -> None:
        self.inner.delete(keys)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        return self.inner.arrow_filesystem()

    def remove_stale_temp_files(self) -> list[str]:
        return self.inner.remove_stale_temp_files()
