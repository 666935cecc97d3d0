"""A single-run backfill through the real assets: one transfer per day under one timestamp, one set of export
jobs, and an independent reader that sees exactly the simulator's rows."""

import re
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from zuora_assets.sim.config import JobTiming
from zuora_assets_tests.pipeline import day_window, last_days, materialize

MODEL = "invoice_item"


@pytest.fixture
def local_tenant(local_lake, serve):
    return serve(seed=21, accounts=25, days=30)


def by_id(table: pa.Table, columns: list[str]) -> pa.Table:
    return table.select(columns).sort_by("id")


def test_thirty_day_backfill_is_one_run_one_job_set_and_one_transfer_per_day(local_tenant, local_lake):
    days = last_days(30)
    local_tenant.clear_requests()
    with dg.instance_for_test() as instance:
        result = materialize([f"zuora/{MODEL}"], days, instance=instance)
        events = result.get_asset_materialization_events()

    submits = [r for r in local_tenant.requests() if r["method"] == "POST" and r["path"] == "/v1/batch-query/"]
    assert len(submits) == 1, "the whole range is one AQuA job, not one per day"

    lake = local_lake / "zuora" / MODEL
    expected = {dt: local_tenant.truth(MODEL, *day_window(dt)).num_rows for dt in days}
    for dt in days:
        files = list((lake / f"dt={dt}").glob("*.parquet"))
        assert len({f.name.split("_")[1] for f in files}) == (1 if expected[dt] else 0)
    stamps = {f.name.split("_")[1] for f in lake.glob("*/*.parquet")}
    assert len(stamps) == 1, "one run is one transfer: every partition carries its snapshot's timestamp"

    per_partition = {m.partition: m.metadata for m in (ev.event_specific_data.materialization for ev in events)}
    assert sorted(per_partition) == days
    for dt, metadata in per_partition.items():
        assert metadata["dagster/partition_row_count"].value == expected[dt]
        assert metadata["dagster/uri"].value.endswith(f"{MODEL}/dt={dt}/")
        assert "dagster/column_schema" in metadata and metadata["rows_per_second"].value >= 0


def test_independent_readers_return_exactly_the_simulators_rows(local_tenant, local_lake):
    days = last_days(30)
    materialize([f"zuora/{MODEL}"], days)
    start = datetime.fromisoformat(days[0]).replace(tzinfo=UTC)
    truth = local_tenant.truth(MODEL, start, datetime.fromisoformat(days[-1]).replace(tzinfo=UTC) + timedelta(days=1))
    assert truth.num_rows > 0 and pa.compute.any(truth.column("_deleted")).as_py(), "tombstones included"
    columns = truth.column_names

    dataset = pads.dataset(local_lake / "zuora" / MODEL, format="parquet", partitioning="hive")
    from_arrow = dataset.to_table()
    assert by_id(from_arrow, columns).equals(by_id(truth, columns))
    assert set(from_arrow.column("dt").to_pylist()) <= set(days)

    glob = str(local_lake / "zuora" / MODEL / "*" / "*.parquet")
    from_duckdb = duckdb.sql(
        f"select * exclude (dt) from read_parquet('{glob}', hive_partitioning=true, union_by_name=true)"
    ).arrow()
    from_duckdb = from_duckdb.read_all() if hasattr(from_duckdb, "read_all") else from_duckdb
    assert by_id(from_duckdb, columns).cast(truth.select(columns).schema).equals(by_id(truth, columns))


@pytest.mark.slow
def test_backfill_with_realistic_job_timing_is_exact_and_logs_the_job_states(local_lake, serve):
    """Jobs that queue and run for seconds (JobTiming.realistic, on the wall clock): the run waits them out,
    writes exactly the simulator's rows, and its log shows each job state as it passes."""
    tenant = serve(seed=5, accounts=8, days=5, job_timing=JobTiming.realistic())
    days = last_days(5)
    with dg.instance_for_test() as instance:
        result = materialize([f"zuora/{MODEL}"], days, instance=instance)
        logs = [e.user_message for e in instance.all_logs(result.run_id) if "AQuA job" in (e.user_message or "")]
    states = [re.search(r"AQuA job \w+ (?:still )?(\w+)", m).group(1) for m in logs]
    assert states[0] == "submitted" and states[-1] == "completed", logs
    assert "executing" in states[1:-1], logs
    jobs = [r for r in tenant.requests() if r["method"] == "GET" and r["path"].startswith("/v1/batch-query/jobs/")]
    assert len(jobs) >= 3  # it polled while the job queued and ran

    start, end = day_window(days[0])[0], day_window(days[-1])[1]
    truth = tenant.truth(MODEL, start, end)
    lake = pads.dataset(local_lake / "zuora" / MODEL, format="parquet", partitioning="hive").to_table()
    assert truth.num_rows > 0 and by_id(lake, truth.column_names).equals(by_id(truth, truth.column_names))
