"""Benchmark: what loading the code location costs with N entities (ZUORA_ENTITIES), against one entity.

Each case runs in a fresh interpreter (imports included) that builds the definitions and resolves the asset
graph, as `dagster definitions validate` and every run do. Printed: seconds and peak RSS per case, and
their ratios to the single-entity case measured in the same run.

    .venv/bin/python benchmarks/bench_entities.py            # 1 (unnamed), 2, 4 and 8 entities
    .venv/bin/python benchmarks/bench_entities.py --counts 1 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid

CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
from zuora_assets.definitions import build_definitions
env = json.loads(sys.argv[1])
defs = build_definitions(env)
keys = defs.resolve_asset_graph().get_all_asset_keys()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "assets": len(keys),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def environment(count: int) -> dict[str, str]:
    """One unnamed entity for count=1 (today's default), else `count` entities of one tenant."""
    env = {"ZUORA_BASE_URL": "https://rest.na.zuora.com", "ZUORA_CLIENT_ID": "c", "ZUORA_CLIENT_SECRET": "s"}
    if count > 1:
        names = [f"e{i}" for i in range(count)]
        env["ZUORA_ENTITIES"] = ",".join(names)
        env |= {f"ZUORA_{n.upper()}_ENTITY_ID": str(uuid.UUID(int=i + 1)) for i, n in enumerate(names)}
    return env


def measure(count: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(environment(count))], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    reference = measure(1)
    print(f"{'entities':>8} {'assets':>7} {'seconds':>8} {'x one':>6} {'peak MB':>8} {'x one':>6}")
    for count in args.counts:
        r = reference if count == 1 else measure(count)
        print(f"{count:>8} {r['assets']:>7} {r['seconds']:>8.2f} {r['seconds'] / reference['seconds']:>6.2f} "
              f"{r['peak_mb']:>8.0f} {r['peak_mb'] / reference['peak_mb']:>6.2f}")


if __name__ == "__main__":
    main()
