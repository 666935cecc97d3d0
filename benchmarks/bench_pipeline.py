"""Whole-path benchmark (issues 4, 14): simulator -> S3 on a moto server, against pyarrow's own CSV -> Parquet.

Per scenario (`--scenario`, each alone or several in a row):
  month  2M invoice items over the 31 daily partitions of the default backfill (today - 30 days .. today);
  day    2M invoice items updated in one second today (a burst) and the partition of today alone;
  year   20M invoice items over 366 partitions (memory must not grow with the window; `--rows` scales it);
a simulated tenant (as `python -m zuora_assets.sim` serves it: wall clock, plus the burst) and a moto server
(`python -m moto.server`) run in their own processes, so neither their memory nor their CPU is counted. Paths:
  reference  pyarrow's own streaming conversion of the same AQuA CSV (downloaded once, then `open_csv` with
             explicit column types -> `ParquetWriter` to a local file, with the lake's writer options);
  direct     `ZuoraClient` + `Extractor.extract` -> `write_transfer` (replace) -> `S3Storage`, as the IO
             manager calls them, without Dagster;
  dagster    `dg.materialize` of `zuora/invoice_item` over the scenario's partitions, resources from the
             environment (AWS_BUCKET, AWS_ENDPOINT_URL=<moto>, ...);
  cli        `dagster asset materialize --select zuora/invoice_item --partition(-range) ...` in a subprocess
             with its own DAGSTER_HOME (the project's dagster.yaml: the step runs as the executor runs it).
Each path runs in a fresh interpreter. Reported per path: wall-clock seconds and their rate ratio to pyarrow;
CPU seconds of our processes only (user + system of the phase and its children, i.e. the CLI and its step
process; the simulator's and moto's CPU are reported apart) and their per-row ratio to pyarrow's; peak RSS of
the process that runs the step (`ru_maxrss` in-process; for the CLI, the kernel's VmHWM of each descendant,
sampled while it runs). One rate counts the whole path: AQuA job (Zuora, here the simulator, writing the CSV),
download, parse, Parquet, upload; the other starts when the job is complete, which is where our code starts to
work: the aims (`AIMS`) are on that one, since Zuora's job runs on Zuora's machines, not on the two cores that
the simulator shares with us here.

    .venv/bin/python benchmarks/bench_pipeline.py --scenario month day --repeat 3     # the issue-14 table
    .venv/bin/python benchmarks/bench_pipeline.py --scenario day --paths cli          # memory of one path
    .venv/bin/python benchmarks/bench_pipeline.py --scenario year                     # 20M rows, 366 days
    .venv/bin/python benchmarks/bench_pipeline.py --scenario month --paths direct --profile /tmp/prof
                                         # py-spy (if installed) samples each phase; top functions printed
    .venv/bin/python benchmarks/bench_pipeline.py --encoding                          # Parquet settings
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "invoice_item"
PARTITION_COLUMN = "updated_date"  # as in zuora_assets/defs/io_manager.py
HISTORY_DAYS = 30  # the simulator's default history and the partitions' default start (today - 30 days)
FOLDER = "zuora"  # the default AWS_FOLDER
REGION = "us-east-1"
SIM_CLIENT = ("sim-client-id", "sim-client-secret")
PATHS = ("reference", "direct", "dagster", "cli")
STARTUP_SECONDS = 300
ZUORA_MAX_FILE_BYTES = 2047 * 2**20  # Zuora's largest result file: a larger window is split (the year's is)
# of pyarrow's wall-clock rate, from the moment Zuora's job is complete (its file written): the job runs on
# Zuora's machines, here on the simulator's, which shares our two cores; the whole path is printed too. The
# CLI's run also runs the asset's checks (another AQuA job) in processes of their own: its rate and CPU are
# printed, its aim is memory.
AIMS = {"direct": 0.6, "dagster": 0.55}
AIM_CPU_PER_ROW, AIM_RSS_MB = 1.5, 512  # ours / pyarrow's CPU seconds per row; peak RSS of the step process
Figures = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """A simulated tenant (`rows` over `days` of history, plus `burst` rows updated in one second now) and the
    partitions the paths write: the whole history (today - `days` .. today) or today alone."""

    rows: int
    burst: int
    days: int
    today_only: bool = False


SCENARIOS = {
    "month": Scenario(rows=2_000_000, burst=0, days=HISTORY_DAYS),
    "day": Scenario(rows=30_000, burst=2_000_000, days=HISTORY_DAYS, today_only=True),
    "year": Scenario(rows=20_000_000, burst=0, days=365),
}


# --- the window of a backfill of every day of history ------------------------------------------------------


def backfill_partitions(days: int = HISTORY_DAYS, today: datetime | None = None) -> list[str]:
    """Every daily partition of `days` of history: today - `days` .. today (by default the assets' 31 `dt` keys)."""
    day = (today or datetime.now(UTC)).date()
    return [(day - timedelta(days=n)).isoformat() for n in range(days, -1, -1)]


def scenario_partitions(scenario: Scenario) -> list[str]:
    partitions = backfill_partitions(scenario.days)
    return partitions[-1:] if scenario.today_only else partitions


def backfill_window(partitions: list[str]) -> tuple[datetime, datetime]:
    """The replace window of the partition range, never past now (as `defs.assets.replace_window`)."""
    start = datetime.fromisoformat(partitions[0]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(partitions[-1]).replace(tzinfo=UTC) + timedelta(days=1)
    return start, min(end, datetime.now(UTC).replace(microsecond=0))


def peak_rss_mb() -> float:
    """This process's peak resident memory (`ru_maxrss`, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended (the CLI and its steps)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- servers in their own processes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sim:
    """A running simulator: its URL and process id."""

    url: str
    pid: int


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: fake AWS credentials, no AWS config files, no telemetry."""
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": str(ROOT),
        **(extra or {}),
    }


@contextmanager
def server(argv: list[str], log: Path, *, read_stdout: bool = False) -> Iterator[subprocess.Popen]:
    """Run `argv` (a server) for the duration of the block, its stderr into `log`, then stop it."""
    with open(log, "w") as err:
        stdout = subprocess.PIPE if read_stdout else subprocess.DEVNULL
        proc = subprocess.Popen(argv, stdout=stdout, stderr=err, text=True, env=child_env())
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """A moto server on 127.0.0.1; yields its endpoint."""
    endpoint = f"http://127.0.0.1:{_free_port()}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", endpoint.rsplit(":", 1)[1]]
    with server(argv, workdir / "moto.log") as proc:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(f"{endpoint}/moto-api/data.json"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the moto server did not start; see {workdir / 'moto.log'}")
            time.sleep(0.2)
        yield endpoint


@contextmanager
def simulator(scenario: Scenario, options: Options) -> Iterator[Sim]:
    """A simulated tenant of the scenario (wall clock): its invoice items over its days, plus the burst."""
    spec = json.dumps([options.seed, options.accounts, scenario.rows, scenario.burst, scenario.days])
    argv = [sys.executable, __file__, "--serve-sim", spec]
    with server(argv, options.workdir / "sim.log", read_stdout=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # one line, then nothing
        if "listening on" not in line:
            raise SystemExit(f"the simulator did not start: {line!r}; see {options.workdir / 'sim.log'}")
        yield Sim(line.rsplit(" ", 1)[-1].strip(), proc.pid)


def serve_simulator(seed: int, accounts: int, rows: int, burst: int, days: int = HISTORY_DAYS) -> None:
    """Entry point of the simulator process (as `python -m zuora_assets.sim`, plus an optional burst)."""
    import signal
    import threading

    from zuora_assets.sim import SimConfig, Simulator
    from zuora_assets.sim.__main__ import stop_on_sigterm

    sim = Simulator(SimConfig(seed=seed, accounts=accounts, days=days, invoice_items=rows,
                              max_file_bytes=ZUORA_MAX_FILE_BYTES))
    if burst:
        sim.add_burst("InvoiceItem", burst)  # updated in the current second: all in today's partition
    print(f"Zuora simulator listening on {sim.start()}", flush=True)
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # terminated: still remove its gigabytes of result files
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


# --- the reference CSV: the file the client downloads for the window ----------------------------------------


def download_reference_csv(sim_url: str, partitions: list[str], dest: Path) -> Figures:
    """Run the client's AQuA job for the window and save its CSV at `dest`; returns fields, rows and times."""
    from zuora_assets.zuora import describe
    from zuora_assets.zuora.aqua import AquaJobs, BatchResult
    from zuora_assets.zuora.catalog import model
    from zuora_assets.zuora.client import ZuoraClient
    from zuora_assets.zuora.zoql import ExportQuery, Window, select

    invoice_item = model(MODEL)
    with ZuoraClient(*SIM_CLIENT, base_url=sim_url) as client:
        names = tuple(f.name for f in describe.discovery(client, invoice_item).fields)
        zoql = select(invoice_item, names, Window.of(*backfill_window(partitions)))
        query = ExportQuery(MODEL, invoice_item, names, zoql, invoice_item.exports_deletes)
        started = time.perf_counter()
        result = AquaJobs(client).run([query])[MODEL]
        job_seconds = time.perf_counter() - started
        if not isinstance(result, BatchResult) or len(result.file_ids) != 1:
            raise SystemExit(f"the reference AQuA job did not give one file: {result}")
        size = client.download(f"/v1/files/{result.file_ids[0]}", dest)
    download_seconds = time.perf_counter() - started - job_seconds
    return {"fields": names, "rows": result.record_count, "bytes": size, "job_seconds": job_seconds,
            "download_seconds": download_seconds}


# Zuora datetimes with `dateTimeUtc` are `2026-11-01T12:34:56+0000`, but midnight Pacific comes as a bare date
# (~0.5% of UpdatedDate values, ~5% of ChargeDate): no single pyarrow timestamp type takes both with its
# ISO8601 parser (a tz-aware type refuses the bare date, a naive one the offset). So the reference reads them
# as naive UTC with these two parsers (a bare date becoming UTC midnight: fine for timing, not for the lake).
TIMESTAMP_PARSERS = ["%Y-%m-%dT%H:%M:%S+0000", "%Y-%m-%d"]


def reference_schema(field_names: list[str]):
    """The CSV's columns (snake_case fields, then `_deleted`) with the types the catalog gives them."""
    import pyarrow as pa

    from zuora_assets.zuora.catalog import model, snake_case

    invoice_item = model(MODEL)
    schema = invoice_item.arrow_schema(tuple(f for f in invoice_item.fields if f.name in set(field_names)))
    by_name = {f.name: f for f in schema}
    return pa.schema([by_name[snake_case(name)] for name in field_names] + [by_name["_deleted"]])


# --- the measured phases (each in a fresh interpreter) ------------------------------------------------------


def phase_reference(csv_path: str, out_dir: str, field_names: list[str]) -> Figures:
    """pyarrow's own streaming conversion: open_csv (explicit types) -> ParquetWriter, the lake's options."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from zuora_assets.lake import parquet

    schema = reference_schema(field_names)
    started, cpu, rows = time.perf_counter(), own_cpu_seconds(), 0
    reader = pacsv.open_csv(
        csv_path,
        read_options=pacsv.ReadOptions(column_names=schema.names, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=schema, timestamp_parsers=TIMESTAMP_PARSERS),
    )
    target = Path(out_dir) / "reference.parquet"
    options = parquet.writer_options(reader.schema) if hasattr(parquet, "writer_options") else parquet.WRITER_OPTIONS
    with pq.ParquetWriter(target, reader.schema, **options) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    seconds, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
    figures = _written(rows, target.stat().st_size, 1)
    target.unlink()
    return {**figures, "seconds": seconds, "cpu_seconds": cpu}


# --- Parquet encoding alternatives (--encoding) --------------------------------------------------------------

KEY_COLUMNS = ("id", "updated_date", "_deleted")  # what the `_current` view's dedupe reads of every row


def encoding_alternatives(schema) -> list[tuple[str, dict[str, Any], int]]:
    """(label, ParquetWriter options, row group Arrow bytes): the lake's choice, then one change at a time."""
    import pyarrow as pa

    from zuora_assets.lake.parquet import WRITER_OPTIONS, writer_options

    MiB = 1 << 20
    ours = writer_options(schema, ("id",))  # as the asset asks: its primary key without a dictionary
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    ids = [n for n in strings if n == "id" or n.endswith("_id")]
    plain = {**WRITER_OPTIONS, "compression_level": 3, "use_dictionary": True}
    out = [("lake (writer_options, unique id), 32 MiB groups", ours, 32 * MiB),
           ("before issue 14: zstd 3, dictionary+stats on all, 128 MiB", plain, 128 * MiB)]
    out += [(f"zstd level {level}", {**ours, "compression_level": level}, 32 * MiB) for level in (1, 3, 6, 9)]
    out += [("dictionary on every column", {**ours, "use_dictionary": True}, 32 * MiB),
            ("dictionary off for *_id columns", {**ours, "use_dictionary": [n for n in schema.names if n not in ids]},
             32 * MiB),
            ("dictionary off", {**ours, "use_dictionary": False}, 32 * MiB),
            ("statistics on every column", {**ours, "write_statistics": True}, 32 * MiB),
            ("statistics off for strings", {**ours, "write_statistics": [n for n in schema.names if n not in strings]},
             32 * MiB)]
    out += [(f"row groups of {mb} MiB", ours, mb * MiB) for mb in (8, 16, 64, 128)]
    return out


def phase_encoding(csv_path: str, out_dir: str, field_names: list[str]) -> Figures:
    """Write the reference CSV's rows (read once) with each alternative: seconds, CPU, bytes, and the bytes
    Athena scans for (a) the `_current` dedupe keys, (b) `select *` of one hour of `updated_date`."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = reference_schema(field_names)
    table = pacsv.read_csv(
        csv_path,
        read_options=pacsv.ReadOptions(column_names=schema.names, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=schema, timestamp_parsers=TIMESTAMP_PARSERS),
    )
    updated = table.column(PARTITION_COLUMN)
    import pyarrow.compute as pc

    bounds = pc.min_max(updated).as_py()
    hour_start = bounds["min"] + (bounds["max"] - bounds["min"]) / 2
    hour = (hour_start, hour_start + timedelta(hours=1))
    target = Path(out_dir) / "encoding.parquet"
    results = []
    for label, options, group_bytes in encoding_alternatives(table.schema):
        rows_per_group = max(1, table.num_rows * group_bytes // max(table.nbytes, 1))
        started, cpu = time.perf_counter(), time.process_time()
        pq.write_table(table, target, row_group_size=rows_per_group, **options)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        meta = pq.ParquetFile(target).metadata
        results.append({"label": label, "seconds": seconds, "cpu": cpu, "bytes": target.stat().st_size,
                        "row_groups": meta.num_row_groups, **_scanned(meta, hour)})
    target.unlink()
    return {"rows": table.num_rows, "arrow_bytes": table.nbytes, "alternatives": results}


def _scanned(meta, hour: tuple[datetime, datetime]) -> Figures:
    """Compressed bytes a reader fetches: the key columns of every row group; every column of the row groups
    whose `updated_date` statistics overlap `hour` (all of them when there are no statistics)."""
    keys = hour_bytes = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        columns = [group.column(c) for c in range(group.num_columns)]
        keys += sum(c.total_compressed_size for c in columns if c.path_in_schema in KEY_COLUMNS)
        stats = next((c.statistics for c in columns if c.path_in_schema == PARTITION_COLUMN), None)
        if stats is None or not stats.has_min_max or (stats.min <= hour[1] and stats.max >= hour[0]):
            hour_bytes += sum(c.total_compressed_size for c in columns)
    return {"key_bytes": keys, "hour_bytes": hour_bytes}


def print_encodings(figures: Figures) -> None:
    print(f"  encoding alternatives, {figures['rows']:,} rows ({figures['arrow_bytes'] / 1e6:,.0f} MB in Arrow), one file:")
    print(f"    {'alternative':58s} {'s':>5s} {'CPU s':>6s} {'MB':>6s} {'groups':>6s} {'keys MB':>8s} {'1 h MB':>7s}")
    for r in figures["alternatives"]:
        print(f"    {r['label']:58s} {r['seconds']:5.1f} {r['cpu']:6.1f} {r['bytes'] / 1e6:6.1f} {r['row_groups']:6d} "
              f"{r['key_bytes'] / 1e6:8.1f} {r['hour_bytes'] / 1e6:7.1f}")


class Stopwatch:
    """Seconds spent inside the calls and iterations it wraps (for the breakdown of a path)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def call(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed

    def iterate(self, items: Iterator[Any]) -> Iterator[Any]:
        while True:
            started = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - started
            yield item


def phase_direct(sim_url: str, endpoint: str, bucket: str, partitions: list[str]) -> Figures:
    """Our path without Dagster: Extractor -> write_transfer -> S3Storage, as the IO manager calls them.

    The breakdown times the AQuA job (until `extract` returns), the wait for the result file's first byte (a
    simulator that writes the file on its first download makes the client wait there), the time the lake
    waited for batches (download and parsing on their threads, less that wait) and, as the rest, the lake
    (Parquet writing, uploads, manifests, replace).
    """
    import boto3

    from zuora_assets.lake.s3 import S3Storage
    from zuora_assets.lake.transfer import write_transfer
    from zuora_assets.zuora.catalog import model
    from zuora_assets.zuora.client import ZuoraClient
    from zuora_assets.zuora.extract import Extractor

    after_imports = peak_rss_mb()
    session = boto3.Session(region_name=REGION)
    storage = S3Storage(session.client("s3", endpoint_url=endpoint), bucket, credentials=session.get_credentials)
    window = backfill_window(partitions)
    first_bytes, batches, jobs = Stopwatch(), Stopwatch(), Stopwatch()
    Extractor.run_queries = jobs.call(Extractor.run_queries)  # type: ignore[method-assign]  # every AQuA job
    started, cpu = time.perf_counter(), own_cpu_seconds()
    with ZuoraClient(*SIM_CLIENT, base_url=sim_url) as client:
        client.stream = first_bytes.call(client.stream)  # type: ignore[method-assign]
        extractor = Extractor(client, max_jobs_in_flight=4, **_budget("read_ahead_bytes"))
        extraction = extractor.extract(model(MODEL), *window)  # as ZuoraSource.extractor and the asset
        job = time.perf_counter() - started
        writes = write_transfer(
            storage, folder=FOLDER, model=MODEL, schema=extraction.schema,
            batches=batches.iterate(iter(extraction.batches)), partition_column=PARTITION_COLUMN,
            partitions=partitions, window=window, mode="replace", run_id="bench", **_budget("budget"),
            **({"unique_columns": ("id",)} if _budget("budget") else {}),  # as the asset passes them
        )
    seconds, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
    figures = _written(*(sum(getattr(w, key) for w in writes) for key in ("rows", "bytes")),
                       sum(len(w.files) for w in writes))
    breakdown = {"first AQuA job": job, "every AQuA job": jobs.seconds, "file's first byte": first_bytes.seconds,
                 "download + parse (waited for)": batches.seconds - first_bytes.seconds,
                 "lake": seconds - job - batches.seconds}
    return {**figures, "seconds": seconds, "cpu_seconds": cpu, "job_seconds": jobs.seconds, "breakdown": breakdown,
            "rss_after_imports_mb": after_imports}


def _budget(argument: str) -> dict[str, Any]:
    """The memory budget argument as the IO manager and ZuoraSource pass it (none before issue 14, so that this
    benchmark also measures older commits)."""
    try:
        from zuora_assets.lake.memory import DEFAULT_BUDGET
    except ImportError:
        return {}
    return {argument: DEFAULT_BUDGET.read_ahead_bytes if argument == "read_ahead_bytes" else DEFAULT_BUDGET}


def phase_dagster(partitions: list[str]) -> Figures:
    """A real Dagster run of `zuora/invoice_item` over the partition range, resources from the environment.

    The breakdown comes from the run's event log: run start to the asset's output (the AQuA job), the IO
    manager's handling of the output (download, parse and lake), and the rest (Dagster's own work).
    """
    import dagster as dg

    from zuora_assets.definitions import build_definitions
    from zuora_assets.zuora.extract import Extractor

    after_imports = peak_rss_mb()
    jobs = Stopwatch()
    Extractor.run_queries = jobs.call(Extractor.run_queries)  # type: ignore[method-assign]  # every AQuA job
    defs = build_definitions(os.environ)
    instance = dg.DagsterInstance.ephemeral()
    started, cpu = time.perf_counter(), own_cpu_seconds()
    result = dg.materialize(
        list(defs.assets),
        selection=[f"zuora/{MODEL}"],
        resources=defs.resources,
        tags={"dagster/asset_partition_range_start": partitions[0],
              "dagster/asset_partition_range_end": partitions[-1]},
        instance=instance,
        raise_on_error=True,
    )
    seconds, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
    metadata = [e.materialization.metadata for e in result.get_asset_materialization_events()]
    per_partition = [m for m in metadata if "rows" in m]  # one materialization per partition
    figures = _written(*(sum(m[key].value for m in per_partition) for key in ("rows", "bytes", "files")))
    breakdown = _run_breakdown(instance, result.run_id, seconds)
    breakdown["every AQuA job"] = jobs.seconds
    return {**figures, "seconds": seconds, "cpu_seconds": cpu, "job_seconds": jobs.seconds,
            "breakdown": breakdown, "rss_after_imports_mb": after_imports}


def phase_cli(partitions: list[str], dagster_home: str) -> Figures:
    """`dagster asset materialize` of `zuora/invoice_item` over the partitions, in a subprocess; the peak RSS is
    that of the process that ran the step (the largest of the CLI's process tree), sampled from /proc."""
    select = ["--partition", partitions[0]] if len(partitions) == 1 else [
        "--partition-range", f"{partitions[0]}...{partitions[-1]}"]
    argv = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "zuora_assets.definitions",
            "--select", f"zuora/{MODEL}", *select]
    started, cpu = time.perf_counter(), own_cpu_seconds()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "DAGSTER_HOME": dagster_home}, cwd=ROOT)
    peaks = ProcessTreePeaks(proc.pid)
    peaks.start()
    out, _ = proc.communicate()
    seconds, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
    peaks.stop()
    if proc.returncode != 0:
        raise SystemExit(f"dagster asset materialize failed ({proc.returncode}):\n{out[-4000:]}")
    rows = int(_ROWS_LOGGED.findall(out)[-1].replace(",", "")) if _ROWS_LOGGED.search(out) else 0
    return {**_written(rows, 0, 0), "seconds": seconds, "cpu_seconds": cpu, "step_rss_mb": peaks.step_mb(),
            "processes_mb": peaks.by_process()}


# the IO manager's closing log line: "<model>: <rows> rows, <MB> MB written, <rate> rows/s in <n> partition(s)"
_ROWS_LOGGED = __import__("re").compile(r"invoice_item: ([\d,]+) rows, [\d,.]+ MB written, [\d,]+ rows/s in \d+ part")


class ProcessTreePeaks:
    """Samples the kernel's peak RSS (VmHWM) of a process and its descendants while they run."""

    def __init__(self, root: int, every: float = 0.25):
        import threading

        self.root, self.every = root, every
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
                except OSError:
                    continue
                hwm = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM")), 0)
                known, peak = self.peaks.get(pid, ("", 0.0))
                self.peaks[pid] = (known or cmd, max(hwm, peak))  # an ended process has no command line
            self._stop.wait(self.every)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def step_mb(self) -> float:
        """The peak of the process that ran the asset's step: the first step subprocess (the asset check steps
        start after it, in their own processes: `by_process` lists them), else the CLI's own."""
        steps = [mb for _, (cmd, mb) in sorted(self.peaks.items()) if "spawn_main" in cmd or "execute_step" in cmd]
        return steps[0] if steps else max((mb for _, mb in self.peaks.values()), default=0.0)

    def by_process(self) -> list[tuple[str, float]]:
        """(pid and command line, peak MB) of every process seen, in the order they started (pids rise)."""
        return [(f"pid {pid}: {cmd[-100:]}", round(mb)) for pid, (cmd, mb) in sorted(self.peaks.items())]


def _run_breakdown(instance, run_id: str, seconds: float) -> dict[str, float]:
    """Seconds from the run's start to the asset's output, then to the handled output, then the rest."""
    at: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None:
            at.setdefault(entry.dagster_event.event_type_value, entry.timestamp)
    start, output, handled = (at.get(k) for k in ("PIPELINE_START", "STEP_OUTPUT", "HANDLED_OUTPUT"))
    if start is None or output is None or handled is None:
        return {}
    return {"run start + AQuA job": output - start, "download + parse + lake": handled - output,
            "dagster": seconds - (handled - start)}


def _written(rows: int, nbytes: int, files: int) -> Figures:
    return {"rows": rows, "bytes": nbytes, "files": files}


PHASES: dict[str, Callable[..., Figures]] = {
    "reference": phase_reference, "direct": phase_direct, "dagster": phase_dagster, "cli": phase_cli,
    "encoding": phase_encoding,
}
PROFILE_DIR: Path | None = None  # --profile: each phase runs under `py-spy record` into this folder


def run_phase(name: str, args: list[Any], env: dict[str, str] | None = None) -> Figures:
    """Run one phase in a fresh interpreter; return its figures with its peak RSS."""
    argv = [sys.executable, __file__, "--phase", name, json.dumps(args)]
    if PROFILE_DIR is not None:
        profile = PROFILE_DIR / f"{name}-{time.strftime('%H%M%S')}.txt"
        argv = [str(Path(sys.executable).with_name("py-spy")), "record", "-r", "50", "--threads", "--subprocesses",
                "-f", "raw", "-o", str(profile), "--", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, env=child_env(env))
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed (exit code {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def child(name: str, args_json: str) -> None:
    """Entry point of a phase subprocess: prints one JSON line of figures."""
    figures = PHASES[name](*json.loads(args_json))
    figures["peak_rss_mb"] = figures.pop("step_rss_mb", None) or peak_rss_mb()
    print(json.dumps(figures))


# --- one scenario -------------------------------------------------------------------------------------------


@dataclass
class Options:
    scenarios: list[str]
    rows: int | None
    accounts: int
    seed: int
    paths: list[str]
    repeat: int
    workdir: Path
    encoding: bool


def dagster_env(sim_url: str, endpoint: str, bucket: str, partitions: list[str]) -> dict[str, str]:
    """The settings of a Dagster run against the simulator and the moto server."""
    return {
        "AWS_BUCKET": bucket,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_AUTH_MODE": "keys",
        "AWS_BUCKET_REGION": REGION,
        "AWS_SCHEMA": "bench",
        "ZUORA_SIMULATOR_URL": sim_url,
        "ZUORA_START_DATE": partitions[0],
    }


def fastest(runs: list[Figures]) -> Figures:
    """The figures of the fastest run, with the least CPU and the highest peak RSS of them all."""
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "cpu_seconds": min(r["cpu_seconds"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def run_reference(sim: Sim, partitions: list[str], options: Options) -> Figures:
    """Download the reference CSV, then time pyarrow's conversion of it (and the encoding alternatives)."""
    workdir = options.workdir
    csv_path = workdir / "reference.csv"
    cpu = cpu_seconds(sim.pid)
    from zuora_assets.zuora.errors import ZuoraFileTooLargeError

    try:
        got = download_reference_csv(sim.url, partitions, csv_path)
    except ZuoraFileTooLargeError:  # the year: pyarrow's rate per row is measured on its last 31 days
        partitions = partitions[-(HISTORY_DAYS + 1):]
        got = download_reference_csv(sim.url, partitions, csv_path)
    print(f"  reference CSV ({partitions[0]}..{partitions[-1]}): {got['rows']:,} rows, {got['bytes'] / 1e6:,.0f} MB; its AQuA job took "
          f"{got['job_seconds']:.1f} s (simulator CPU {cpu_seconds(sim.pid) - cpu:.1f} s), "
          f"its download {got['download_seconds']:.1f} s")
    try:
        args = [str(csv_path), str(workdir), list(got["fields"])]
        if options.encoding:
            print_encodings(run_phase("encoding", args))
        return fastest([run_phase("reference", args) for _ in range(options.repeat)])
    finally:
        csv_path.unlink()


def run_ours(path: str, sim: Sim, endpoint: str, partitions: list[str], bucket: str, workdir: Path) -> Figures:
    """One of our paths into a new bucket, with the simulator's CPU seconds during it."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    cpu = cpu_seconds(sim.pid)
    env = dagster_env(sim.url, endpoint, bucket, partitions)
    try:
        if path == "direct":
            figures = run_phase(path, [sim.url, endpoint, bucket, partitions])
        elif path == "dagster":
            figures = run_phase(path, [partitions], env)
        else:
            home = Path(tempfile.mkdtemp(prefix=f"home-{bucket}-", dir=workdir))
            shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
            figures = run_phase(path, [partitions, str(home)], env)
    finally:  # moto keeps every object in memory: a year's bucket is GBs
        import requests

        requests.post(f"{endpoint}/moto-api/reset", timeout=60).raise_for_status()
    return {**figures, "sim_cpu_seconds": cpu_seconds(sim.pid) - cpu}


def measure(name: str, scenario: Scenario, options: Options, endpoint: str) -> dict[str, Figures]:
    """Serve the scenario's tenant and run the selected paths against it."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=60).raise_for_status()  # forget earlier buckets
    results: dict[str, Figures] = {}
    started = time.perf_counter()
    with simulator(scenario, options) as sim:
        partitions = scenario_partitions(scenario)
        print(f"\n{name}: {scenario.rows:,} invoice items over {scenario.days} days + {scenario.burst:,} in one "
              f"second, {len(partitions)} partition(s): simulator ready in {time.perf_counter() - started:.1f} s")
        if "reference" in options.paths or options.encoding:
            results["reference"] = run_reference(sim, partitions, options)
        for path in [p for p in PATHS[1:] if p in options.paths]:
            try:
                runs = [run_ours(path, sim, endpoint, partitions, f"bench-{name}-{path}-{i}", options.workdir)
                        for i in range(options.repeat)]
            except SystemExit as failed:  # one failed path does not lose the others' figures
                print(f"  {path}: FAILED: {str(failed)[-1500:]}")
                continue
            results[path] = fastest(runs)
            print(f"  {path}: done in {results[path]['seconds']:.1f} s (fastest of {options.repeat})")
    return results


# --- report -------------------------------------------------------------------------------------------------

LABELS = {
    "reference": "pyarrow open_csv -> ParquetWriter (local CSV -> local file)",
    "direct": "ours: AQuA job + download + Extractor -> write_transfer -> S3 (moto)",
    "dagster": "ours: dg.materialize zuora/invoice_item -> S3 (moto)",
    "cli": "ours: `dagster asset materialize` zuora/invoice_item (and its checks) -> S3 (moto); RSS of the asset's step",
}


def report(name: str, results: dict[str, Figures]) -> list[str]:
    """Print one paragraph per path, then the table of ratios; returns the aims missed."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n== {name} (load average now {load} on {os.cpu_count()} CPUs) ==")
    for path, r in results.items():
        _print_path(path, r)
    ours = {p: r for p, r in results.items() if p != "reference" and r["rows"]}
    misses = [] if len({r["rows"] for r in ours.values()}) <= 1 else [
        f"{name}: the paths wrote different row counts: " + ", ".join(f"{p} {r['rows']:,}" for p, r in ours.items())
        + " (the tenant runs on the wall clock: between the paths' exports, tombstones older than 30 days expire)"
    ]
    return misses + _table(name, results)


def _print_path(path: str, r: Figures) -> None:
    after = f" (after imports {r['rss_after_imports_mb']:.0f} MB)" if "rss_after_imports_mb" in r else ""
    rate = r["rows"] / r["seconds"] if r["rows"] else float("nan")
    print(f"  {path:9s} {r['rows']:>10,} rows in {r['seconds']:6.1f} s = {rate:>9,.0f} rows/s, CPU "
          f"{r['cpu_seconds']:5.1f} s, peak RSS {r['peak_rss_mb']:4.0f} MB{after}; {r['files']} file(s), "
          f"{r['bytes'] / 1e6:,.0f} MB")
    print(f"            {LABELS[path]}")
    if r.get("breakdown"):
        print("            seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["breakdown"].items()))
    if "sim_cpu_seconds" in r:
        print(f"            simulator CPU meanwhile {r['sim_cpu_seconds']:.1f} s (not counted as ours)")
    if r.get("processes_mb"):
        print("            peak RSS by process, in start order: " + "; ".join(f"{mb} MB {cmd}" for cmd, mb in r["processes_mb"]))


def _table(name: str, results: dict[str, Figures]) -> list[str]:
    """Print the ratios to pyarrow (wall-clock rate of the whole path and from the AQuA job's completion; CPU per
    row) and the peak RSS; return the aims missed."""
    misses, reference = [], results.get("reference")
    if reference is None:
        misses.append(f"{name}: no pyarrow reference in this run, so the ratios were not checked")
    print("  path      rate/pyarrow: whole path, after the AQuA job  CPU-per-row/pyarrow  peak RSS MB")
    for path in PATHS[1:]:
        r = results.get(path)
        if r is None:
            continue
        rate = cpu = after_job = float("nan")
        rows = r["rows"] or (reference or {}).get("rows", 0)
        if reference is not None and rows:
            ref_rate = reference["rows"] / reference["seconds"]
            rate = rows / r["seconds"] / ref_rate
            job = r.get("job_seconds")
            after_job = rows / (r["seconds"] - job) / ref_rate if job else float("nan")
            cpu = (r["cpu_seconds"] / rows) / (reference["cpu_seconds"] / reference["rows"])
            if path in AIMS and not after_job >= AIMS[path]:
                misses.append(f"{name}, {path}: rate ratio after the AQuA job {after_job:.2f} < {AIMS[path]}")
            if path in AIMS and cpu > AIM_CPU_PER_ROW:
                misses.append(f"{name}, {path}: CPU per row {cpu:.2f}x pyarrow's > {AIM_CPU_PER_ROW}x")
        print(f"  {path:9s} {rate:24.2f}  {after_job:18.2f}  {cpu:19.2f}  {r['peak_rss_mb']:11.0f}")
        if r["peak_rss_mb"] > AIM_RSS_MB:
            misses.append(f"{name}, {path}: peak RSS {r['peak_rss_mb']:.0f} MB > {AIM_RSS_MB} MB")
    return misses


def parse_options(workdir: Path) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=["month"], help="what to run (in order)")
    parser.add_argument("--rows", type=int, help="invoice items of every scenario (default: the scenario's)")
    parser.add_argument("--accounts", type=int, default=200, help="accounts of the simulated tenant")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated tenant")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="what to measure")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each path this many times and keep the fastest (for a busy machine)")
    parser.add_argument("--profile", type=Path, help="sample every phase with py-spy into this folder")
    parser.add_argument("--encoding", action="store_true",
                        help="also measure Parquet encoding alternatives on the reference CSV")
    a = parser.parse_args()
    global PROFILE_DIR
    if a.profile is not None:
        a.profile.mkdir(parents=True, exist_ok=True)
        PROFILE_DIR = a.profile
    return Options(a.scenario, a.rows, a.accounts, a.seed, a.paths, a.repeat, workdir, a.encoding)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench_pipeline-"))  # reference CSV and Parquet, server logs
    options = parse_options(workdir)
    misses: list[str] = []
    try:
        with moto_server(workdir) as endpoint:
            for name in options.scenarios:
                scenario = SCENARIOS[name]
                if options.rows is not None:
                    scenario = Scenario(options.rows if not scenario.burst else scenario.rows,
                                        options.rows if scenario.burst else 0, scenario.days, scenario.today_only)
                misses += report(name, measure(name, scenario, options, endpoint))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if PROFILE_DIR is not None:
        print_profiles(PROFILE_DIR)
    aims = ", ".join(f"{p} >= {a}" for p, a in AIMS.items())
    checked = (f"rate ratio after the AQuA job {aims}; their CPU per row <= {AIM_CPU_PER_ROW}x pyarrow's; "
               f"peak RSS <= {AIM_RSS_MB} MB")
    print(f"\naims met: {checked}" if not misses else f"\naims ({checked}) missed:\n  " + "\n  ".join(misses))


def print_profiles(folder: Path, top: int = 25) -> None:
    """The functions where each profiled phase spent its samples (self time, all threads), from py-spy's raw output."""
    for path in sorted(folder.glob("*.txt")):
        own: dict[str, int] = {}
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            frame = stack.rsplit(";", 1)[-1]
            own[frame] = own.get(frame, 0) + int(count)
        print(f"\nprofile {path.name}: {total} samples; self time by function")
        for frame, count in sorted(own.items(), key=lambda x: -x[1])[:top]:
            print(f"  {100 * count / max(total, 1):5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--phase"]:
        child(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--serve-sim"]:
        serve_simulator(*json.loads(sys.argv[2]))
    else:
        main()
