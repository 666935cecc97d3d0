"""Benchmark the simulator: generating a big InvoiceItem table, and exporting it through AQuA over HTTP.

    .venv/bin/python benchmarks/bench_sim_generate.py [--items 10000000] [--export-items 2000000]
    .venv/bin/python benchmarks/bench_sim_generate.py --year-items 2000000   # the year scenario's tenant, scaled

Prints wall times and peak memory. `--year-items` alone measures the tenant of bench_pipeline's year scenario
(200 accounts, 365 days) with that many invoice items: generation seconds and peak RSS, then peak RSS once an
AQuA job has exported (written) every invoice item. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

import requests

from zuora_assets.sim import SimConfig, Simulator

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def rss_gb() -> float:
    """The resident set now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1024**3


def bench_generate(items: int) -> None:
    start = time.perf_counter()
    sim = Simulator(SimConfig(seed=7, accounts=1000, days=30, now=NOW, invoice_items=items))
    print(f"generate {items:,} InvoiceItems (1,000 accounts, 30 days): {time.perf_counter() - start:.1f} s, "
          f"peak RSS {peak_rss_gb():.1f} GB")
    sim.stop()


def bench_export(items: int) -> None:
    with Simulator(SimConfig(seed=7, accounts=200, days=30, now=NOW, invoice_items=items,
                             clock_follows_wall=False)) as sim:
        for fmt in ("csv", "gzip"):
            bench_one_export(sim, fmt)


def bench_year(items: int) -> None:
    start = time.perf_counter()
    sim = Simulator(SimConfig(seed=7, accounts=200, days=365, now=NOW, invoice_items=items, clock_follows_wall=False))
    print(f"generate {items:,} InvoiceItems (200 accounts, 365 days): {time.perf_counter() - start:.1f} s, "
          f"peak RSS {peak_rss_gb():.2f} GB, RSS now {rss_gb():.2f} GB")
    sim.start()
    try:
        bench_one_export(sim, "csv")
    finally:
        sim.stop()
    print(f"after exporting every InvoiceItem: peak RSS {peak_rss_gb():.2f} GB, RSS now {rss_gb():.2f} GB")


def bench_one_export(sim: Simulator, fmt: str) -> None:
    http = requests.Session()
    token = http.post(f"{sim.base_url}/oauth/token", data={
        "client_id": "sim-client-id", "client_secret": "sim-client-secret",
        "grant_type": "client_credentials"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"format": fmt, "version": "1.1", "useQueryLabels": True,
            "queries": [{"query": "select * from InvoiceItem", "type": "zoqlexport",
                         "deleted": {"column": "IsDeleted", "format": "Boolean", "forceExport": True}}]}
    start = time.perf_counter()
    job = http.post(f"{sim.base_url}/v1/batch-query/", json=body, headers=headers).json()
    job = http.get(f"{sim.base_url}/v1/batch-query/jobs/{job['id']}", headers=headers).json()
    written = time.perf_counter() - start
    size = 0
    with http.get(f"{sim.base_url}/v1/files/{job['batches'][0]['fileId']}", headers=headers, stream=True) as resp:
        for chunk in resp.iter_content(1 << 20):
            size += len(chunk)
    print(f"export {job['batches'][0]['recordCount']:,} InvoiceItems as {fmt}: job (with its file) {written:.1f} s, "
          f"with download {time.perf_counter() - start:.1f} s, {size / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--export-items", type=int, default=2_000_000)
    parser.add_argument("--year-items", type=int, default=None)
    args = parser.parse_args()
    if args.year_items:
        bench_year(args.year_items)
        return
    bench_export(args.export_items)
    bench_generate(args.items)


if __name__ == "__main__":
    main()
