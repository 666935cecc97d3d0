"""`make demo` end to end: the rows it reports are the accounts the simulator holds for those days."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb

from zuora_assets.defs.demo import run_demo
from zuora_assets_tests.pipeline import day_window


def test_demo_reports_the_simulators_accounts_per_day(tmp_path, live_sim, monkeypatch):
    monkeypatch.delenv("ZUORA_CLIENT_ID", raising=False)
    monkeypatch.delenv("AWS_BUCKET", raising=False)
    out = io.StringIO()
    report = run_demo(tmp_path / "lake", simulator_url=live_sim.base_url, days=7, out=out)

    expected = {dt: live_sim.truth("account", *day_window(dt)).num_rows for dt in report.partitions}
    assert report.rows_per_dt == expected
    assert sum(expected.values()) > 0, "the simulated tenant should change accounts every day"
    printed = out.getvalue()
    assert "EMBEDDED DEFAULT" in printed
    for dt, n in expected.items():
        assert f"{dt}  {n:>8,}" in printed
    assert report.files and all(f.startswith("zuora/account/dt=") for f in report.files)
    # The README's query, on the catalog file it names (`.lake/catalog.duckdb` by default).
    assert report.catalog_file.name == "catalog.duckdb"
    assert ".lake/catalog.duckdb" in (Path(__file__).parent.parent / "README.md").read_text()
    count = duckdb.connect(str(report.catalog_file)).execute("select count(*) from account_current").fetchone()[0]
    assert count == report.current_rows > 0
