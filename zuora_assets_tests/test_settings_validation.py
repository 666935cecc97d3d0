"""Settings from environment variables: defaults, modes, and errors that name the variable but never a secret."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from zuora_assets.settings import ZUORA_ENVIRONMENTS, Settings, SettingsError

TODAY = date(2026, 11, 29)
ZUORA_SECRET = "zsecret-Do-Not-Leak-91"
AWS_SECRET = "awsSecret/Do+Not+Leak/42"
SESSION_TOKEN = "sessionTokenDoNotLeak77"
EXTERNAL_ID = "ext-id-do-not-leak"
SECRETS = (ZUORA_SECRET, AWS_SECRET, SESSION_TOKEN, EXTERNAL_ID)

TENANT = {
    "ZUORA_CLIENT_ID": "client-1",
    "ZUORA_CLIENT_SECRET": ZUORA_SECRET,
    "ZUORA_ENVIRONMENT": "eu-sandbox",
}
BUCKET = {
    "AWS_BUCKET": "acme-zuora-lake",
    "AWS_BUCKET_REGION": "eu-west-1",
    "AWS_SCHEMA": "zuora",
    "ZUORA_START_DATE": "2025-01-01",
}
ROLE = {"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/transfer-role", "AWS_EXTERNAL_ID": EXTERNAL_ID}
KEYS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE123456789", "AWS_SECRET_ACCESS_KEY": AWS_SECRET}
FULL = TENANT | BUCKET | ROLE | KEYS | {"AWS_SESSION_TOKEN": SESSION_TOKEN}


def load(env: dict[str, str]) -> Settings:
    return Settings.from_env(env, today=TODAY)


# (what is wrong, the environment, the variable the error must name)
BAD_SETTINGS = [
    ("bucket too short", BUCKET | {"AWS_BUCKET": "ab"}, "AWS_BUCKET"),
    ("bucket with capitals", BUCKET | {"AWS_BUCKET": "Acme_Lake"}, "AWS_BUCKET"),
    ("bucket shaped like an IP", BUCKET | {"AWS_BUCKET": "192.168.5.4"}, "AWS_BUCKET"),
    ("bucket with '..'", BUCKET | {"AWS_BUCKET": "acme..lake"}, "AWS_BUCKET"),
    ("bucket with a reserved prefix", BUCKET | {"AWS_BUCKET": "xn--acme"}, "AWS_BUCKET"),
    ("bucket with a reserved suffix", BUCKET | {"AWS_BUCKET": "acme-lake-s3alias"}, "AWS_BUCKET"),
    ("bucket ending in '-'", BUCKET | {"AWS_BUCKET": "acme-lake-"}, "AWS_BUCKET"),
    ("bucket region missing", {"AWS_BUCKET": "acme-zuora-lake", "AWS_SCHEMA": "zuora"}, "AWS_BUCKET_REGION"),
    ("bucket region malformed", BUCKET | {"AWS_BUCKET_REGION": "Europe"}, "AWS_BUCKET_REGION"),
    ("region malformed", BUCKET | {"AWS_REGION": "eu_west_1"}, "AWS_REGION"),
    ("folder with leading slash", BUCKET | {"AWS_FOLDER": "/zuora"}, "AWS_FOLDER"),
    ("folder with '..'", BUCKET | {"AWS_FOLDER": "exports/../zuora"}, "AWS_FOLDER"),
    ("folder segment starting with '_'", BUCKET | {"AWS_FOLDER": "exports/_zuora"}, "AWS_FOLDER"),
    ("folder with a wildcard", BUCKET | {"AWS_FOLDER": "zuora*"}, "AWS_FOLDER"),
    ("schema missing", {"AWS_BUCKET": "acme-zuora-lake", "AWS_BUCKET_REGION": "eu-west-1"}, "AWS_SCHEMA"),
    ("schema with capitals", BUCKET | {"AWS_SCHEMA": "Zuora"}, "AWS_SCHEMA"),
    ("database starting with a digit", BUCKET | {"AWS_DATABASE": "1db"}, "AWS_DATABASE"),
    ("workgroup with a space", BUCKET | {"AWS_WORKGROUP": "my group"}, "AWS_WORKGROUP"),
    (
        "results location not s3://",
        BUCKET | {"AWS_QUERY_RESULTS_LOCATION": "s3a://acme/results/"},
        "AWS_QUERY_RESULTS_LOCATION",
    ),
    (
        "results location bad bucket",
        BUCKET | {"AWS_QUERY_RESULTS_LOCATION": "s3://A/results/"},
        "AWS_QUERY_RESULTS_LOCATION",
    ),
    ("auth mode unknown", BUCKET | {"AWS_AUTH_MODE": "sso"}, "AWS_AUTH_MODE"),
    ("role ARN malformed", BUCKET | ROLE | {"AWS_ROLE_ARN": "arn:aws:iam::12345:role/x"}, "AWS_ROLE_ARN"),
    (
        "role mode without external id",
        BUCKET | {"AWS_AUTH_MODE": "role", "AWS_ROLE_ARN": ROLE["AWS_ROLE_ARN"]},
        "AWS_EXTERNAL_ID",
    ),
    (
        "role mode without role",
        BUCKET | {"AWS_AUTH_MODE": "role", "AWS_EXTERNAL_ID": EXTERNAL_ID},
        "AWS_ROLE_ARN",
    ),
    ("external id too short (secret)", BUCKET | ROLE | {"AWS_EXTERNAL_ID": "x"}, "AWS_EXTERNAL_ID"),
    (
        "external id with a space (secret)",
        BUCKET | ROLE | {"AWS_EXTERNAL_ID": EXTERNAL_ID + " x"},
        "AWS_EXTERNAL_ID",
    ),
    ("session name too long", BUCKET | ROLE | {"AWS_ROLE_SESSION_NAME": "s" * 65}, "AWS_ROLE_SESSION_NAME"),
    (
        "keys mode without secret",
        BUCKET | {"AWS_AUTH_MODE": "keys", "AWS_ACCESS_KEY_ID": "AKIA1"},
        "AWS_SECRET_ACCESS_KEY",
    ),
    ("keys mode with a role", BUCKET | KEYS | ROLE | {"AWS_AUTH_MODE": "keys"}, "AWS_ROLE_ARN"),
    ("session token without keys", BUCKET | {"AWS_SESSION_TOKEN": SESSION_TOKEN}, "AWS_SESSION_TOKEN"),
    ("kms key malformed", BUCKET | {"AWS_KMS_KEY_ID": "my key"}, "AWS_KMS_KEY_ID"),
    ("endpoint not a URL", BUCKET | {"AWS_ENDPOINT_URL": "localhost:5000"}, "AWS_ENDPOINT_URL"),
    ("partition flag not a boolean", BUCKET | {"AWS_GLUE_PARTITIONS": "sometimes"}, "AWS_GLUE_PARTITIONS"),
    ("schema set without a bucket", {"AWS_SCHEMA": "zuora"}, "AWS_SCHEMA"),
    ("unknown Zuora environment", TENANT | {"ZUORA_ENVIRONMENT": "us-prod"}, "ZUORA_ENVIRONMENT"),
    (
        "no Zuora environment or URL",
        {"ZUORA_CLIENT_ID": "c", "ZUORA_CLIENT_SECRET": ZUORA_SECRET},
        "ZUORA_ENVIRONMENT",
    ),
    ("both environment and URL", TENANT | {"ZUORA_BASE_URL": "https://rest.eu.zuora.com"}, "ZUORA_BASE_URL"),
    (
        "plain http to a remote host",
        TENANT | {"ZUORA_ENVIRONMENT": "", "ZUORA_BASE_URL": "http://rest.zuora.com"},
        "ZUORA_BASE_URL",
    ),
    (
        "client secret without id",
        {"ZUORA_CLIENT_SECRET": ZUORA_SECRET, "ZUORA_ENVIRONMENT": "eu-sandbox"},
        "ZUORA_CLIENT_ID",
    ),
    (
        "client id without secret",
        {"ZUORA_CLIENT_ID": "c", "ZUORA_ENVIRONMENT": "eu-sandbox"},
        "ZUORA_CLIENT_SECRET",
    ),
    ("environment without credentials", {"ZUORA_ENVIRONMENT": "eu-sandbox"}, "ZUORA_ENVIRONMENT"),
    ("entity id not a UUID", TENANT | {"ZUORA_ENTITY_ID": "entity-1"}, "ZUORA_ENTITY_ID"),
    ("start date not ISO", {"ZUORA_START_DATE": "01/02/2026"}, "ZUORA_START_DATE"),
    ("start date in the future", {"ZUORA_START_DATE": "2026-12-01"}, "ZUORA_START_DATE"),
    (
        "bucket without a start date",
        {k: v for k, v in BUCKET.items() if k != "ZUORA_START_DATE"},
        "ZUORA_START_DATE",
    ),
    ("retention not a number", {"ZUORA_MANIFEST_RETENTION_DAYS": "a month"}, "ZUORA_MANIFEST_RETENTION_DAYS"),
    ("retention of zero days", {"ZUORA_MANIFEST_RETENTION_DAYS": "0"}, "ZUORA_MANIFEST_RETENTION_DAYS"),
]


def test_aws_needs_a_fixed_start_date_and_says_why():
    with pytest.raises(SettingsError) as caught:
        load({k: v for k, v in BUCKET.items() if k != "ZUORA_START_DATE"})
    [problem] = caught.value.problems
    assert problem.startswith("ZUORA_START_DATE: is missing: it is required when AWS_BUCKET is set")
    assert "projection" in problem and "ZUORA_START_DATE=2024-01-01" in problem
    assert load(BUCKET).start_date == date(2025, 1, 1)
    assert load({"ZUORA_MANIFEST_RETENTION_DAYS": "7"}).manifest_retention_days == 7


@pytest.mark.parametrize(("case", "env", "variable"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_each_bad_setting_is_named_and_no_secret_is_shown(case, env, variable):
    with pytest.raises(SettingsError) as caught:
        load(env)

    error = caught.value
    assert any(p.startswith(f"{variable}: ") for p in error.problems), error.problems
    assert variable in str(error)
    for secret in SECRETS:
        assert secret not in str(error) and secret not in repr(error)


def test_no_secret_shows_when_others_are_wrong():
    with pytest.raises(SettingsError) as caught:
        load(FULL | {"AWS_BUCKET": "ab", "AWS_AUTH_MODE": "keys", "ZUORA_ENTITY_ID": "x"})
    assert len(caught.value.problems) == 4  # bucket, entity id, role ARN and external id outside role mode
    for secret in SECRETS:
        assert secret not in str(caught.value)


def test_all_problems_are_reported_at_once():
    env = {"AWS_BUCKET": "ab", "AWS_SCHEMA": "Bad", "ZUORA_START_DATE": "soon", "ZUORA_ENTITY_ID": "x"}
    with pytest.raises(SettingsError) as caught:
        load(env)
    named = {p.split(":")[0] for p in caught.value.problems}
    assert named == {"AWS_BUCKET", "AWS_BUCKET_REGION", "AWS_SCHEMA", "ZUORA_START_DATE", "ZUORA_ENTITY_ID"}
    assert str(caught.value).splitlines() == list(caught.value.problems)  # one line per problem


def test_a_bad_value_is_quoted_with_its_rule():
    with pytest.raises(SettingsError) as caught:
        load(BUCKET | {"AWS_BUCKET": "ab"})
    assert caught.value.problems == ("AWS_BUCKET: 'ab' has 2 characters: S3 bucket names have 3 to 63",)


def test_nothing_set_is_the_embedded_default():
    settings = load({})
    assert settings.zuora is None and settings.aws is None
    assert settings.local_dir == Path(".lake")
    assert settings.start_date is None, "the embedded default pins its first day in the lake at the first sync"
    assert settings.manifest_retention_days == 30


def test_empty_values_count_as_unset():
    assert load({"AWS_BUCKET": "", "ZUORA_CLIENT_ID": " ", "ZUORA_START_DATE": ""}) == load({})


def test_aws_defaults():
    aws = load(BUCKET).aws
    assert (aws.folder, aws.database, aws.workgroup, aws.region) == (
        "zuora",
        "default",
        "primary",
        "eu-west-1",
    )
    assert aws.query_results_location == "s3://acme-zuora-lake/zuora/_zuora/athena-results/"
    assert (aws.auth_mode, aws.role_session_name, aws.glue_partitions) == ("default", "zuora-athena", False)


def test_aws_values_are_normalised():
    aws = load(
        BUCKET
        | {
            "AWS_FOLDER": "exports/zuora/",
            "AWS_QUERY_RESULTS_LOCATION": "s3://acme-athena/results",
            "AWS_REGION": "us-east-2",
            "AWS_GLUE_PARTITIONS": "TRUE",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        }
    ).aws
    assert aws.folder == "exports/zuora"
    assert aws.query_results_location == "s3://acme-athena/results/"  # a trailing '/' is added
    assert (aws.region, aws.bucket_region, aws.glue_partitions) == ("us-east-2", "eu-west-1", True)
    assert aws.results_bucket == "acme-athena"


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        (ROLE, "role"),
        (KEYS, "keys"),
        ({}, "default"),
        (ROLE | KEYS, "role"),
        (KEYS | {"AWS_AUTH_MODE": "Default"}, "default"),
    ],
)
def test_auth_mode_is_inferred_unless_given(env, mode):
    assert load(BUCKET | env).aws.auth_mode == mode


def test_every_named_zuora_environment_maps_to_its_url():
    for name, url in ZUORA_ENVIRONMENTS.items():
        zuora = load(TENANT | {"ZUORA_ENVIRONMENT": name.upper()}).zuora
        assert (zuora.environment, zuora.base_url) == (name, url)
    assert {"us-production", "eu-production", "apac-production", "us-sandbox", "eu-sandbox"} <= set(ZUORA_ENVIRONMENTS)


def test_base_url_allows_http_only_on_loopback():
    tenant = TENANT | {"ZUORA_ENVIRONMENT": "", "ZUORA_ENTITY_ID": "8a8082c45aa81b51015ad68743264e4c"}
    zuora = load(tenant | {"ZUORA_BASE_URL": "http://127.0.0.1:8080/"}).zuora
    assert (zuora.base_url, zuora.environment) == ("http://127.0.0.1:8080", None)
    assert zuora.entity_id == "8a8082c45aa81b51015ad68743264e4c"
    assert (
        load(tenant | {"ZUORA_BASE_URL": "https://rest.zuora.com"}).zuora.base_url == "https://rest.zuora.com"
    )


def test_secrets_never_show_in_repr_or_describe():
    settings = load(FULL)
    for text in (repr(settings), str(settings), settings.describe(), f"{settings.aws.external_id}"):
        for secret in SECRETS:
            assert secret not in text
    assert settings.zuora.client_secret.get_secret_value() == ZUORA_SECRET
    assert settings.aws.secret_access_key.get_secret_value() == AWS_SECRET
    assert settings.aws.session_token.get_secret_value() == SESSION_TOKEN
    assert settings.aws.external_id.get_secret_value() == EXTERNAL_ID


def test_describe_has_one_line_per_setting_with_masked_secrets():
    lines = load(FULL | {"ZUORA_START_DATE": "2026-01-01"}).describe().splitlines()
    values = dict(line.strip().split(" = ", 1) for line in lines if " = " in line)
    assert values["ZUORA_CLIENT_SECRET"] == values["AWS_EXTERNAL_ID"] == "***"
    assert values["AWS_SECRET_ACCESS_KEY"] == values["AWS_SESSION_TOKEN"] == "***"
    assert values["AWS_BUCKET"] == "acme-zuora-lake" and values["AWS_KMS_KEY_ID"] == "(not set)"
    assert values["ZUORA_START_DATE"] == "2026-01-01" and values["AWS_GLUE_PARTITIONS"] == "false"
    assert len(values) == 33  # 5 Zuora, 18 AWS, start date, local lake folder, 8 sync settings
    assert lines[0] == "source: Zuora tenant at https://rest.sandbox.eu.zuora.com"


def test_secrets_are_pydantic_secret_strings():
    secret = load(FULL).zuora.client_secret
    assert isinstance(secret, SecretStr) and "hunter2" not in f"{secret!r} {secret}"
    assert secret == SecretStr(secret.get_secret_value()) and hash(secret) == hash(SecretStr(secret.get_secret_value()))


def test_settings_are_frozen_and_hashable():
    settings = load(FULL)
    with pytest.raises(AttributeError):
        settings.aws.bucket = "other"  # type: ignore[misc]
    assert hash(settings.aws) == hash(load(FULL).aws)
