"""Helpers for tests that run the real Dagster assets: materialize a selection over a partition range."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.fs as pafs
import pytest

BUCKET = "zuora-lake-test"
FOLDER = "exports/zuora"
SCHEMA = "zuora_test"
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"  # the definitions, as reviewed
START_DAYS_AGO = 400  # the first partition day of the AWS test settings: a year of backfill fits


def moto_settings(endpoint: str, *, bucket: str, folder: str, schema: str, today: date | None = None
                  ) -> dict[str, str]:
    """The project's AWS settings for a bucket on a moto server, with moto's test keys (`today` as in `last_days`)."""
    return {
        "ZUORA_START_DATE": last_days(START_DAYS_AGO, today)[0],
        "AWS_BUCKET": bucket,
        "AWS_BUCKET_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_FOLDER": folder,
        "AWS_SCHEMA": schema,
        "AWS_QUERY_RESULTS_LOCATION": f"s3://{bucket}/athena-results/",
        "AWS_AUTH_MODE": "keys",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
    }


def last_days(n: int, today: date | None = None) -> list[str]:
    """The `n` days up to `today` (default: today's UTC date), oldest first."""
    today = today or datetime.now(UTC).date()
    return [(today - timedelta(days=k)).isoformat() for k in range(n - 1, -1, -1)]


def day_window(dt: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(dt).replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


def materialize(
    selection,
    partitions: list[str],
    *,
    tags: dict | None = None,
    instance=None,
    raise_on_error=True,
    clock=None,
    resources: dict | None = None,
):
    """One run of the selected assets over the partition range, with resources bound to os.environ.

    `clock` (an object with `now()` and `sleep()`) replaces the wall clock; `resources` override others.
    """
    from zuora_assets.definitions import build_definitions

    defs = build_definitions(os.environ, clock)
    range_tags = {
        "dagster/asset_partition_range_start": partitions[0],
        "dagster/asset_partition_range_end": partitions[-1],
    }
    return dg.materialize(
        list(defs.assets),
        selection=selection,
        resources={**defs.resources, **(resources or {})},
        tags={**range_tags, **(tags or {})},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


@pytest.fixture
def aws_env(moto, monkeypatch):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    env = moto_settings(moto.endpoint, bucket=BUCKET, folder=FOLDER, schema=SCHEMA)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ZUORA_CLIENT_ID", raising=False)
    return moto


def lake_keys(s3, model: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{FOLDER}/{model}/")
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def arrow_fs(moto) -> pafs.S3FileSystem:
    host = moto.endpoint.removeprefix("http://")
    return pafs.S3FileSystem(
        endpoint_override=host, scheme="http", access_key="testing", secret_key="testing", region="us-east-1"
    )
