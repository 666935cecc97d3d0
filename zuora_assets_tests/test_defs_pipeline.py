"""The real assets against a moto server: exact S3 layout, Hive-readable files, a Glue table that matches them."""

from __future__ import annotations

import re
from collections import Counter

import pyarrow.dataset as pads
import pyarrow.parquet as pq

from zuora_assets.athena.types import glue_type
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests.pipeline import (
    BUCKET,
    FOLDER,
    SCHEMA,
    arrow_fs,
    day_window,
    lake_keys,
    last_days,
    materialize,
)


def use_simulator(monkeypatch, sim):
    monkeypatch.setenv("ZUORA_SIMULATOR_URL", sim.base_url)


def busiest_day(sim, model: str) -> str:
    """The recent day with the most changes of `model` (so the test has files to look at)."""
    counts = {dt: sim.truth(model, *day_window(dt)).num_rows for dt in last_days(8)[:-1]}
    day = max(counts, key=counts.get)
    assert counts[day] > 0
    return day


def test_account_lands_in_s3_and_glue_with_the_exact_layout(aws_env, live_sim, monkeypatch):
    use_simulator(monkeypatch, live_sim)
    days = last_days(3)
    materialize(["zuora/account", "athena/account"], days)

    s3, glue = aws_env.client("s3"), aws_env.client("glue")
    keys = lake_keys(s3, "account")
    assert keys
    pattern = re.compile(rf"^{re.escape(FOLDER)}/account/dt=\d{{4}}-\d{{2}}-\d{{2}}/\d+_\d{{14}}\.parquet$")
    assert [k for k in keys if not pattern.match(k)] == []

    table = pads.dataset(
        f"{BUCKET}/{FOLDER}/account/", filesystem=arrow_fs(aws_env), partitioning="hive"
    ).to_table()
    rows_per_dt = Counter(table.column("dt").to_pylist())
    expected = {dt: live_sim.truth("account", *day_window(dt)).num_rows for dt in days}
    assert {dt: rows_per_dt.get(dt, 0) for dt in days} == expected

    glue_table = glue.get_table(DatabaseName=SCHEMA, Name="account")["Table"]
    file_schema = pq.read_schema(arrow_fs(aws_env).open_input_file(f"{BUCKET}/{keys[0]}"))
    assert [(c["Name"], c["Type"]) for c in glue_table["StorageDescriptor"]["Columns"]] == [
        (f.name, glue_type(f.type)) for f in file_schema
    ]
    assert glue_table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    params = glue_table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.range"].endswith(",NOW")
    assert params["storage.location.template"] == f"s3://{BUCKET}/{FOLDER}/account/dt=${{dt}}/"
    assert glue_table["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/{FOLDER}/account/"


def test_materializing_a_partition_twice_leaves_one_transfer(aws_env, live_sim, monkeypatch):
    use_simulator(monkeypatch, live_sim)
    day = [busiest_day(live_sim, "account")]
    materialize(["zuora/account"], day)
    first = lake_keys(aws_env.client("s3"), "account")
    materialize(["zuora/account"], day)
    second = lake_keys(aws_env.client("s3"), "account")

    def transfers(keys):
        return {k.rsplit("_", 1)[1] for k in keys}

    assert len(transfers(first)) == 1 and len(transfers(second)) == 1
    assert transfers(first) != transfers(second), "the second run is a new transfer that replaced the first"


def test_a_token_that_expires_mid_job_does_not_fail_the_run(aws_env, monkeypatch):
    monkeypatch.setenv("ZUORA_POLL_INITIAL_SECONDS", "1")  # polls span more than the token's 1 s life
    with Simulator(SimConfig(seed=3, accounts=20, days=5, token_expires_in=1, polls_to_complete=4)) as sim:
        use_simulator(monkeypatch, sim)
        day = last_days(2)[:1]
        result = materialize(["zuora/account"], day)
        assert result.success
        token_calls = [r for r in sim.requests() if r["path"] == "/oauth/token"]
        assert len(token_calls) >= 2, "the token expired during polling and was fetched again"
        landed = pads.dataset(
            f"{BUCKET}/{FOLDER}/account/", filesystem=arrow_fs(aws_env), partitioning="hive"
        )
        assert landed.count_rows() == sim.truth("account", *day_window(day[0])).num_rows
