"""Benchmark: extract invoice items from the simulator; print rows per second and peak memory.

The simulator runs in a separate (spawned) process so that its memory is not counted; the peak
memory printed is this process's RSS high-water mark (VmHWM), which must stay under 400 MB.

    .venv/bin/python benchmarks/bench_extract.py                 # 2M invoice items, one window
    .venv/bin/python benchmarks/bench_extract.py --burst 1000000 # 1M items updated in one second, files
                                                                 # over 300k rows refused: bisect + Id pages
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import time
from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 30
BURST_AT = NOW - timedelta(hours=5, seconds=17)


def _window(burst: int) -> tuple[datetime, datetime]:
    if burst:
        return BURST_AT - timedelta(minutes=30), BURST_AT + timedelta(minutes=30)
    return NOW - timedelta(days=DAYS + 1), NOW + timedelta(seconds=1)


def _serve(args: argparse.Namespace, conn, stop) -> None:
    """Child process: run the simulated tenant until `stop` is set."""
    from zuora_assets.sim import SimConfig, Simulator

    config = SimConfig(seed=11, accounts=args.accounts, days=DAYS, now=NOW, clock_follows_wall=False,
                       invoice_items=None if args.burst else args.rows, polls_to_complete=1)
    with Simulator(config) as sim:
        if args.burst:
            sim.add_burst("InvoiceItem", args.burst, BURST_AT)
            sim.add_fault({"fault": "too_large", "rows": args.max_file_rows, "query": "InvoiceItem"})
        expected = sim.truth("invoice_item", *_window(args.burst)).num_rows
        conn.send((sim.base_url, config.client_id, config.client_secret, expected))
        stop.wait()


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _JobCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.jobs = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.jobs += "submitted" in record.getMessage()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="invoice items in the tenant (no burst)")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--burst", type=int, default=0, help="invoice items updated in one second")
    parser.add_argument("--max-file-rows", type=int, default=300_000, help="burst mode: larger files get 403")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(args, child, stop), daemon=True)
    started = time.perf_counter()
    server.start()
    base_url, client_id, client_secret, expected = parent.recv()
    print(f"simulator ready in {time.perf_counter() - started:.1f} s at {base_url}; "
          f"{expected:,} invoice items in the window")

    from zuora_assets.zuora.catalog import model
    from zuora_assets.zuora.client import ZuoraClient
    from zuora_assets.zuora.extract import Extractor

    baseline = _vm_hwm_mb()
    counter = _JobCounter()
    logger = logging.getLogger("bench_extract")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(counter)
    progress = [0, 0]
    try:
        with ZuoraClient(client_id, client_secret, base_url=base_url) as client:
            extractor = Extractor(client, poll_initial=0.2, poll_max=2.0, logger=logger,
                                  on_progress=lambda r, b: progress.__setitem__(slice(None), [r, b]))
            t0 = time.perf_counter()
            extraction = extractor.extract(model("invoice_item"), *_window(args.burst))
            t1 = time.perf_counter()
            rows = sum(batch.num_rows for batch in extraction.batches)
            t2 = time.perf_counter()
    finally:
        stop.set()
        server.join(timeout=30)
    peak = _vm_hwm_mb()
    print(f"extracted {rows:,} rows with {counter.jobs} AQuA jobs in {t2 - t0:.1f} s: {rows / (t2 - t0):,.0f} rows/s "
          f"end to end (first job {t1 - t0:.1f} s; then {t2 - t1:.1f} s of downloads, parsing and further jobs: "
          f"{rows / (t2 - t1):,.0f} rows/s, {progress[1] / (t2 - t1) / 2**20:,.0f} MB/s)")
    print(f"peak RSS of this process: {peak:.0f} MB (after imports: {baseline:.0f} MB); target < 400 MB")
    if rows != expected:
        raise SystemExit(f"row count {rows} differs from the simulator's truth {expected}")


if __name__ == "__main__":
    main()
