"""The loaded definitions: a snapshot of what the UI shows, and the CLI's own validation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from zuora_assets.definitions import build_definitions
from zuora_assets.zuora.catalog import MODELS

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
ROOT = Path(__file__).parent.parent


def describe(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
            "code_version": node.code_version,
            "partitioned": node.partitions_def is not None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
        }
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "checks": checks,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "schedules": sorted(s.name for s in repo.schedule_defs),
    }


def test_definitions_match_the_snapshot():
    current = describe(build_definitions({}))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), "definitions changed: review, then UPDATE_SNAPSHOTS=1"


def test_every_model_has_its_assets_checks_sensor_and_schedule():
    snap = describe(build_definitions({}))
    for name in MODELS:
        assert snap["assets"][f"zuora/{name}"]["kinds"] == ["local", "parquet", "zuora"]
        assert snap["assets"][f"athena/{name}"]["kinds"] == ["duckdb"] and not snap["assets"][f"zuora/{name}"]["owners"]
        assert snap["assets"][f"athena/{name}"]["deps"] == [f"zuora/{name}"]
        assert f"zuora/{name}:rows_match_zuora" in snap["checks"]
        assert f"athena/{name}:columns_match_files" in snap["checks"]
        assert f"zuora/{name}:yesterday_by_deadline" in snap["checks"]
    assert "zuora_changes" in snap["sensors"] and "nightly_consolidation" in snap["schedules"]
    assert "test_connection" in snap["jobs"] and "zuora_sync" in snap["jobs"]
    assert "zuora_freshness" in snap["schedules"]


def test_the_cli_loads_the_workspace_like_the_ui():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZUORA_", "AWS_BUCKET"))}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location zuora_assets" in done.stdout + done.stderr


def test_the_definitions_load_without_a_single_warning():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZUORA_", "AWS_BUCKET"))}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import zuora_assets.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
