"""Command line: serve a simulated Zuora tenant until interrupted.

    python -m zuora_assets.sim --port 8089 --seed 7 --accounts 40 [--days 30] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from zuora_assets.sim import SimConfig, Simulator


def stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zuora_assets.sim", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = a free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated tenant")
    parser.add_argument("--accounts", type=int, default=40, help="number of accounts (other models scale)")
    parser.add_argument("--days", type=int, default=30, help="days of generated history up to now")
    parser.add_argument("--invoice-items", type=int, default=None, help="force this many InvoiceItems")
    args = parser.parse_args(argv)
    config = SimConfig(seed=args.seed, accounts=args.accounts, days=args.days, invoice_items=args.invoice_items)
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
