"""Production, apart from the containers: PostgreSQL storage, and webserver, daemon and code server as three processes.

The deployment is rendered from settings as an operator would (`render-ecs`); each service starts from its
task definition's command and environment, its secrets read by ARN from Secrets Manager (on moto), as ECS
starts it. The instance settings are deploy/dagster.yaml with one change: the default run launcher instead of
EcsRunLauncher (there are no containers here), so the daemon hands runs to the code server over gRPC. Then
the end-to-end path of `test_e2e_dagster_dev` runs against the simulator and moto (a GraphQL backfill, the
sensor's append run, the `_current` views), the nightly consolidation too, and every table of the fresh
Postgres database, every compute log in S3 and every service's output is searched for every secret's value.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import quote, quote_plus

import pytest

from zuora_assets.deployment import ecs
from zuora_assets.deployment.settings import DeploySettings
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests import dagster_dev as dd
from zuora_assets_tests import test_e2e_dagster_dev as e2e
from zuora_assets_tests.deploy_support import (
    OPERATOR_SETTINGS,
    ProductionServices,
    production_instance_yaml,
    store_secrets,
)
from zuora_assets_tests.pipeline import START_DAYS_AGO, last_days
from zuora_assets_tests.postgres import fresh_database, table_contents
from zuora_assets_tests.time_support import ShiftedClock

REGION = "us-east-1"  # moto's
LOGS_BUCKET = "zuora-dagster-logs"
LOGS_PREFIX = "dagster/compute-logs"
CLIENT_ID = "prod-client-3b7e"
SECRETS = {
    "ZUORA_CLIENT_SECRET": "zsecret-prod-8c41d2f7",
    "AWS_ACCESS_KEY_ID": "AKIAPRODTEST5D2E9F1C",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-prod-0e6b4a93d1",
    "DEPLOY_POSTGRES_PASSWORD": "pg-password-prod-71c2e9",  # trust auth: the server ignores it, the search does not
}
DEFAULT_RUN_LAUNCHER = {"module": "dagster", "class": "DefaultRunLauncher"}


@pytest.fixture
def clock() -> ShiftedClock:
    return e2e.noon_clock()


@pytest.fixture
def tenant(clock):
    """The end-to-end test's tenant, accepting only this deployment's OAuth client."""
    config = SimConfig(seed=17, accounts=12, days=10, now=e2e.midnight_before(clock) - timedelta(hours=1),
                       client_id=CLIENT_ID, client_secret=SECRETS["ZUORA_CLIENT_SECRET"])
    with Simulator(config) as sim:
        yield sim


@pytest.fixture
def database():
    with fresh_database() as db:
        yield db


def deployment_settings(tenant: Simulator, database, arns: dict[str, str], today: date) -> dict[str, str]:
    """What the operator sets to render this deployment: the fresh database, moto's secrets, keys mode."""
    settings = {k: v for k, v in OPERATOR_SETTINGS.items() if not k.startswith(("ZUORA_", "AWS_"))}
    return {
        **settings,
        "DEPLOY_REGION": REGION,
        "DEPLOY_POSTGRES_HOST": database.host,
        "DEPLOY_POSTGRES_PORT": str(database.port),
        "DEPLOY_POSTGRES_DB": database.name,
        "DEPLOY_POSTGRES_USER": database.user,
        "DEPLOY_LOGS_BUCKET": LOGS_BUCKET,
        "DEPLOY_LOGS_PREFIX": LOGS_PREFIX,
        **{f"{name}_ARN": arn for name, arn in arns.items()},
        "ZUORA_BASE_URL": tenant.base_url,
        "ZUORA_CLIENT_ID": CLIENT_ID,
        "ZUORA_START_DATE": last_days(START_DAYS_AGO, today)[0],
        "AWS_BUCKET": e2e.BUCKET,
        "AWS_BUCKET_REGION": REGION,
        "AWS_FOLDER": e2e.FOLDER,
        "AWS_SCHEMA": e2e.SCHEMA,
        "AWS_QUERY_RESULTS_LOCATION": f"s3://{e2e.BUCKET}/athena-results/",
        "AWS_AUTH_MODE": "keys",
        # The e2e test's timing (tuning variables reach the code server and the runs like any setting).
        "ZUORA_LAG_SECONDS": "0",
        "ZUORA_SENSOR_INTERVAL_SECONDS": "5",
        "ZUORA_POLL_INITIAL_SECONDS": "0.05",
    }


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the waits inside are bounded; this only stops a hang
def test_production_services_over_postgres_keep_secrets_out(tenant, moto, database, clock, tmp_path):
    arns = store_secrets(moto, SECRETS, REGION)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=e2e.BUCKET)
    s3.create_bucket(Bucket=LOGS_BUCKET)
    settings = deployment_settings(tenant, database, arns, clock.now().date())
    documents = ecs.render(DeploySettings.from_env(settings))
    # boto3 sends every AWS call of these processes to moto, as the containers' calls would go to AWS. The code
    # server serves the project's definitions with the test's clock (the e2e test's code location).
    services = ProductionServices(tmp_path / "dagster_home", documents, moto,
                                  production_instance_yaml(run_launcher=DEFAULT_RUN_LAUNCHER),
                                  overrides={"AWS_ENDPOINT_URL": moto.endpoint, **clock.environment()},
                                  module=e2e.LOCATION_MODULE)
    with dd.running(services) as dev:
        e2e.backfill_then_sensor(dev, tenant, moto, clock)
        e2e.the_nightly_consolidation_replaces_yesterday(dev, tenant, moto,
                                                        e2e.last_days(e2e.DAYS, clock.now().date()))
        logs = services.output()

    stored = table_contents(database)
    assert stored["runs"] and stored["event_logs"], "the runs and their events are in PostgreSQL"
    # The search sees the run records: the code location's container context names the secrets' ARNs.
    assert CLIENT_ID.encode() in stored["runs"] and arns["ZUORA_CLIENT_SECRET"].encode() in stored["runs"]
    compute_logs = compute_log_objects(moto)
    assert compute_logs, f"no compute logs under s3://{LOGS_BUCKET}/{LOGS_PREFIX}/"
    haystacks = {
        **{f"postgres table {t}": body for t, body in stored.items()},
        **{f"s3://{LOGS_BUCKET}/{key}": body for key, body in compute_logs.items()},
        "the services' output": logs.encode(),
    }
    leaks = [f"{name} in {where}" for name, value in SECRETS.items() for where, body in haystacks.items()
             if any(form in body for form in forms(value))]
    assert leaks == []


def compute_log_objects(moto) -> dict[str, bytes]:
    s3 = moto.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=LOGS_BUCKET, Prefix=f"{LOGS_PREFIX}/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=LOGS_BUCKET, Key=key)["Body"].read() for key in keys}


def forms(value: str) -> set[bytes]:
    """The ways a value could be written down: as is, URL-encoded, and as hex (a bytea column's text)."""
    return {v.encode() for v in (value, quote(value, safe=""), quote_plus(value), value.encode().hex())}
