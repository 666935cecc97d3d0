"""Benchmark of the `rows_match_zuora` check's lake side (issue 14): peak memory and seconds of the lake count.

Builds a local lake of invoice-item-like rows (`bench_lake_write`'s 21 columns, plus `_deleted`) with the lake's
own writer (`write_transfer`, replace, `LocalStorage`), once per scenario (kept in `--dir`, rebuilt when the
figures change):
  day    2M rows in one daily partition;
  month  the same 2M rows over 31 partitions;
  year   20M rows over 365 partitions (`--rows` scales it): memory must not grow with the window.
Then, each in a fresh interpreter that imports what the check's step imports (`zuora_assets.defs.checks`),
counts the records of a window (the first day, and every day) by:
  counts    `lake.counts.count_latest_in_window`, what `lake_count` calls;
  polars    the rule it replaced: `readers.latest_versions` over a polars scan of the window's partitions,
            collected in memory (slow and large on `year`: ~5 GB; `--paths counts` leaves it out).
Reported per path: the count, seconds, and the peak RSS of the process (the kernel's VmHWM, not `ru_maxrss`,
which a child inherits from the parent it was forked from), and the part of it the import takes.

    .venv/bin/python benchmarks/bench_counts.py                                   # day and month, both paths
    .venv/bin/python benchmarks/bench_counts.py --scenario year --paths counts    # 20M rows, ~3 min to build
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

START = datetime(2026, 10, 1, tzinfo=UTC)
FOLDER, MODEL = "zuora", "invoice_item"
AIM_RSS_MB = 512  # of the check's step process, which holds more than this one


@dataclass(frozen=True)
class Scenario:
    rows: int
    days: int


SCENARIOS = {"day": Scenario(2_000_000, 1), "month": Scenario(2_000_000, 31), "year": Scenario(20_000_000, 365)}


def partitions(days: int) -> list[str]:
    return [(START + timedelta(days=i)).date().isoformat() for i in range(days)]


def build(lake: Path, scenario: Scenario) -> float:
    """Write the scenario's lake (skipped if one with these figures is there); the seconds it took."""
    import bench_lake_write as source
    import numpy as np
    import pyarrow as pa

    from zuora_assets.lake.local import LocalStorage
    from zuora_assets.lake.transfer import write_transfer

    marker, wanted = lake / "built.json", {"rows": scenario.rows, "days": scenario.days}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return 0.0
    schema = source.SCHEMA.append(pa.field("_deleted", pa.bool_()))

    def batches():
        rng = np.random.default_rng(7)
        for first in range(0, scenario.rows, 200_000):
            n = min(200_000, scenario.rows - first)
            table = source._chunk(rng, first, n, scenario.rows, scenario.days)
            table = table.cast(source.SCHEMA, safe=False).append_column("_deleted", pa.repeat(False, n))
            yield from table.to_batches(100_000)

    started = time.perf_counter()
    dts = partitions(scenario.days)
    write_transfer(LocalStorage(lake), folder=FOLDER, model=MODEL, schema=schema, batches=batches(),
                   partition_column="updated_date", partitions=dts,
                   window=(START, START + timedelta(days=scenario.days)), mode="replace", run_id="bench")
    marker.write_text(json.dumps(wanted))
    return time.perf_counter() - started


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(path: str, lake: str, days: int, window_days: int) -> None:
    """Entry point of one measurement: prints one JSON line."""
    import zuora_assets.defs.checks  # noqa: F401 (what the check's step has imported)
    from zuora_assets.lake.local import LocalStorage

    imported = vm_hwm_mb()
    storage, dts = LocalStorage(Path(lake)), partitions(days)  # every partition from the window's first day on
    start, end = START, START + timedelta(days=window_days)
    started = time.perf_counter()
    if path == "counts":
        from zuora_assets.lake.counts import count_latest_in_window

        count = count_latest_in_window(storage, FOLDER, MODEL, dts, start, end)
    else:
        import polars as pl

        from zuora_assets.lake.readers import latest_versions, scan

        naive = (start.replace(tzinfo=None), end.replace(tzinfo=None))
        latest = latest_versions(scan(storage, FOLDER, MODEL, dts))
        in_window = latest.filter(pl.col("updated_date").is_between(*naive, closed="left"))
        count = int(in_window.select(pl.len()).collect().item())
    seconds = time.perf_counter() - started
    print(json.dumps({"count": count, "seconds": seconds, "import_mb": imported, "peak_mb": vm_hwm_mb()}))


def measure(path: str, lake: Path, days: int, window_days: int) -> dict:
    argv = [sys.executable, __file__, "--child", path, str(lake), str(days), str(window_days)]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{path} failed (exit code {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=["day", "month"])
    parser.add_argument("--paths", nargs="+", choices=["counts", "polars"], default=["counts", "polars"])
    parser.add_argument("--rows", type=int, help="rows of each scenario (default: its own)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_counts"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, lake, days, window_days = args.child
        return child(path, lake, int(days), int(window_days))
    print(f"{'scenario':<8} {'window':>8} {'path':<7} {'records':>11} {'seconds':>8} {'peak MB':>8} "
          f"{'import MB':>9} {'count MB':>8}  (aim: step <= {AIM_RSS_MB} MB)")
    for name in args.scenario:
        scenario = SCENARIOS[name]
        if args.rows:
            scenario = Scenario(args.rows, scenario.days)
        lake = args.dir / f"{name}-{scenario.rows}-{scenario.days}"
        built = build(lake, scenario)
        if built:
            print(f"{name}: built {scenario.rows:,} rows over {scenario.days} partition(s) in {built:.0f} s")
        for window_days in sorted({1, scenario.days}):
            for path in args.paths:
                r = measure(path, lake, scenario.days, window_days)
                print(f"{name:<8} {window_days:>6} d {path:<7} {r['count']:>11,} {r['seconds']:>8.1f} "
                      f"{r['peak_mb']:>8.0f} {r['import_mb']:>9.0f} {r['peak_mb'] - r['import_mb']:>8.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
