"""Benchmark: what waiting for minutes- to hours-long AQuA jobs costs our client, with realistic job timing.

The simulator's jobs queue, then run for a time that grows with their rows (JobTiming.realistic: 4 s queue,
2 s per query, 2,400 s per million rows, or --seconds-per-million-rows). The client's sleeps advance the
simulator's clock instead of the wall clock, so an hours-long job is measured in seconds. For each job it
prints the simulated job time, the polls our client made, and the ratio to the reference measured in the
same run: the fewest polls a client polling every `poll_max` seconds would need (job time / poll_max).
A ratio near 1 means polling cost is bounded by the cap, whatever the job's length; peak memory is this
process's RSS high-water mark (it holds the simulator too).

    .venv/bin/python benchmarks/bench_polling.py [--rows 100000] [--rates 2400,24000,100000]
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from datetime import UTC, datetime, timedelta

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets.zuora.catalog import model
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.extract import Extractor

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def run(rows: int, rate: float, poll_max: float) -> None:
    timing = JobTiming.realistic(rate)
    with Simulator(SimConfig(seed=11, accounts=50, days=30, now=NOW, clock_follows_wall=False, invoice_items=rows,
                             job_timing=timing)) as sim:
        with ZuoraClient(sim.config.client_id, sim.config.client_secret, base_url=sim.base_url,
                         sleep=sim.advance) as client:
            logger = logging.getLogger("bench_polling")
            extractor = Extractor(client, poll_max=poll_max, logger=logger)
            before, wall = sim.clock(), time.perf_counter()
            extraction = extractor.extract(model("invoice_item"), NOW - timedelta(days=31), NOW)
            got = sum(b.num_rows for b in extraction.batches)
            wall = time.perf_counter() - wall
            simulated = (sim.clock() - before).total_seconds()
            polls = sum(1 for r in sim.requests() if r["method"] == "GET" and "/batch-query/jobs/" in r["path"])
        reference = simulated / poll_max
        print(f"{got:>9,} rows at {rate:>7,.0f} s per million: job {simulated / 60:6.1f} min simulated, "
              f"{polls:4d} polls, reference {reference:6.1f} (one per {poll_max:.0f} s), ratio {polls / reference:4.2f}, "
              f"{wall:5.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="invoice items exported by the job")
    parser.add_argument("--rates", default="2400,24000,100000", help="seconds per million rows, comma-separated")
    parser.add_argument("--poll-max", type=float, default=30.0, help="the client's longest wait between polls")
    args = parser.parse_args()
    for rate in (float(r) for r in args.rates.split(",")):
        run(args.rows, rate, args.poll_max)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (simulator included)")
    print("command: .venv/bin/python benchmarks/bench_polling.py "
          f"--rows {args.rows} --rates {args.rates} --poll-max {args.poll_max:g}")


if __name__ == "__main__":
    main()
