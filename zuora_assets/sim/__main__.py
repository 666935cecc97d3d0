"""Command line: serve a simulated Zuora tenant until interrupted.

    python -m zuora_assets.sim --port 8089 --seed 7 --accounts 40 [--days 30] [--host 127.0.0.1]
        [--job-timing instant|realistic] [--job-seconds-per-million-rows 2400]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming


def stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m zuora_assets.sim", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="port to listen on (0 = a free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the generated tenant")
    p.add_argument("--accounts", type=int, default=40, help="number of accounts (other models scale)")
    p.add_argument("--days", type=int, default=30, help="days of generated history up to now")
    p.add_argument("--invoice-items", type=int, default=None, help="force this many InvoiceItems")
    p.add_argument("--job-timing", choices=("instant", "realistic"), default=None,
                   help="how long export jobs take (default: ZUORA_SIM_JOB_TIMING, else instant)")
    p.add_argument("--job-seconds-per-million-rows", type=float, default=None,
                   help="realistic job timing with this export rate (realistic: 2400)")
    return p


def config_from(argv: list[str] | None = None) -> SimConfig:
    """The SimConfig the command line asks for."""
    args = parser().parse_args(argv)
    timing = JobTiming.from_environment()
    if args.job_timing is not None:
        timing = JobTiming.realistic() if args.job_timing == "realistic" else JobTiming()
    if args.job_seconds_per_million_rows is not None:
        timing = JobTiming.realistic(args.job_seconds_per_million_rows)
    return SimConfig(seed=args.seed, accounts=args.accounts, days=args.days, invoice_items=args.invoice_items,
                     job_timing=timing)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = config_from(argv)
    sim = Simulator(config)
    url = sim.start(host=args.host, port=args.port)
    print(f"Zuora simulator listening on {url}", flush=True)
    print(f"client_id={config.client_id} client_secret={config.client_secret}", flush=True)
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # a terminated simulator still removes its result files
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
