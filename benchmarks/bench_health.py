"""Benchmark: the lake health report of one model (lake/health.py) against a reference in the same run.

Writes a local lake of `--rows` versions over `--days` partitions (ids drawn from 0.6 x rows, so records have
several versions; 2% tombstones), then measures, each in a fresh process: the report (memory limit
`--memory-mb`, it spills beyond it), and the reference, polars reading the same four version columns whole and
grouping them in memory. Prints seconds, peak RSS (getrusage) and the ratios report / reference.

    .venv/bin/python benchmarks/bench_health.py                       # 4M versions, 120 days
    .venv/bin/python benchmarks/bench_health.py --rows 12000000       # peak RSS stays near the limit
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

FOLDER, MODEL = "zuora", "account"
TS = "20261129020000"


def write_lake(root: Path, rows: int, days: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(15)
    per_day = rows // days
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for d in range(days):
        day = start + timedelta(days=d)
        ids = rng.integers(0, int(rows * 0.6), per_day)
        seconds = np.sort(rng.integers(0, 86_400, per_day))
        updated = np.datetime64(day.replace(tzinfo=None), "ms") + seconds.astype("timedelta64[s]")
        table = pa.table(
            {
                "id": pa.array([f"8a8aa0b1{i:024x}" for i in ids]),
                "name": pa.array([f"Account {i}" for i in ids]),
                "balance": pa.array(rng.integers(0, 10**6, per_day)),
                "updated_date": pa.array(updated, pa.timestamp("ms")),
                "_deleted": pa.array(rng.random(per_day) < 0.02),
                "_transferred_at": pa.array(np.full(per_day, np.datetime64("2026-11-29T02:00:00", "ms"))),
            }
        )
        path = root / FOLDER / MODEL / f"dt={day.date()}" / f"0_{TS}.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(table, path, compression="zstd")


def run_report(root: str, memory_mb: int, out) -> None:
    from zuora_assets.lake.health import Versions, model_health
    from zuora_assets.lake.local import LocalStorage

    began = time.perf_counter()
    versions = Versions("id", ("updated_date", "_transferred_at"), "_deleted")
    report = model_health(
        LocalStorage(root), FOLDER, MODEL, versions, now=datetime.now(UTC), memory_limit_mb=memory_mb
    )
    out.send((time.perf_counter() - began, _peak_mb(), report.rows, report.live, report.duplicates))


def run_reference(root: str, out) -> None:
    import polars as pl

    began = time.perf_counter()
    frame = pl.read_parquet(f"{root}/{FOLDER}/{MODEL}/*/*.parquet", columns=["id", "updated_date", "_deleted"])
    latest = frame.sort("updated_date").group_by("id").agg(pl.col("_deleted").last())
    live = latest.filter(~pl.col("_deleted")).height
    out.send((time.perf_counter() - began, _peak_mb(), frame.height, live, None))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(target, *args) -> tuple:
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(*args, send))
    process.start()
    result = receive.recv()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--memory-mb", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        write_lake(Path(root), args.rows, args.days)
        size = sum(p.stat().st_size for p in Path(root).rglob("*.parquet"))
        print(f"lake: {args.rows:,} versions, {args.days} files, {size / 2**20:.0f} MiB")
        r_s, r_mb, rows, live, dupes = measure(run_report, root, args.memory_mb)
        f_s, f_mb, f_rows, f_live, _ = measure(run_reference, root)
        assert (rows, live) == (f_rows, f_live), f"report {rows}/{live} != reference {f_rows}/{f_live}"
        print(f"report   : {r_s:6.1f} s, peak RSS {r_mb:6.0f} MB (memory limit {args.memory_mb} MB); {live:,} live")
        print(f"reference: {f_s:6.1f} s, peak RSS {f_mb:6.0f} MB (polars, four columns in memory)")
        print(f"ratio report/reference: time {r_s / f_s:.2f}, peak memory {r_mb / f_mb:.2f}")


if __name__ == "__main__":
    main()
