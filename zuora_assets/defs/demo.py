"""The embedded-default demo: serve the simulator, materialize `account` for the last days, show the result."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import dagster as dg

from zuora_assets.defs.clock import Clock, WallClock
from zuora_assets.defs.resources import (
    SIMULATOR_URL_ENV,
    duckdb_catalog,
    duckdb_path,
    lake_folder,
    lake_storage,
)
from zuora_assets.settings import Settings

DEMO_MODEL = "account"
DEMO_DAYS = 7


@dataclass
class DemoReport:
    lake_dir: Path
    catalog_file: Path
    partitions: list[str]
    files: list[str] = field(default_factory=list)
    rows_per_dt: dict[str, int] = field(default_factory=dict)
    current_rows: int = 0


def demo_partitions(days: int, today: datetime) -> list[str]:
    today = today.astimezone(UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def demo_environment(
    home: Path, simulator_url: str = "", environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The settings of the demo: the process environment with the lake folder and the simulator's address."""
    return {**environ, "ZUORA_ATHENA_HOME": str(home), SIMULATOR_URL_ENV: simulator_url}


def run_demo(
    home: Path,
    *,
    simulator_url: str,
    days: int = DEMO_DAYS,
    model: str = DEMO_MODEL,
    out: TextIO = sys.stdout,
    clock: Clock | None = None,
) -> DemoReport:
    """Materialize `zuora/<model>` and `athena/<model>` for the last `days` days in one run, then report."""
    from zuora_assets.definitions import build_definitions

    environ = demo_environment(home, simulator_url)
    clock = clock or WallClock()
    defs = build_definitions(environ, clock, literal=True)  # resources hold the values: os.environ is left alone
    partitions = demo_partitions(days, clock.now())
    settings = Settings.from_env(environ)
    print("zuora-athena demo on the EMBEDDED DEFAULT: no AWS account and no Zuora tenant needed.", file=out)
    print(f"  simulator: {simulator_url}", file=out)
    print(f"  lake:      {settings.local_dir}", file=out)
    with dg.DagsterInstance.ephemeral() as instance:  # disposed: its temporary folder is removed
        result = dg.materialize(
            [*defs.assets],
            selection=[f"zuora/{model}", f"athena/{model}"],
            resources=defs.resources,
            tags={
                "dagster/asset_partition_range_start": partitions[0],
                "dagster/asset_partition_range_end": partitions[-1],
            },
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    if not result.success:
        raise RuntimeError(f"demo run failed: {result.run_id}")
    return report(settings, model, partitions, out)


def report(settings: Settings, model: str, partitions: list[str], out: TextIO) -> DemoReport:
    """Print and return what landed: the files, rows per `dt` and the current rows from the DuckDB catalog."""
    rep = DemoReport(lake_dir=settings.local_dir, catalog_file=duckdb_path(settings), partitions=partitions)
    rep.files = sorted(o.key for o in lake_storage(settings).list(f"{lake_folder(settings)}/{model}/"))
    with duckdb_catalog(settings) as duck:
        rows = duck.query(
            f"select dt, count(*) from \"{model}\" where dt between '{partitions[0]}' and '{partitions[-1]}' "
            "group by dt order by dt"
        )
        rep.rows_per_dt = {dt: 0 for dt in partitions} | {str(dt): int(n) for dt, n in rows}
        rep.current_rows = int(duck.query(f'select count(*) from "{model}_current"')[0][0])
    print(f"\nfiles written under {settings.local_dir}:", file=out)
    for key in rep.files:
        print(f"  {key}", file=out)
    print(f"\nrows per dt in {model} (DuckDB catalog {rep.catalog_file}):", file=out)
    for dt, n in rep.rows_per_dt.items():
        print(f"  {dt}  {n:>8,}", file=out)
    print(
        f"\n{model}_current: {rep.current_rows:,} rows (latest version of each record, deletes removed)",
        file=out,
    )
    query = f"duckdb.connect('{rep.catalog_file}').sql('select count(*) from {model}_current').show()"
    print(f'query it: .venv/bin/python -c "import duckdb; {query}"', file=out)
    return rep
