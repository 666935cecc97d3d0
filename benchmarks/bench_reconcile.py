"""Benchmark: the reconciliation's comparison (`athena.reconcile.gone_keys`) over 10^7 ids, time and peak memory.

Builds a lake of N ids (plus 10% second versions and 0.5% tombstones) in Parquet files of --ids-per-lake-file ids
and a list of the source's live ids (1% of the lake's ids gone) in files of --ids-per-present-file ids (file
sizes stay put as N grows, as in a real lake), then runs in fresh subprocesses (so
each peak RSS, `ru_maxrss`, is its own):
- reference: DuckDB reading the id column of both sides once (`count(*)`, the I/O floor of any comparison);
- reconcile: `gone_keys` with a DuckDB memory limit (--memory-limit), spilling beyond it, counting the result.
Prints both times, the ratio reconcile/reference, the peak RSS of each, and checks the number of gone ids.

    .venv/bin/python benchmarks/bench_reconcile.py [--ids 10000000] [--memory-limit 256MB]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SNAPSHOT = datetime(2026, 6, 1, tzinfo=UTC)


def ids_of(numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("2c92a0fb", pc.utf8_lpad(pa.array(numbers).cast(pa.string()), 24, "0"), "")


def build(folder: Path, n: int, lake_files: int, present_files: int) -> int:
    """Write the lake and the present ids; return how many ids are gone."""
    rng = np.random.default_rng(7)
    order = rng.permutation(n)
    base = np.datetime64("2025-01-01T00:00:00", "ms").astype(np.int64)
    updated = base + rng.integers(0, 365 * 86_400_000, n)
    second = rng.random(n) < 0.10
    dead = rng.random(n) < 0.005
    (folder / "lake").mkdir()
    (folder / "present").mkdir()
    for i, part in enumerate(np.array_split(order, lake_files)):
        extra = part[second[part]]
        tomb = part[dead[part]]
        numbers = np.concatenate([part, extra, tomb])
        times = np.concatenate([updated[part], updated[extra] + 1000, updated[tomb] + 2000])
        table = pa.table({
            "id": ids_of(numbers),
            "updated_date": pa.array(times, pa.int64()).cast(pa.timestamp("ms")),
            "_deleted": pa.array(np.concatenate([np.zeros(len(part) + len(extra), bool), np.ones(len(tomb), bool)])),
            "_transferred_at": pa.array(times + 5000, pa.int64()).cast(pa.timestamp("ms")),
        })
        pq.write_table(table, folder / "lake" / f"{i}.parquet", compression="zstd")
    gone = (rng.random(n) < 0.01) & ~dead
    present = rng.permutation(np.flatnonzero(~gone & ~dead))
    for i, part in enumerate(np.array_split(present, present_files)):
        pq.write_table(pa.table({"id": ids_of(part)}), folder / "present" / f"{i}.parquet", compression="zstd")
    return int(gone.sum())


def phase(name: str, folder: str, memory_limit: str) -> None:
    """One measured phase, in this (fresh) process; prints its figures as JSON."""
    import duckdb
    import pyarrow.dataset as ds

    lake = sorted(str(p) for p in Path(folder, "lake").glob("*.parquet"))
    present = sorted(str(p) for p in Path(folder, "present").glob("*.parquet"))
    started = time.perf_counter()
    if name == "reference":
        con = duckdb.connect(config={"memory_limit": memory_limit})
        rows = con.execute(
            f"SELECT (SELECT count(id) FROM read_parquet({lake})) + (SELECT count(id) FROM read_parquet({present}))"
        ).fetchone()[0]
    else:
        from zuora_assets.athena.reconcile import gone_keys

        rows = sum(b.num_rows for b in gone_keys(ds.dataset(lake), present, snapshot=SNAPSHOT,
                                                 memory_limit=memory_limit, temp_dir=folder))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak}))


def run_phase(name: str, folder: Path, memory_limit: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--folder", str(folder),
                          "--memory-limit", memory_limit], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=10_000_000)
    parser.add_argument("--ids-per-lake-file", type=int, default=250_000)
    parser.add_argument("--ids-per-present-file", type=int, default=1_000_000)
    parser.add_argument("--memory-limit", default="256MB")
    parser.add_argument("--phase")
    parser.add_argument("--folder")
    args = parser.parse_args()
    if args.phase:
        phase(args.phase, args.folder, args.memory_limit)
        return
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        lake_files = max(1, args.ids // args.ids_per_lake_file)
        present_files = max(1, args.ids // args.ids_per_present_file)
        expected = build(folder, args.ids, lake_files, present_files)
        print(f"built {args.ids:,} ids in {lake_files} lake files and {present_files} present files "
              f"({expected:,} gone) in {time.perf_counter() - started:.0f} s")
        ref = run_phase("reference", folder, args.memory_limit)
        rec = run_phase("reconcile", folder, args.memory_limit)
        assert rec["rows"] == expected, f"gone ids: {rec['rows']:,}, expected {expected:,}"
        print(f"reference (read both id columns once): {ref['seconds']:6.1f} s, peak RSS {ref['peak_rss_mb']:6.0f} MB")
        print(f"reconcile (gone_keys, {args.memory_limit} limit): {rec['seconds']:6.1f} s, "
              f"peak RSS {rec['peak_rss_mb']:6.0f} MB, {rec['rows']:,} gone ids (as expected)")
        print(f"ratio reconcile/reference: {rec['seconds'] / ref['seconds']:.1f}")
    print(f"command: .venv/bin/python benchmarks/bench_reconcile.py --ids {args.ids} --memory-limit {args.memory_limit}")


if __name__ == "__main__":
    main()
