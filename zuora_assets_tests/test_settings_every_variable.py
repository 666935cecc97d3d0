"""Every variable of `.env.example`, given a bad value, stops `check`, `demo` and the definitions load with one
line naming it (and no traceback): in process for every variable, in real subprocesses for a sample."""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zuora_assets.__main__ import main
from zuora_assets.definitions import load_definitions
from zuora_assets.entities import ENTITIES_VAR
from zuora_assets.settings import ENV_VARS

ROOT = Path(__file__).parent.parent
TENANT = {"ZUORA_ENVIRONMENT": "eu-sandbox", "ZUORA_CLIENT_ID": "client", "ZUORA_CLIENT_SECRET": "s3cret-value"}
AWS = {"AWS_BUCKET": "acme-lake", "AWS_BUCKET_REGION": "eu-west-1", "AWS_SCHEMA": "zuora", "ZUORA_START_DATE": "2024-01-01"}
ROLE = {**AWS, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/zuora", "AWS_EXTERNAL_ID": "ext-id-42"}
KEYS = {**AWS, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret/key"}

# variable -> (bad value, the other settings that make it the only problem)
BAD = {
    "ZUORA_ENVIRONMENT": ("moon-production", TENANT),
    "ZUORA_BASE_URL": ("ftp://rest.zuora.com", {k: v for k, v in TENANT.items() if k != "ZUORA_ENVIRONMENT"}),
    "ZUORA_CLIENT_ID": ("has spaces", TENANT),
    "ZUORA_CLIENT_SECRET": ("has spaces", TENANT),
    "ZUORA_ENTITY_ID": ("not-a-uuid", TENANT),
    "ZUORA_START_DATE": ("2999-01-01", {}),
    "ZUORA_ATHENA_HOME": (str(ROOT / "pyproject.toml"), {}),
    "AWS_BUCKET": ("ab", AWS),
    "AWS_BUCKET_REGION": ("eu-wset-1", AWS),
    "AWS_FOLDER": ("/zuora", AWS),
    "AWS_SCHEMA": ("Zuora", AWS),
    "AWS_DATABASE": ("Default", AWS),
    "AWS_WORKGROUP": ("prim ary", AWS),
    "AWS_QUERY_RESULTS_LOCATION": ("https://acme/results/", AWS),
    "AWS_REGION": ("eu-west-\u0661", AWS),  # an Arabic-Indic digit one
    "AWS_AUTH_MODE": ("magic", AWS),
    "AWS_ROLE_ARN": ("arn:aws:iam::1234:role/x", ROLE),
    "AWS_EXTERNAL_ID": ("x", ROLE),
    "AWS_ROLE_SESSION_NAME": ("a b", ROLE),
    "AWS_ACCESS_KEY_ID": ("AKIA EXAMPLE", KEYS),
    "AWS_SECRET_ACCESS_KEY": ("secret key", KEYS),
    "AWS_SESSION_TOKEN": ("token with spaces", KEYS),
    "AWS_KMS_KEY_ID": ("my-key", AWS),
    "AWS_ENDPOINT_URL": ("localhost:5000", AWS),
    "AWS_GLUE_PARTITIONS": ("maybe", AWS),
    "ZUORA_MANIFEST_RETENTION_DAYS": ("0", {}),
    "ZUORA_LAG_SECONDS": ("15m", {}),
    "ZUORA_LOOKBACK_SECONDS": ("-1", {}),
    "ZUORA_MAX_JOBS_IN_FLIGHT": ("many", {}),
    "ZUORA_POLL_INITIAL_SECONDS": ("fast", {}),
    "ZUORA_SENSOR_INTERVAL_SECONDS": ("0", {}),
    "ZUORA_CONSOLIDATION_CRON": ("30 25 * * *", {}),
    "ZUORA_FRESHNESS_HOUR": ("six", {}),
    "ZUORA_HEALTH_CRON": ("daily", {}),
    "ZUORA_HEALTH_SMALL_FILE_MB": ("0", {}),
    "ZUORA_HEALTH_MEMORY_MB": ("lots", {}),
    "ZUORA_RECONCILE_CRON": ("every sunday", {}),
    "ZUORA_RECONCILE_SKIP": ("acount", {}),
    "ZUORA_RECONCILE_MEMORY_LIMIT": ("lots", {}),
    "ZUORA_REREAD_CRON": ("30 3 * *", {}),
    "ZUORA_REREAD_DAYS": ("invoice=soon", {}),
    ENTITIES_VAR: ("eu,EU-2", TENANT),
}


def env_example_variables() -> list[str]:
    return re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in (*ENV_VARS, ENTITIES_VAR, "ZUORA_SIMULATOR_URL")}


def bad_environ(name: str) -> dict[str, str]:
    value, context = BAD[name]
    return {**clean_environ(), **context, name: value}


def test_every_variable_of_env_example_is_a_setting_with_a_bad_value_here():
    assert sorted(env_example_variables()) == sorted([*ENV_VARS, ENTITIES_VAR]) == sorted(BAD)


def assert_one_line_naming(text: str, name: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: "), text
    assert "Traceback" not in text
    value = BAD[name][0]
    if "SECRET" in name or name in ("AWS_EXTERNAL_ID", "AWS_SESSION_TOKEN"):
        assert value not in text, "a secret's value is never printed"


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_stops_check_demo_and_the_definitions_naming_the_variable(name, monkeypatch, tmp_path):
    environ = bad_environ(name)
    for key in ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)

    with pytest.raises(SystemExit) as caught:
        load_definitions(environ)
    assert_one_line_naming(str(caught.value.code), name)

    for argv in (["check"], ["demo", "--home", environ.get("ZUORA_ATHENA_HOME", str(tmp_path / "lake"))]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        assert code == 2, argv
        assert_one_line_naming(err.getvalue(), name)


@pytest.mark.parametrize("name", ["ZUORA_POLL_INITIAL_SECONDS", "ZUORA_START_DATE", "AWS_BUCKET_REGION"])
@pytest.mark.parametrize(
    "command",
    [["-c", "import zuora_assets.definitions"], ["-m", "zuora_assets", "check"], ["-m", "zuora_assets", "demo"]],
    ids=["definitions", "check", "demo"],
)
def test_the_processes_exit_with_one_line_and_no_traceback(name, command, tmp_path):
    environ = {**bad_environ(name), "ZUORA_ATHENA_HOME": str(tmp_path / "lake")}
    done = subprocess.run(
        [sys.executable, "-W", "error", *command], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert_one_line_naming(done.stderr, name)
