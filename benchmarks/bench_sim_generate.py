"""Benchmark the simulator: generating a big InvoiceItem table, and exporting it through AQuA over HTTP.

    .venv/bin/python benchmarks/bench_sim_generate.py [--items 10000000] [--export-items 2000000]

Prints wall times and peak memory. Not part of the test suite.
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


def bench_generate(items: int) -> None:
    start = time.perf_counter()
    sim = Simulator(SimConfig(seed=7, accounts=1000, days=30, now=NOW, invoice_items=items))
    print(f"generate {items:,} InvoiceItems (1,000 accounts, 30 days): {time.perf_counter() - start:.1f} s, "
          f"peak RSS {peak_rss_gb():.1f} GB")
    sim.stop()


def bench_export(items: int) -> None:
    with Simulator(SimConfig(seed=7, accounts=200, days=30, now=NOW, invoice_items=items,
                             clock_follows_wall=False)) as sim:
        http = requests.Session()
        token = http.post(f"{sim.base_url}/oauth/token", data={
            "client_id": "sim-client-id", "client_secret": "sim-client-secret",
            "grant_type": "client_credentials"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for fmt in ("csv", "gzip"):
            body = {"format": fmt, "version": "1.1", "useQueryLabels": True,
                    "queries": [{"query": "select * from InvoiceItem", "type": "zoqlexport",
                                 "deleted": {"column": "IsDeleted", "format": "Boolean", "forceExport": True}}]}
            start = time.perf_counter()
            job = http.post(f"{sim.base_url}/v1/batch-query/", json=body, headers=headers).json()
            job = http.get(f"{sim.base_url}/v1/batch-query/jobs/{job['id']}", headers=headers).json()
            evaluated = time.perf_counter() - start
            size = 0
            with http.get(f"{sim.base_url}/v1/files/{job['batches'][0]['fileId']}", headers=headers,
                          stream=True) as resp:
                for chunk in resp.iter_content(1 << 20):
                    size += len(chunk)
            total = time.perf_counter() - start
            print(f"export {job['batches'][0]['recordCount']:,} InvoiceItems as {fmt}: job {evaluated:.1f} s, "
                  f"with download {total:.1f} s, {size / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--export-items", type=int, default=2_000_000)
    args = parser.parse_args()
    bench_export(args.export_items)
    bench_generate(args.items)


if __name__ == "__main__":
    main()
