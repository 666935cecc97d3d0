"""No secret leaks: after runs that succeed and runs that fail, no secret setting's value is anywhere a user can see.

Every secret is set to a distinctive value (the Zuora client secret, the external id, the source
credentials' secret key and session token), the sync and the `test_connection` job run on a persistent
Dagster instance under moto's IAM enforcement, and then every file under DAGSTER_HOME (run and event-log
databases, compute logs), the captured stdout/stderr and Python logging, and each run's config, tags and
events are searched for each value, raw and URL-encoded. Derived secrets are searched too: the temporary
credentials the role session got from AssumeRole.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import dagster as dg
import pytest
from dagster._serdes import serialize_value
from moto.sts.models import sts_backends

from zuora_assets.definitions import build_definitions
from zuora_assets.defs.resources import aws_clients
from zuora_assets.settings import Settings
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests.iam_moto import (
    ACCOUNT_ID,
    ROLE_ARN,
    create_bucket,
    create_runner_session,
    enforce_iam,
    exact_seed_policy,
    moto_resource_arns,  # noqa: F401  (a fixture, used by every test here)
    put_role,
)
from zuora_assets_tests.pipeline import last_days, materialize

BUCKET = "zuora-lake-secrets"
REGION = "eu-west-1"
SCHEMA = "zuora_secrets"
# Not a secret: the connection test logs it, so finding it proves that the search sees what was logged.
ZUORA_CLIENT_ID = "zuora-client-id-5e0d"
ZUORA_SECRET = "zsecret-9f0c1b7e2d4a"
WRONG_ZUORA_SECRET = "zsecret-wrong-64d2a1e0"
EXTERNAL_ID = "extid-3c8e51f2a9"
WRONG_EXTERNAL_ID = "extid-wrong-7b19d4"
# The sync of a few models: every model runs the same code; test_iam_sync covers all of them.
SYNCED = [
    f"{group}/{name}" for group in ("zuora", "athena") for name in ("account", "invoice_item", "payment")
]

pytestmark = pytest.mark.usefixtures("moto_resource_arns")


@pytest.fixture
def tenant():
    """A small tenant that only accepts the distinctive client id and secret."""
    config = SimConfig(seed=31, accounts=5, days=2, client_id=ZUORA_CLIENT_ID, client_secret=ZUORA_SECRET)
    with Simulator(config) as sim:
        yield sim


@pytest.fixture
def instance(tmp_path) -> Iterator[dg.DagsterInstance]:
    """A persistent Dagster instance (sqlite run and event-log storage, compute logs) in its own DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def secrets(moto, monkeypatch, tenant, caplog) -> dict[str, str]:
    """Every secret setting set to a distinctive value, for a real tenant (the simulator) and a role in moto.

    The source credentials are a CI runner's role session (secret key and session token); it assumes the
    role holding exactly the seed's policy with the external id. IAM enforcement is on. Returns name -> value.
    """
    runner = create_runner_session(moto)
    env = {
        "ZUORA_CLIENT_ID": ZUORA_CLIENT_ID,
        "ZUORA_CLIENT_SECRET": ZUORA_SECRET,
        "ZUORA_BASE_URL": tenant.base_url,
        "AWS_BUCKET": BUCKET,
        "AWS_BUCKET_REGION": REGION,
        "ZUORA_START_DATE": "2025-01-01",
        "AWS_SCHEMA": SCHEMA,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_AUTH_MODE": "role",
        "AWS_ROLE_ARN": ROLE_ARN,
        "AWS_EXTERNAL_ID": EXTERNAL_ID,
        "AWS_ACCESS_KEY_ID": runner.access_key_id,
        "AWS_SECRET_ACCESS_KEY": runner.secret_access_key,
        "AWS_SESSION_TOKEN": runner.session_token,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("ZUORA_SIMULATOR_URL", "ZUORA_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    put_role(moto, Settings.from_env().aws, exact_seed_policy(BUCKET, SCHEMA), runner.arn)
    create_bucket(moto, BUCKET, REGION)
    enforce_iam(moto)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="zuora_assets")
    aws_clients.cache_clear()
    yield {
        name: env[name]
        for name in ("ZUORA_CLIENT_SECRET", "AWS_EXTERNAL_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    }
    aws_clients.cache_clear()


def run_job(name: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """One run of a job of the code location, resources bound to the environment as `dagster dev` does."""
    job = build_definitions(os.environ).resolve_job_def(name)
    return job.execute_in_process(instance=instance, raise_on_error=False)


def failed_materialize(selection: list[str], days: list[str], instance: dg.DagsterInstance) -> str:
    """Materialize, expecting failure; the raised error as a user sees it (traceback with its causes)."""
    with pytest.raises(Exception) as caught:
        materialize(selection, days, instance=instance)
    return "".join(traceback.format_exception(caught.value))


def role_session_secrets() -> dict[str, str]:
    """The temporary credentials AWS (moto) handed out for sessions of the role: derived secrets."""
    sessions = [s for s in sts_backends[ACCOUNT_ID]["aws"].assumed_roles if s.role_arn == ROLE_ARN]
    found = {}
    for i, session in enumerate(sessions):
        found[f"role session {i} secret key"] = session.secret_access_key
        found[f"role session {i} session token"] = session.session_token
    return found


def forms(value: str) -> set[bytes]:
    """The ways a value could be written down: as is, and URL-encoded (form bodies, query strings)."""
    return {v.encode() for v in (value, quote(value, safe=""), quote_plus(value))}


def haystacks(instance: dg.DagsterInstance, capfd, caplog, extra: dict[str, str]) -> dict[str, bytes]:
    """Everything to search, by where it came from: files, captured output and logs, run records, errors."""
    home = Path(instance.root_directory)
    found = {f"file {p.relative_to(home)}": p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}
    captured = capfd.readouterr()
    found["captured stdout"] = captured.out.encode()
    found["captured stderr"] = captured.err.encode()
    found["python logging"] = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records)]).encode()
    for run in instance.get_runs():
        found[f"run {run.run_id} record (config, tags)"] = serialize_value(run).encode()
        events = instance.all_logs(run.run_id)
        found[f"run {run.run_id} events (messages, metadata, errors)"] = "\n".join(
            serialize_value(e) for e in events
        ).encode()
    found |= {name: text.encode() for name, text in extra.items()}
    return found


def leaks(secrets: dict[str, str], places: dict[str, bytes]) -> list[str]:
    """'<secret name> in <place>' for every secret found anywhere (the values themselves are not repeated)."""
    return [
        f"{name} in {place}"
        for name, value in secrets.items()
        for place, data in places.items()
        if any(form in data for form in forms(value))
    ]


def test_sync_and_connection_test_leave_no_secret(instance, secrets, capfd, caplog):
    days = last_days(2)
    checked = run_job("test_connection", instance)
    synced = materialize(SYNCED, days, instance=instance)

    assert checked.success and synced.success
    places = haystacks(instance, capfd, caplog, {})
    assert_searched(places, Path(instance.root_directory))
    derived = role_session_secrets()
    assert derived, "the runs assumed the role"
    assert leaks(secrets | derived, places) == []


def assert_searched(places: dict[str, bytes], home: Path) -> None:
    """The search covers what it should: databases and compute logs exist, and logged settings show up in each."""
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "run and event-log databases"
    assert any(p.suffix in (".out", ".err") and p.stat().st_size for p in files), "compute logs"
    control = ZUORA_CLIENT_ID.encode()  # shown by the connection test's settings line
    seen = {place.split(" ")[0] for place, data in places.items() if control in data}
    assert {"file", "captured", "python", "run"} <= seen, seen


def test_failed_runs_leave_no_secret(instance, secrets, capfd, caplog, monkeypatch):
    day = last_days(1)
    monkeypatch.setenv("ZUORA_CLIENT_SECRET", WRONG_ZUORA_SECRET)
    zuora_refused = failed_materialize(["zuora/account"], day, instance)
    zuora_check = run_job("test_connection", instance)
    monkeypatch.setenv("ZUORA_CLIENT_SECRET", ZUORA_SECRET)
    monkeypatch.setenv("AWS_EXTERNAL_ID", WRONG_EXTERNAL_ID)
    role_refused = failed_materialize(["athena/account"], day, instance)
    role_check = run_job("test_connection", instance)

    assert {run.status for run in instance.get_runs()} == {dg.DagsterRunStatus.FAILURE}
    zuora_reason = "401 error 90000011: invalid credential"
    role_reason = "AssumeRole was denied"
    assert zuora_reason in zuora_refused and zuora_reason in failure_text(zuora_check)
    assert role_reason in role_refused and role_reason in failure_text(role_check)
    errors = {
        "error of the run with the wrong Zuora secret": zuora_refused,
        "error of the run with the wrong external id": role_refused,
    }
    places = haystacks(instance, capfd, caplog, errors)
    assert_searched(places, Path(instance.root_directory))
    wrong = {"wrong ZUORA_CLIENT_SECRET": WRONG_ZUORA_SECRET, "wrong AWS_EXTERNAL_ID": WRONG_EXTERNAL_ID}
    assert leaks(secrets | wrong | role_session_secrets(), places) == []


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The step failures of a run as the UI shows them (message, description, metadata)."""
    return "\n".join(serialize_value(e.event_specific_data) for e in result.get_step_failure_events())
