"""The connection test under moto's IAM enforcement: the seed's policy passes, each missing action is named."""

from __future__ import annotations

from dataclasses import replace

import pytest
from botocore.credentials import RefreshableCredentials
from pydantic import SecretStr

from zuora_assets.aws import AwsAuthError, AwsClients, aws_session
from zuora_assets.connection import all_ok, format_results, run_checks
from zuora_assets.iam import ACTIONS_USED, permissions_policy, seed_policy
from zuora_assets.settings import Settings
from zuora_assets_tests.iam_moto import (
    ACCOUNT_ID,
    ROLE_ARN,
    Principal,
    create_bucket,
    create_role,
    create_user,
    enforce_iam,
    moto_resource_arns,  # noqa: F401  (a fixture, used by every test here)
    without_action,
)

BUCKET = "zuora-lake-test"
REGION = "eu-west-1"
SCHEMA = "zuora_lake"
EXTERNAL_ID = "zuora-ext-7f3a9c"

pytestmark = pytest.mark.usefixtures("moto_resource_arns")


def settings_for(moto, principal: Principal | None = None, **env: str) -> Settings:
    """Settings for the moto server; role mode with `principal`'s keys as source credentials by default."""
    values = {
        "AWS_BUCKET": BUCKET,
        "AWS_BUCKET_REGION": REGION,
        "ZUORA_START_DATE": "2025-01-01",
        "AWS_SCHEMA": SCHEMA,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_AUTH_MODE": "role",
        "AWS_ROLE_ARN": ROLE_ARN,
        "AWS_EXTERNAL_ID": EXTERNAL_ID,
    }
    if principal:
        values |= {
            "AWS_ACCESS_KEY_ID": principal.access_key_id,
            "AWS_SECRET_ACCESS_KEY": principal.secret_access_key,
        }
    return Settings.from_env({k: v for k, v in (values | env).items() if v})


def role_setup(moto, policy_of, **env: str) -> Settings:
    """A bucket, and a role holding `policy_of(aws)` that a deployer may assume; IAM enforcement on."""
    aws = settings_for(moto, **env).aws
    deployer = create_role(moto, aws, policy_of(aws))
    create_bucket(moto, BUCKET, REGION)
    enforce_iam(moto)
    return settings_for(moto, deployer, **env)


def failures(results):
    return [r for r in results if not r.ok and not r.skipped]


def test_role_with_exactly_the_seed_policy_passes(moto):
    seed = seed_policy(
        {"ACCOUNT_ID": ACCOUNT_ID, "WORKGROUP": "primary", "BUCKET_NAME": BUCKET, "SCHEMA": SCHEMA}
    )
    settings = role_setup(moto, lambda aws: seed)
    assert permissions_policy(settings.aws) == seed

    results = run_checks(settings)

    assert all_ok(results), format_results(results)
    checked = {r.action for r in results}
    assert checked >= set(ACTIONS_USED) - {"glue:BatchCreatePartition"}
    assert "running as arn:aws:sts::123456789012:assumed-role/zuora-athena-role/" in format_results(results)


@pytest.mark.parametrize("action", ACTIONS_USED)
def test_removing_any_used_action_fails_naming_it(moto, action):
    settings = role_setup(
        moto, lambda aws: without_action(permissions_policy(aws), action), AWS_GLUE_PARTITIONS="true"
    )

    results = run_checks(settings)

    assert [r.action for r in failures(results)] == [action], format_results(results)
    failed = failures(results)[0]
    assert failed.fix["Action"] == [action]
    assert failed.resource and failed.resource.startswith(f"arn:aws:{action.split(':')[0]}:")
    report = format_results(results)
    assert f"missing permission: {action} on {failed.resource}" in report
    assert f'"{action}"' in report  # the statement that fixes it


def test_wrong_external_id_is_a_clear_error(moto):
    wrong = "not-the-agreed-id"
    settings = role_setup(moto, permissions_policy)
    settings = replace(settings, aws=replace(settings.aws, external_id=SecretStr(wrong)))

    with pytest.raises(AwsAuthError) as caught:
        aws_session(settings.aws)

    message = str(caught.value)
    assert ROLE_ARN in message and "AssumeRole was denied" in message
    assert "AWS_EXTERNAL_ID" in message and "trust policy" in message
    assert (
        f"arn:aws:iam::{ACCOUNT_ID}:user/zuora-deployer" in message
    )  # the caller to check the principal against
    assert wrong not in message and EXTERNAL_ID not in message
    results = run_checks(settings)
    assert [(r.name, r.ok, r.action) for r in results] == [("sts assume role", False, "sts:AssumeRole")]
    assert wrong not in format_results(results)


def test_role_credentials_refresh_through_assume_role(moto):
    settings = role_setup(moto, permissions_policy)
    # 900 s is inside botocore's 15-minute advisory refresh window, so every use refreshes.
    session = aws_session(settings.aws, duration_seconds=900)
    credentials = session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)

    first = credentials.get_frozen_credentials().access_key
    second = credentials.get_frozen_credentials().access_key

    assert first != second
    s3 = AwsClients(session, settings.aws).s3
    s3.put_object(Bucket=BUCKET, Key="zuora/probe", Body=b"x")
    assert s3.get_object(Bucket=BUCKET, Key="zuora/probe")["Body"].read() == b"x"


def test_access_keys_with_the_seed_policy_pass(moto):
    aws = settings_for(moto, AWS_AUTH_MODE="default", AWS_ROLE_ARN="", AWS_EXTERNAL_ID="").aws
    user = create_user(moto, "transfer-service", permissions_policy(aws, account_id=ACCOUNT_ID))
    create_bucket(moto, BUCKET, REGION)
    enforce_iam(moto)
    settings = settings_for(moto, user, AWS_AUTH_MODE="keys", AWS_ROLE_ARN="", AWS_EXTERNAL_ID="")

    results = run_checks(settings)

    assert all_ok(results), format_results(results)
    assert "running as arn:aws:iam::123456789012:user/transfer-service" in format_results(results)


def test_default_chain_with_the_seed_policy_passes(moto, monkeypatch):
    aws = settings_for(moto, AWS_AUTH_MODE="default", AWS_ROLE_ARN="", AWS_EXTERNAL_ID="").aws
    user = create_user(moto, "transfer-service", permissions_policy(aws, account_id=ACCOUNT_ID))
    create_bucket(moto, BUCKET, REGION)
    enforce_iam(moto)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", user.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", user.secret_access_key)
    settings = settings_for(moto, AWS_AUTH_MODE="default", AWS_ROLE_ARN="", AWS_EXTERNAL_ID="")

    results = run_checks(settings)

    assert all_ok(results), format_results(results)
    assert settings.aws.access_key_id is None
