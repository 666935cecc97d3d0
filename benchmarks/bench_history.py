"""Benchmark: does an append sync cost the same after a year of history as after one day? (issue 10, point 3)

Builds two lakes of one model (`invoice_item`) in S3 on a moto server (its own process):
  - year: a year of history as the real path leaves it with appends every 5 minutes (288 a day), a nightly
    consolidation (replace) of each day and a 30-day manifest retention. The last two days are written by the
    real path itself (write_transfer: 288 appends of yesterday, its consolidation, today's appends so far); the
    363 days before by the real consolidation (write_transfer, replace) plus what the real path leaves of the
    appends it replaced: their manifests for the 29 days within the retention, nothing older (pruned).
  - day: one day of history, today's appends so far, written by the real path.
Then measures one append sync of today on each, alternately, `--repeat` times: the sensor's starting point
(the sync state), the run's window (the state again) and the transfer (write_transfer, append), counting the
S3 requests with botocore's event hooks (one per API call, each page of a listing included)
and the seconds. Aims: the same request count (within 2) and at most 1.2x the seconds. Last, the S3 requests
per partition of a 31-day backfill on an empty lake (aim: at most 3 per partition beyond deletes), and for
contrast the requests of rebuilding the state from every manifest, which only a missing state needs.

    .venv/bin/python benchmarks/bench_history.py [--repeat 15] [--days 365] [--today-appends 120]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_lake_write import moto_server  # noqa: E402 (benchmarks/ is this script's folder)

from zuora_assets.lake import layout  # noqa: E402
from zuora_assets.lake.local import LocalStorage  # noqa: E402
from zuora_assets.lake.manifest import Manifest  # noqa: E402
from zuora_assets.lake.s3 import S3Storage  # noqa: E402
from zuora_assets.lake.state import Commit, load_state, rebuild_state, record_commits  # noqa: E402
from zuora_assets.lake.transfer import write_transfer  # noqa: E402

FOLDER, MODEL = "zuora", "invoice_item"
EVERY = timedelta(minutes=5)
LAG, LOOKBACK = timedelta(seconds=900), timedelta(seconds=3600)
RETENTION_DAYS = 30
ROWS_PER_APPEND = 5
TODAY = datetime(2026, 11, 29, tzinfo=UTC)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("invoice_id", pa.string()),
        ("charge_amount", pa.decimal128(38, 9)),
        ("quantity", pa.int64()),
        ("updated_date", pa.timestamp("ms")),
    ]
)


class Requests:
    """Counts the S3 API calls one client makes, by operation; those on the sync state (its object, or the
    listing of every manifest that rebuilds it) count as `state`."""

    STATE = (layout.state_key(FOLDER, MODEL), layout.manifests_prefix(FOLDER, MODEL))

    def __init__(self, client):
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-parameter-build.s3", self._count)  # once per API call

    def _count(self, model, params, **_) -> None:
        on_state = params.get("Key", params.get("Prefix")) in self.STATE
        self.calls["state" if on_state else model.name] += 1

    def take(self) -> Counter[str]:
        calls, self.calls = self.calls, Counter()
        return calls


def batch(start: datetime, end: datetime, n: int) -> pa.RecordBatch:
    """`n` rows updated evenly in [start, end)."""
    step = (end - start) / max(n, 1)
    moments = [(start + step * i).replace(tzinfo=None) for i in range(n)]
    return pa.RecordBatch.from_pydict(
        {
            "id": [f"ii-{m:%Y%m%d%H%M%S}-{i}" for i, m in enumerate(moments)],
            "invoice_id": [f"inv-{i % 7}" for i in range(n)],
            "charge_amount": [Decimal(f"{i}.5") for i in range(n)],
            "quantity": list(range(n)),
            "updated_date": moments,
        },
        schema=SCHEMA,
    )


def transfer(storage, dt: str, window, mode: str, snapshot: datetime, rows: int):
    """One transfer through the real path; the clock says `snapshot` (its second is free in this lake)."""
    n = rows if window[1] > window[0] else 0
    return write_transfer(
        storage,
        folder=FOLDER,
        model=MODEL,
        schema=SCHEMA,
        batches=[batch(window[0], window[1], n)] if n else [],
        partition_column="updated_date",
        partitions=[dt],
        window=window,
        mode=mode,
        snapshot=snapshot,
        clock=lambda: snapshot,
        run_id="bench",
    )


def append_of(storage, day: datetime, snapshot: datetime):
    """The append the sensor's run makes at `snapshot`: today's window from the sync state."""
    dt = day.date().isoformat()
    synced = load_state(storage, FOLDER, MODEL).partition_synced_until(dt)
    start = day if synced is None else max(day, synced - LOOKBACK)
    end = min(day + timedelta(days=1), snapshot - LAG)
    return transfer(storage, dt, (start, max(start, end)), "append", snapshot, ROWS_PER_APPEND)


def appends(storage, day: datetime, count: int) -> None:
    for k in range(1, count + 1):
        append_of(storage, day, day + EVERY * k)


def consolidate(storage, day: datetime) -> None:
    """The nightly consolidation of `day` at 02:30 the next day."""
    dt, end = day.date().isoformat(), day + timedelta(days=1)
    transfer(storage, dt, (day, end), "replace", end + timedelta(hours=2, minutes=30), 288 * ROWS_PER_APPEND // 10)


def replaced_append_manifests(storage, day: datetime) -> None:
    """What the real path leaves of the 288 appends a consolidation replaced: their manifests (data deleted)."""
    dt = day.date().isoformat()

    def put(k: int) -> None:
        snapshot = day + EVERY * k
        end = min(day + timedelta(days=1), snapshot - LAG)
        manifest = Manifest(
            model=MODEL, dt=dt, transfer_ts=layout.format_ts(snapshot), mode="append",
            window_start=max(day, end - EVERY - LOOKBACK), window_end=end, rows=ROWS_PER_APPEND, bytes=2048,
            files=(), schema=tuple((f.name, str(f.type)) for f in SCHEMA), run_id="bench",
        )
        storage.put_bytes(layout.manifest_key(FOLDER, MODEL, dt, manifest.transfer_ts), manifest.to_json())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(1, 289)))


def build_year(storage, days: int, today_appends: int) -> None:
    yesterday = TODAY - timedelta(days=1)
    for back in range(days - 1, 1, -1):  # generated: the real consolidation and what the appends left
        day = TODAY - timedelta(days=back)
        consolidate(storage, day)
        if back <= RETENTION_DAYS:
            replaced_append_manifests(storage, day)
    replaced = []  # the consolidations above replaced those days' appends: the state says so, as after the real ones
    for back in range(2, min(RETENTION_DAYS, days - 1) + 1):
        end = TODAY - timedelta(days=back - 1)
        ts = layout.format_ts(end + timedelta(hours=2, minutes=30))
        replaced.append(Commit((end - timedelta(days=1)).date().isoformat(), ts, "replace", end, replaced_older=True))
    record_commits(storage, FOLDER, MODEL, replaced)
    appends(storage, yesterday, 288)  # the real path from here on
    consolidate(storage, yesterday)
    appends(storage, TODAY, today_appends)


def measure(storage, counter: Requests, snapshot: datetime) -> tuple[Counter[str], float]:
    """One append sync at `snapshot`: the sensor's starting point, then the run (window and transfer)."""
    counter.take()
    started = time.perf_counter()
    load_state(storage, FOLDER, MODEL).high_water_mark  # noqa: B018 (the sensor's starting point)
    append_of(storage, TODAY, snapshot)
    return counter.take(), time.perf_counter() - started


def backfill_requests(client, counter: Requests, days: int = 31) -> Counter[str]:
    client.create_bucket(Bucket="history-backfill")
    storage = S3Storage(client, "history-backfill")
    first = TODAY - timedelta(days=days)
    dts = [(first + timedelta(days=i)).date().isoformat() for i in range(days)]
    batches = [batch(first + timedelta(days=i), first + timedelta(days=i + 1), 50) for i in range(days)]
    counter.take()
    write_transfer(
        storage, folder=FOLDER, model=MODEL, schema=SCHEMA, batches=batches, partition_column="updated_date",
        partitions=dts, window=(first, TODAY), mode="replace", snapshot=TODAY, clock=lambda: TODAY,
    )
    return counter.take()


def start_moto() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--moto"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return server, server.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--today-appends", type=int, default=120)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench_history")
    options = parser.parse_args()
    shutil.rmtree(options.dir, ignore_errors=True)
    server, endpoint = start_moto()
    try:
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        counter = Requests(client)
        lakes = build_lakes(client, counter, options)
        figures: dict[tuple[str, str], list] = {key: [] for key in lakes}
        snapshot = TODAY + EVERY * (options.today_appends + 1)
        for _ in range(options.repeat):  # alternately, so that load on the machine hits both alike
            for key, storage in lakes.items():
                figures[key].append(measure(storage, counter, snapshot))
            snapshot += EVERY
        report(figures, client)
        backfill_report(backfill_requests(client, counter))
        rebuild_report(lakes[("s3", "year")], counter)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        shutil.rmtree(options.dir, ignore_errors=True)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def build_lakes(client, counter: Requests, options) -> dict[tuple[str, str], object]:
    """The year and day lakes, in S3 on moto and in a local folder."""
    lakes = {}
    for backend in ("s3", "local"):
        for name in ("year", "day"):
            if backend == "s3":
                client.create_bucket(Bucket=f"history-{name}")
                storage = S3Storage(client, f"history-{name}")
            else:
                storage = LocalStorage(options.dir / name)
            started = time.perf_counter()
            if name == "year":
                build_year(storage, options.days, options.today_appends)
            else:
                appends(storage, TODAY, options.today_appends)
            counter.take()
            count = len(storage.list(""))
            print(f"{backend:5s} {name:4s} lake: {count:>7,} objects, built in {time.perf_counter() - started:5.1f} s")
            lakes[(backend, name)] = storage
    return lakes


def report(figures: dict, client) -> None:
    seconds = {key: statistics.median(s for _, s in runs) for key, runs in figures.items()}
    requests = {key: [sum(calls.values()) for calls, _ in runs] for key, runs in figures.items() if key[0] == "s3"}
    for name in ("year", "day"):
        calls = figures[("s3", name)][-1][0]
        print(
            f"append sync, S3 on moto, {name:4s} lake: {max(requests[('s3', name)]):>2} S3 requests "
            f"({', '.join(f'{op} {n}' for op, n in sorted(calls.items()))}), "
            f"median {seconds[('s3', name)] * 1e3:6.1f} ms"
        )
    spread = max(requests[("s3", "year")]) - min(requests[("s3", "day")])
    listing = {name: list_seconds(client, f"history-{name}") for name in ("year", "day")}
    print(
        f"  requests year - day = {spread} (aim: within 2); seconds year / day = "
        f"{seconds[('s3', 'year')] / seconds[('s3', 'day')]:.2f}, of which moto's listing of today's partition "
        f"alone takes {listing['year'] * 1e3:.1f} ms vs {listing['day'] * 1e3:.1f} ms (moto scans every key of "
        "the bucket for a prefix; S3 does not)"
    )
    print(
        f"append sync, local lake: year {seconds[('local', 'year')] * 1e3:.1f} ms, day "
        f"{seconds[('local', 'day')] * 1e3:.1f} ms (medians): year / day = "
        f"{seconds[('local', 'year')] / seconds[('local', 'day')]:.2f} (aim: <= 1.2)"
    )


def list_seconds(client, bucket: str, times: int = 9) -> float:
    """The median seconds of one bare listing of today's partition."""
    prefix = layout.partition_prefix(FOLDER, MODEL, TODAY.date().isoformat())
    runs = []
    for _ in range(times):
        started = time.perf_counter()
        client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def backfill_report(backfill: Counter[str]) -> None:
    per_partition = (sum(backfill.values()) - backfill["DeleteObjects"] - backfill["state"]) / 31
    print(
        f"31-day backfill: {sum(backfill.values())} S3 requests "
        f"({', '.join(f'{op} {n}' for op, n in sorted(backfill.items()))}) = {per_partition:.2f} per partition "
        f"beyond deletes and the run's {backfill['state']} on its sync state (aim: <= 3 per partition)"
    )


def rebuild_report(year_lake, counter: Requests) -> None:
    counter.take()
    started = time.perf_counter()
    rebuild_state(year_lake, FOLDER, MODEL)
    rebuild = counter.take()
    print(
        f"for contrast, rebuilding the state from every manifest of the year lake (only when the state is "
        f"missing): {sum(rebuild.values()):,} S3 requests in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--moto"]:
        moto_server()
    else:
        main()
