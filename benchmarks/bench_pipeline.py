"""Whole-path benchmark (issue 4): simulator -> S3 on a moto server, against pyarrow's own CSV -> Parquet.

One invocation, per row count:
  - serves a simulated tenant (as `python -m zuora_assets.sim` does: wall clock, 30 days of history, plus an
    optional burst of rows updated in one second) and a moto server (`python -m moto.server`), each in its
    own process so that their memory is not counted;
  - reference: downloads the AQuA CSV the client gets for the backfill window (same discovery, ZOQL and job
    options), then measures pyarrow's own streaming conversion of it (`pyarrow.csv.open_csv` with explicit
    column types -> `pyarrow.parquet.ParquetWriter` to a local file, with the lake's writer options);
  - direct: the real path without Dagster: `ZuoraClient` + `Extractor.extract` -> `write_transfer` (replace,
    one transfer per `dt`) -> `S3Storage` on moto, as the lake IO manager calls them;
  - dagster: a real `dg.materialize` of `zuora/invoice_item` over the same 31 partitions with the project's
    resources, configured by environment variables (AWS_BUCKET, AWS_ENDPOINT_URL=<moto>, ...).
Each measured phase runs in a fresh interpreter; its peak RSS is its own `ru_maxrss`. The rates of `direct`
and `dagster` count the whole path: AQuA job (the simulator evaluates the query and writes the CSV), download,
parse, Parquet, upload. A second ratio leaves out the wait for the AQuA job (the part that is our code).

    .venv/bin/python benchmarks/bench_pipeline.py                          # 2M invoice items, every path
    .venv/bin/python benchmarks/bench_pipeline.py --rows 1000000 2000000 4000000   # memory as rows grow
    .venv/bin/python benchmarks/bench_pipeline.py --rows 100000 --burst 2000000 --paths direct dagster
                                         # 2M rows in today's partition alone: the worst case for memory
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
PATHS = ("reference", "direct", "dagster")
STARTUP_SECONDS = 300
AIM_RATIO, AIM_RSS_MB = 0.5, 512
Figures = dict[str, Any]


# --- the window of a backfill of every day of history ------------------------------------------------------


def backfill_partitions(today: datetime | None = None) -> list[str]:
    """Every daily partition the assets have by default: today - 30 days .. today (31 `dt` keys)."""
    day = (today or datetime.now(UTC)).date()
    return [(day - timedelta(days=n)).isoformat() for n in range(HISTORY_DAYS, -1, -1)]


def backfill_window(partitions: list[str]) -> tuple[datetime, datetime]:
    """The replace window of the partition range, never past now (as `defs.assets.replace_window`)."""
    start = datetime.fromisoformat(partitions[0]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(partitions[-1]).replace(tzinfo=UTC) + timedelta(days=1)
    return start, min(end, datetime.now(UTC).replace(microsecond=0))


def peak_rss_mb() -> float:
    """This process's peak resident memory (`ru_maxrss`, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
def simulator(rows: int, options: Options) -> Iterator[Sim]:
    """A simulated tenant with `rows` invoice items over the last 30 days (wall clock), plus the burst."""
    spec = json.dumps([options.seed, options.accounts, rows, options.burst])
    argv = [sys.executable, __file__, "--serve-sim", spec]
    with server(argv, options.workdir / "sim.log", read_stdout=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # one line, then nothing
        if "listening on" not in line:
            raise SystemExit(f"the simulator did not start: {line!r}; see {options.workdir / 'sim.log'}")
        yield Sim(line.rsplit(" ", 1)[-1].strip(), proc.pid)


def serve_simulator(seed: int, accounts: int, rows: int, burst: int) -> None:
    """Entry point of the simulator process (as `python -m zuora_assets.sim`, plus an optional burst)."""
    import signal
    import threading

    from zuora_assets.sim import SimConfig, Simulator
    from zuora_assets.sim.__main__ import stop_on_sigterm

    sim = Simulator(SimConfig(seed=seed, accounts=accounts, days=HISTORY_DAYS, invoice_items=rows))
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

    from zuora_assets.lake.parquet import WRITER_OPTIONS

    schema = reference_schema(field_names)
    started, rows = time.perf_counter(), 0
    reader = pacsv.open_csv(
        csv_path,
        read_options=pacsv.ReadOptions(column_names=schema.names, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=schema, timestamp_parsers=TIMESTAMP_PARSERS),
    )
    target = Path(out_dir) / "reference.parquet"
    with pq.ParquetWriter(target, reader.schema, **WRITER_OPTIONS) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    seconds = time.perf_counter() - started
    figures = _written(rows, target.stat().st_size, 1)
    target.unlink()
    return {**figures, "seconds": seconds}


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

    The breakdown times the AQuA job (until `extract` returns), the downloads, the parsing (making the
    batches, less the downloads) and, as the rest, the lake (Parquet writing, uploads, manifests, replace).
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
    downloads, batches = Stopwatch(), Stopwatch()
    started = time.perf_counter()
    with ZuoraClient(*SIM_CLIENT, base_url=sim_url) as client:
        client.download = downloads.call(client.download)  # type: ignore[method-assign]
        extraction = Extractor(client, max_jobs_in_flight=4).extract(model(MODEL), *window)  # as ZuoraSource
        job = time.perf_counter() - started
        writes = write_transfer(
            storage, folder=FOLDER, model=MODEL, schema=extraction.schema,
            batches=batches.iterate(iter(extraction.batches)), partition_column=PARTITION_COLUMN,
            partitions=partitions, window=window, mode="replace", run_id="bench",
        )
    seconds = time.perf_counter() - started
    figures = _written(*(sum(getattr(w, key) for w in writes) for key in ("rows", "bytes")),
                       sum(len(w.files) for w in writes))
    breakdown = {"AQuA job": job, "download": downloads.seconds, "parse": batches.seconds - downloads.seconds,
                 "lake": seconds - job - batches.seconds}
    return {**figures, "seconds": seconds, "job_seconds": job, "breakdown": breakdown,
            "rss_after_imports_mb": after_imports}


def phase_dagster(partitions: list[str]) -> Figures:
    """A real Dagster run of `zuora/invoice_item` over the partition range, resources from the environment.

    The breakdown comes from the run's event log: run start to the asset's output (the AQuA job), the IO
    manager's handling of the output (download, parse and lake), and the rest (Dagster's own work).
    """
    import dagster as dg

    from zuora_assets.definitions import build_definitions

    after_imports = peak_rss_mb()
    defs = build_definitions(os.environ)
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = dg.materialize(
        list(defs.assets),
        selection=[f"zuora/{MODEL}"],
        resources=defs.resources,
        tags={"dagster/asset_partition_range_start": partitions[0],
              "dagster/asset_partition_range_end": partitions[-1]},
        instance=instance,
        raise_on_error=True,
    )
    seconds = time.perf_counter() - started
    metadata = [e.materialization.metadata for e in result.get_asset_materialization_events()]
    per_partition = [m for m in metadata if "rows" in m]  # one materialization per partition
    figures = _written(*(sum(m[key].value for m in per_partition) for key in ("rows", "bytes", "files")))
    breakdown = _run_breakdown(instance, result.run_id, seconds)
    return {**figures, "seconds": seconds, "job_seconds": breakdown.get("run start + AQuA job"),
            "breakdown": breakdown, "rss_after_imports_mb": after_imports}


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
    "reference": phase_reference, "direct": phase_direct, "dagster": phase_dagster,
}


def run_phase(name: str, args: list[Any], env: dict[str, str] | None = None) -> Figures:
    """Run one phase in a fresh interpreter; return its figures with its peak RSS."""
    out = subprocess.run([sys.executable, __file__, "--phase", name, json.dumps(args)],
                         capture_output=True, text=True, env=child_env(env))
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed (exit code {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(name: str, args_json: str) -> None:
    """Entry point of a phase subprocess: prints one JSON line of figures."""
    figures = PHASES[name](*json.loads(args_json))
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


# --- one row count ------------------------------------------------------------------------------------------


@dataclass
class Options:
    rows: list[int]
    accounts: int
    seed: int
    paths: list[str]
    burst: int
    repeat: int
    workdir: Path


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
    """The figures of the fastest run, with the highest peak RSS of them all."""
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def run_reference(sim: Sim, partitions: list[str], workdir: Path, repeat: int) -> Figures:
    """Download the reference CSV, then time pyarrow's conversion of it."""
    csv_path = workdir / "reference.csv"
    cpu = cpu_seconds(sim.pid)
    got = download_reference_csv(sim.url, partitions, csv_path)
    print(f"  reference CSV: {got['rows']:,} rows, {got['bytes'] / 1e6:,.0f} MB; its AQuA job took "
          f"{got['job_seconds']:.1f} s (simulator CPU {cpu_seconds(sim.pid) - cpu:.1f} s), "
          f"its download {got['download_seconds']:.1f} s")
    try:
        args = [str(csv_path), str(workdir), list(got["fields"])]
        return fastest([run_phase("reference", args) for _ in range(repeat)])
    finally:
        csv_path.unlink()


def run_ours(path: str, sim: Sim, endpoint: str, partitions: list[str], bucket: str) -> Figures:
    """One of our paths into a new bucket, with the simulator's CPU seconds during it."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    cpu = cpu_seconds(sim.pid)
    if path == "direct":
        figures = run_phase(path, [sim.url, endpoint, bucket, partitions])
    else:
        figures = run_phase(path, [partitions], dagster_env(sim.url, endpoint, bucket, partitions))
    return {**figures, "sim_cpu_seconds": cpu_seconds(sim.pid) - cpu}


def measure(rows: int, options: Options, endpoint: str) -> dict[str, Figures]:
    """Serve a tenant of `rows` invoice items and run the selected paths against it."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=60).raise_for_status()  # forget earlier row counts
    results: dict[str, Figures] = {}
    started = time.perf_counter()
    with simulator(rows, options) as sim:
        print(f"\n{rows:,} invoice items (+ {options.burst:,} in one second): simulator ready in "
              f"{time.perf_counter() - started:.1f} s at {sim.url}")
        partitions = backfill_partitions()
        if "reference" in options.paths:
            results["reference"] = run_reference(sim, partitions, options.workdir, options.repeat)
        for path in [p for p in ("direct", "dagster") if p in options.paths]:
            buckets = [f"bench-{path}-{i}" for i in range(options.repeat)]
            results[path] = fastest([run_ours(path, sim, endpoint, partitions, bucket) for bucket in buckets])
            print(f"  {path}: done in {results[path]['seconds']:.1f} s (fastest of {options.repeat})")
    return results


# --- report -------------------------------------------------------------------------------------------------

LABELS = {
    "reference": "pyarrow open_csv -> ParquetWriter (local CSV -> local file)",
    "direct": "ours: AQuA job + download + Extractor -> write_transfer -> S3 (moto)",
    "dagster": "ours: dg.materialize zuora/invoice_item (31 partitions) -> S3 (moto)",
}


def report(rows: int, options: Options, results: dict[str, Figures]) -> list[str]:
    """Print one paragraph per path, then the ratios; returns the aims missed."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n== {rows:,} invoice items + burst of {options.burst:,} "
          f"(load average now {load} on {os.cpu_count()} CPUs) ==")
    for path, r in results.items():
        _print_path(path, r)
    misses = [] if len({r["rows"] for r in results.values()}) <= 1 else [
        f"{rows:,}: the paths wrote different row counts: "
        + ", ".join(f"{p} {r['rows']:,}" for p, r in results.items())
    ]
    return misses + _aims(rows, results)


def _print_path(path: str, r: Figures) -> None:
    after = f" (after imports {r['rss_after_imports_mb']:.0f} MB)" if "rss_after_imports_mb" in r else ""
    rate = r["rows"] / r["seconds"]
    print(f"  {path:9s} {r['rows']:>10,} rows in {r['seconds']:6.1f} s = {rate:>9,.0f} rows/s, "
          f"peak RSS {r['peak_rss_mb']:4.0f} MB{after}; {r['files']} file(s), {r['bytes'] / 1e6:,.0f} MB")
    print(f"            {LABELS[path]}")
    if r.get("breakdown"):
        sim = f"; simulator CPU {r['sim_cpu_seconds']:.1f} s" if "sim_cpu_seconds" in r else ""
        print("            seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["breakdown"].items()) + sim)


def _aims(rows: int, results: dict[str, Figures]) -> list[str]:
    """Print the ratios to pyarrow (whole path, and without the AQuA job); return the aims missed."""
    misses, reference = [], results.get("reference")
    for path in ("direct", "dagster"):
        r = results.get(path)
        if r is None:
            continue
        if reference is not None:
            rate = reference["rows"] / reference["seconds"]
            ratio = r["rows"] / r["seconds"] / rate
            job = r.get("job_seconds")
            after_job = r["rows"] / (r["seconds"] - job) / rate if job else float("nan")
            print(f"  ratio {path}/pyarrow = {ratio:.2f} (aim >= {AIM_RATIO}); "
                  f"without the AQuA job: {after_job:.2f}")
            if ratio < AIM_RATIO:
                misses.append(f"{rows:,} rows, {path}: ratio {ratio:.2f} < {AIM_RATIO}")
        if r["peak_rss_mb"] > AIM_RSS_MB:
            misses.append(f"{rows:,} rows, {path}: peak RSS {r['peak_rss_mb']:.0f} MB > {AIM_RSS_MB} MB")
    return misses


def parse_options(workdir: Path) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000], help="invoice items (a run each)")
    parser.add_argument("--accounts", type=int, default=200, help="accounts of the simulated tenant")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated tenant")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="what to measure")
    parser.add_argument("--burst", type=int, default=0,
                        help="extra invoice items updated in one second now: today's partition gets them all")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each path this many times and keep the fastest (for a busy machine)")
    a = parser.parse_args()
    return Options(a.rows, a.accounts, a.seed, a.paths, a.burst, a.repeat, workdir)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench_pipeline-"))  # reference CSV and Parquet, server logs
    options = parse_options(workdir)
    misses: list[str] = []
    try:
        with moto_server(workdir) as endpoint:
            for rows in options.rows:
                misses += report(rows, options, measure(rows, options, endpoint))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = f", ratio >= {AIM_RATIO}" if "reference" in options.paths else ""
    checked = f"peak RSS < {AIM_RSS_MB} MB{ratio}"
    print(f"\naims met: {checked}" if not misses else "\naims missed:\n  " + "\n  ".join(misses))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--phase"]:
        child(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--serve-sim"]:
        serve_simulator(*json.loads(sys.argv[2]))
    else:
        main()
