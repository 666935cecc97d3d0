"""A full sync of every model under moto's IAM enforcement with exactly the seed's policy: role mode and keys mode.

One Dagster run materializes all 28 `zuora/<model>` and 28 `athena/<model>` assets over the last days of a
small simulated tenant; a second run replaces one partition (exercising s3:DeleteObject). Then the files,
their row counts per `dt`, the 28 Glue tables and the 28 `<model>_current` views are checked.
"""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest
from dagster._serdes import serialize_value

from zuora_assets.defs.resources import aws_clients
from zuora_assets.iam import permissions_policy
from zuora_assets.settings import Settings
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.zuora.catalog import MODELS
from zuora_assets_tests.iam_moto import (
    ACCOUNT_ID,
    ROLE_ARN,
    create_bucket,
    create_role,
    create_user,
    enforce_iam,
    exact_seed_policy,
    moto_resource_arns,  # noqa: F401  (a fixture, used by every test here)
)
from zuora_assets_tests.pipeline import day_window, last_days, materialize

BUCKET = "zuora-lake-iam"
REGION = "eu-west-1"
SCHEMA = "zuora_iam"
FOLDER = "zuora"  # the default AWS_FOLDER
EXTERNAL_ID = "zuora-ext-5b21e0"
DAYS = 3
ALL_ASSETS = [f"{group}/{name}" for group in ("zuora", "athena") for name in MODELS]

pytestmark = pytest.mark.usefixtures("moto_resource_arns")


@pytest.fixture(scope="module")
def tenant():
    """A small tenant whose whole history falls in the synced days (read only: tests share it)."""
    with Simulator(SimConfig(seed=23, accounts=8, days=DAYS - 1)) as sim:
        yield sim


@pytest.fixture
def aws_env(moto, monkeypatch, tenant):
    """The bucket-side settings for the moto server and the simulator; each test adds its credentials."""
    env = {
        "AWS_BUCKET": BUCKET,
        "AWS_BUCKET_REGION": REGION,
        "ZUORA_START_DATE": last_days(DAYS)[0],
        "AWS_SCHEMA": SCHEMA,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "ZUORA_SIMULATOR_URL": tenant.base_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("ZUORA_CLIENT_ID", "ZUORA_CLIENT_SECRET", "ZUORA_BASE_URL", "ZUORA_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    aws_clients.cache_clear()
    yield env
    aws_clients.cache_clear()


def role_credentials(moto, monkeypatch) -> None:
    """Role mode: a role holding exactly the seed's policy, assumed with its external id by a deployer user."""
    env = {"AWS_AUTH_MODE": "role", "AWS_ROLE_ARN": ROLE_ARN, "AWS_EXTERNAL_ID": EXTERNAL_ID}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    deployer = create_role(moto, Settings.from_env().aws, exact_seed_policy(BUCKET, SCHEMA))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", deployer.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", deployer.secret_access_key)


def keys_credentials(moto, monkeypatch) -> None:
    """Keys mode: an IAM user holding exactly the seed's policy."""
    user = create_user(moto, "transfer-service", exact_seed_policy(BUCKET, SCHEMA))
    for name, value in {
        "AWS_AUTH_MODE": "keys",
        "AWS_ACCESS_KEY_ID": user.access_key_id,
        "AWS_SECRET_ACCESS_KEY": user.secret_access_key,
    }.items():
        monkeypatch.setenv(name, value)


CREDENTIALS = {"role": role_credentials, "keys": keys_credentials}


@pytest.mark.slow  # every model under IAM enforcement, benchmark-sized
@pytest.mark.parametrize("mode", CREDENTIALS)
def test_full_sync_of_every_model_with_exactly_the_seed_policy(moto, aws_env, tenant, monkeypatch, mode):
    CREDENTIALS[mode](moto, monkeypatch)
    create_bucket(moto, BUCKET, REGION)
    assert permissions_policy(Settings.from_env().aws, ACCOUNT_ID) == exact_seed_policy(BUCKET, SCHEMA)
    enforce_iam(moto)
    days = last_days(DAYS)

    assert materialize(ALL_ASSETS, days).success
    moto.set_iam_enforcement(False)  # inspect as moto's admin
    first = lake_keys(moto, "account")
    replaced_day = busiest_day(tenant, "account", days)
    enforce_iam(moto)
    assert materialize(["zuora/account"], [replaced_day]).success

    moto.set_iam_enforcement(False)
    assert_every_model_landed(moto, tenant, days)
    assert_replaced(first, lake_keys(moto, "account"), replaced_day)
    assert_tables_and_views(moto)


def lake_keys(moto, model: str) -> list[str]:
    """Every object under the model's folder (read as moto's admin: call with IAM enforcement off)."""
    s3 = moto.client("s3", region=REGION)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{FOLDER}/{model}/")
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def busiest_day(sim, model: str, days: list[str]) -> str:
    counts = {dt: sim.truth(model, *day_window(dt)).num_rows for dt in days}
    return max(counts, key=counts.get)


def rows_per_day(moto, model: str) -> dict[str, int]:
    """Rows of the model's Parquet files per `dt`, read through pyarrow's S3 filesystem."""
    fs = pafs.S3FileSystem(
        endpoint_override=moto.endpoint.removeprefix("http://"),
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region=REGION,
    )
    dataset = pads.dataset(
        f"{BUCKET}/{FOLDER}/{model}/", filesystem=fs, partitioning="hive", format="parquet"
    )
    return dict(Counter(dataset.to_table(columns=["dt"]).column("dt").to_pylist()))


def assert_every_model_landed(moto, sim, days: list[str]) -> None:
    """Each model's files hold, per day, exactly the changes the tenant has; models without changes have none."""
    expected = {
        name: {dt: n for dt in days if (n := sim.truth(name, *day_window(dt)).num_rows)} for name in MODELS
    }
    assert sum(bool(per_day) for per_day in expected.values()) >= len(MODELS) // 2, "too few models changed"
    landed = {name: rows_per_day(moto, name) if lake_keys(moto, name) else {} for name in MODELS}
    assert landed == expected


def assert_replaced(first: list[str], second: list[str], day: str) -> None:
    """The second run wrote a new transfer for `day` and deleted the first one's files of that day."""
    prefix = f"{FOLDER}/account/dt={day}/"
    before = [k for k in first if k.startswith(prefix)]
    after = [k for k in second if k.startswith(prefix)]
    assert before and after and not set(before) & set(after), (before, after)
    assert [k for k in first if not k.startswith(prefix)] == [k for k in second if not k.startswith(prefix)]


def assert_tables_and_views(moto) -> None:
    """One external table per model and one `<model>_current` view per model, nothing else, in the schema."""
    glue = moto.client("glue", region=REGION)
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=SCHEMA)
    kinds = {t["Name"]: t["TableType"] for page in pages for t in page["TableList"]}
    expected = {name: "EXTERNAL_TABLE" for name in MODELS} | {
        f"{name}_current": "VIRTUAL_VIEW" for name in MODELS
    }
    assert kinds == expected


# Without a fail-fast AssumeRole failure the step is retried after about 30, 60 and 120 s: fail well before.
@pytest.mark.timeout(90)
def test_a_refused_assume_role_fails_the_sync_at_once_naming_the_external_id(moto, aws_env, monkeypatch):
    role_credentials(moto, monkeypatch)
    create_bucket(moto, BUCKET, REGION)
    enforce_iam(moto)
    monkeypatch.setenv("AWS_EXTERNAL_ID", "not-the-agreed-id")

    result = materialize(["zuora/account"], last_days(1), raise_on_error=False)

    assert not result.success
    events = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events, (
        "a refused AssumeRole cannot be fixed by a retry"
    )
    [failure] = result.get_step_failure_events()
    message = serialize_value(failure.event_specific_data)  # error, description, metadata
    assert "AssumeRole was denied" in message and "AWS_EXTERNAL_ID" in message, message
    assert "not-the-agreed-id" not in message and EXTERNAL_ID not in message
