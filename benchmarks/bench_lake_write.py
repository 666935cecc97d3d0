"""Benchmark of the lake's write path against pyarrow's own streaming CSV -> Parquet conversion.

Generates a CSV of invoice-item-like rows (21 columns: ids, decimals, dates, timestamps, strings), then runs,
each in a fresh subprocess (so its peak RSS, `ru_maxrss`, is its own):
  (a) pyarrow: open_csv (explicit schema) -> ParquetWriter to a local file;
  (b) lake:    the same CSV read as batches -> write_transfer (replace, one transfer per day) -> S3Storage
               on a moto server that runs in yet another process (its memory is not counted).
Prints rows/s of both, the ratio lake/pyarrow and the peak RSS of each phase.

    .venv/bin/python benchmarks/bench_lake_write.py [--rows 2000000] [--days 30] [--dir /tmp/bench_lake]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zuora_assets.lake.s3 import S3Storage  # noqa: E402
from zuora_assets.lake.transfer import write_transfer  # noqa: E402

START = datetime(2026, 10, 1)
BLOCK_SIZE = 1024 * 1024  # pyarrow reads ~40 blocks ahead: 16 MB blocks alone cost ~650 MB
BUCKET = "bench-lake"

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("account_id", pa.string()),
        ("invoice_id", pa.string()),
        ("subscription_id", pa.string()),
        ("rate_plan_charge_id", pa.string()),
        ("charge_name", pa.string()),
        ("sku", pa.string()),
        ("uom", pa.string()),
        ("processing_type", pa.string()),
        ("charge_amount", pa.decimal128(38, 9)),
        ("tax_amount", pa.decimal128(38, 9)),
        ("unit_price", pa.decimal128(38, 9)),
        ("balance", pa.decimal128(38, 9)),
        ("quantity", pa.int64()),
        ("service_start_date", pa.date32()),
        ("service_end_date", pa.date32()),
        ("charge_date", pa.timestamp("ms")),
        ("created_date", pa.timestamp("ms")),
        ("updated_date", pa.timestamp("ms")),
        ("created_by_id", pa.string()),
        ("updated_by_id", pa.string()),
    ]
)


def _ids(rng: np.random.Generator, n: int, pool: int) -> pa.Array:
    """32-hex-character ids drawn from a pool of `pool` distinct ones."""
    return pa.array(np.char.mod("8a8%029x", rng.integers(0, pool, n)).astype(object))


def _decimals(rng: np.random.Generator, n: int, high: float) -> pa.Array:
    """Amounts with two decimals, as text (e.g. `1234.05`), up to `high`."""
    cents = rng.integers(0, int(high * 100), n)
    whole = pa.array(cents // 100).cast(pa.string())
    fraction = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, fraction, ".")


def _chunk(rng: np.random.Generator, first: int, n: int, total: int, days: int) -> pa.Table:
    """Rows `first`..`first+n` of the CSV; updated_date rises steadily over `days` days."""
    span_ms = days * 86_400_000
    updated = (np.arange(first, first + n, dtype=np.int64) * span_ms) // total + int(START.timestamp() * 1000)
    words = np.array(["Monthly Fee", "Usage", "Setup", "Discount", "Support Plan", "Overage"], dtype=object)
    start_days = (updated // 86_400_000 - rng.integers(0, 30, n)).astype(np.int32)
    columns = {
        "id": pa.array(np.char.mod("8a8%029x", np.arange(first, first + n)).astype(object)),
        "account_id": _ids(rng, n, 50_000),
        "invoice_id": _ids(rng, n, 500_000),
        "subscription_id": _ids(rng, n, 80_000),
        "rate_plan_charge_id": _ids(rng, n, 200_000),
        "charge_name": pa.array(words[rng.integers(0, len(words), n)]),
        "sku": pa.array(np.char.mod("SKU-%05d", rng.integers(0, 2_000, n)).astype(object)),
        "uom": pa.array(np.array(["Each", "GB", "Hour", "User"], dtype=object)[rng.integers(0, 4, n)]),
        "processing_type": pa.array(
            np.array(["Charge", "Tax", "Discount"], dtype=object)[rng.integers(0, 3, n)]
        ),
        "charge_amount": _decimals(rng, n, 10_000),
        "tax_amount": _decimals(rng, n, 1_000),
        "unit_price": _decimals(rng, n, 500),
        "balance": _decimals(rng, n, 10_000),
        "quantity": pa.array(rng.integers(1, 1_000, n)),
        "service_start_date": pa.array(start_days, pa.date32()),
        "service_end_date": pa.array(start_days + 30, pa.date32()),
        "charge_date": pa.array(updated - rng.integers(0, 86_400_000, n), pa.timestamp("ms")),
        "created_date": pa.array(updated - rng.integers(0, 10 * 86_400_000, n), pa.timestamp("ms")),
        "updated_date": pa.array(updated, pa.timestamp("ms")),
        "created_by_id": _ids(rng, n, 50),
        "updated_by_id": _ids(rng, n, 50),
    }
    return pa.table(columns)


def generate_csv(path: Path, rows: int, days: int) -> None:
    """Write the benchmark CSV (skipped if a complete one for these figures exists)."""
    marker = path.with_suffix(".json")
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == {"rows": rows, "days": days}:
        return
    rng = np.random.default_rng(7)
    with pacsv.CSVWriter(path, _chunk(rng, 0, 1, rows, days).schema) as writer:
        for first in range(0, rows, 200_000):
            writer.write_table(_chunk(rng, first, min(200_000, rows - first), rows, days))
    marker.write_text(json.dumps({"rows": rows, "days": days}))


def csv_batches(path: Path):
    """The CSV as record batches of SCHEMA, streamed."""
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE),
        convert_options=pacsv.ConvertOptions(column_types=SCHEMA, include_columns=SCHEMA.names),
    )
    yield from reader


def phase_pyarrow(csv: Path, out_dir: Path) -> dict:
    """(a) pyarrow's own streaming conversion: open_csv -> ParquetWriter, same codec and timestamps."""
    rows = 0
    target = out_dir / "pyarrow.parquet"
    with pq.ParquetWriter(target, SCHEMA, compression="zstd", coerce_timestamps="ms") as writer:
        for batch in csv_batches(csv):
            writer.write_batch(batch)
            rows += batch.num_rows
    return {"rows": rows, "bytes": target.stat().st_size}


def phase_lake(csv: Path, endpoint: str, days: int) -> dict:
    """(b) our path: the CSV's batches -> write_transfer -> S3Storage on the moto server."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    dts = [(START + timedelta(days=i)).date().isoformat() for i in range(days)]
    writes = write_transfer(
        S3Storage(client, BUCKET),
        folder="zuora",
        model="invoice_item",
        schema=SCHEMA,
        batches=csv_batches(csv),
        partition_column="updated_date",
        partitions=dts,
        window=(START.replace(tzinfo=UTC), (START + timedelta(days=days)).replace(tzinfo=UTC)),
        mode="replace",
        run_id="bench",
    )
    return {
        "rows": sum(w.rows for w in writes),
        "bytes": sum(w.bytes for w in writes),
        "files": sum(len(w.files) for w in writes),
    }


def run_phase(args: list[str]) -> dict:
    """Run one phase in a fresh interpreter; return its figures, elapsed seconds and peak RSS."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(argv: list[str]) -> None:
    """Entry point of a phase subprocess: prints one JSON line of figures."""
    phase, csv = argv[0], Path(argv[1])
    started = time.perf_counter()
    if phase == "pyarrow":
        figures = phase_pyarrow(csv, Path(argv[2]))
    else:
        figures = phase_lake(csv, argv[2], int(argv[3]))
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def moto_server() -> None:
    """Entry point of the moto server subprocess: prints its endpoint, serves until stdin closes."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench_lake")
    options = parser.parse_args()
    options.dir.mkdir(parents=True, exist_ok=True)
    csv = options.dir / f"invoice_items_{options.rows}.csv"

    started = time.perf_counter()
    generate_csv(csv, options.rows, options.days)
    print(
        f"CSV: {csv} ({csv.stat().st_size / 1e6:.0f} MB, {options.rows:,} rows, {len(SCHEMA)} columns), "
        f"ready in {time.perf_counter() - started:.1f} s"
    )

    a = run_phase(["--phase", "pyarrow", str(csv), str(options.dir)])
    server = subprocess.Popen(
        [sys.executable, __file__, "--moto"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        endpoint = server.stdout.readline().strip()
        b = run_phase(["--phase", "lake", str(csv), endpoint, str(options.days)])
    finally:
        server.stdin.close()
        server.wait(timeout=30)

    for name, figures in (("(a) pyarrow CSV->Parquet", a), ("(b) lake write_transfer->S3", b)):
        rate = figures["rows"] / figures["seconds"]
        print(
            f"{name:30s} {figures['rows']:>10,} rows in {figures['seconds']:6.1f} s = {rate:>10,.0f} rows/s, "
            f"{figures['bytes'] / 1e6:7.1f} MB parquet, peak RSS {figures['peak_rss_mb']:6.0f} MB"
        )
    ratio = (b["rows"] / b["seconds"]) / (a["rows"] / a["seconds"])
    print(
        f"ratio lake/pyarrow = {ratio:.2f} (aim >= 0.5); lake files: {b['files']} in {options.days} partitions; "
        f"peak RSS aim < 512 MB"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--phase"]:
        child(sys.argv[2:])
    elif sys.argv[1:2] == ["--moto"]:
        moto_server()
    else:
        main()
