"""The connection test's findings besides permissions: regions, missing things, Zuora, the local lake, the CLI."""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from zuora_assets.aws import AwsClients, aws_session
from zuora_assets.connection import (
    CheckResult,
    all_ok,
    denied_action_resource,
    error_code_message,
    format_results,
    main_check,
    run_checks,
)
from zuora_assets.iam import main_iam_policy, permissions_policy
from zuora_assets.settings import Settings

BUCKET = "zuora-checks"
SECRET_KEY = "secret-key-value-0042"


def env_for(moto, **extra: str) -> dict[str, str]:
    return {
        "AWS_BUCKET": BUCKET,
        "AWS_BUCKET_REGION": "us-east-1",
        "ZUORA_START_DATE": "2025-01-01",
        "AWS_SCHEMA": "zuora_checks",
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        **extra,
    }


@pytest.fixture
def bucket(moto):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    return moto


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_all_checks_pass_and_leave_nothing_behind(bucket):
    results = run_checks(Settings.from_env(env_for(bucket)))

    assert all_ok(results), format_results(results)
    assert bucket.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert [
        t["Name"] for t in bucket.client("glue").get_tables(DatabaseName="zuora_checks")["TableList"]
    ] == []
    assert format_results(results).endswith(f"{len(results)} checks: {len(results)} ok, 0 failed, 0 skipped")


def test_marker_is_written_with_the_configured_encryption(bucket):
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    seen = []
    settings = Settings.from_env(env_for(bucket, AWS_KMS_KEY_ID=key_id))
    clients = AwsClients(aws_session(settings.aws), settings.aws)
    clients.s3.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: seen.append(params)
    )

    results = run_checks(settings, clients=clients)

    assert all_ok(results), format_results(results)
    assert [(p["ServerSideEncryption"], p["SSEKMSKeyId"]) for p in seen] == [("aws:kms", key_id)]


def test_bucket_in_another_region_is_named_with_the_fix(bucket):
    results = by_name(run_checks(Settings.from_env(env_for(bucket, AWS_BUCKET_REGION="eu-west-1"))))

    region = results["s3 bucket region"]
    assert not region.ok
    assert "is in us-east-1 but AWS_BUCKET_REGION is eu-west-1" in region.detail
    assert "set AWS_BUCKET_REGION=us-east-1" in region.detail
    assert results["s3 put object"].ok  # the other checks still run


def test_missing_bucket_and_workgroup_are_named(moto):
    results = by_name(run_checks(Settings.from_env(env_for(moto, AWS_WORKGROUP="reporting"))))

    assert (
        "NoSuchBucket" in results["s3 put object"].detail and "AWS_BUCKET" in results["s3 put object"].detail
    )
    assert results["s3 get object"].skipped and not results["s3 get object"].ok
    assert "workgroup reporting does not exist" in results["athena workgroup"].detail
    assert "AWS_WORKGROUP" in results["athena start query"].detail
    assert results["glue create table"].ok


def test_rejected_keys_stop_at_the_identity_check(moto):
    moto.set_iam_enforcement(True)
    settings = Settings.from_env(env_for(moto, AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000"))

    results = run_checks(settings)

    assert [(r.name, r.ok) for r in results] == [("sts identity", False)]
    assert "InvalidClientTokenId" in results[0].detail and "AWS_ACCESS_KEY_ID" in results[0].detail
    assert SECRET_KEY not in format_results(results)


def test_slow_query_is_polled_until_it_succeeds(bucket):
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1}}
    api = f"{bucket.endpoint}/moto-api/state-manager"
    requests.post(f"{api}/set-transition", json=transition, timeout=10).raise_for_status()
    try:
        results = by_name(run_checks(Settings.from_env(env_for(bucket))))
    finally:
        requests.post(f"{api}/unset-transition", json={"model_name": "athena::execution"}, timeout=10)

    assert results["athena query status"].ok and results["athena query results"].ok


def test_failed_query_names_the_results_location(bucket):
    # moto's Athena never fails a query, so this one failure is stubbed.
    settings = Settings.from_env(env_for(bucket))
    clients = AwsClients(aws_session(settings.aws), settings.aws)
    reason = "Access denied when writing output to url: s3://zuora-checks/zuora/_zuora/athena-results/q.csv"
    with Stubber(clients.athena) as stub:
        stub.add_response("get_work_group", {"WorkGroup": {"Name": "primary", "State": "ENABLED"}})
        stub.add_response("start_query_execution", {"QueryExecutionId": "q"})
        status = {"State": "FAILED", "StateChangeReason": reason}
        stub.add_response(
            "get_query_execution", {"QueryExecution": {"QueryExecutionId": "q", "Status": status}}
        )
        results = by_name(run_checks(settings, clients=clients))

    failed = results["athena query status"]
    assert not failed.ok and reason in failed.detail
    assert "AWS_QUERY_RESULTS_LOCATION s3://zuora-checks/zuora/_zuora/athena-results/" in failed.detail
    assert results["athena query results"].skipped


def test_zuora_check_is_reported_either_way(tmp_path):
    settings = Settings.from_env({"ZUORA_ATHENA_HOME": str(tmp_path)})

    def broken() -> str:
        raise RuntimeError("401 from /oauth/token: check ZUORA_CLIENT_ID")

    passed = run_checks(settings, zuora_check=lambda: "token ok, 28 objects described")
    failed = run_checks(settings, zuora_check=broken)

    assert [(r.name, r.ok) for r in passed] == [
        ("zuora token and describe", True),
        ("local lake folder", True),
    ]
    assert failed[0].detail == "RuntimeError: 401 from /oauth/token: check ZUORA_CLIENT_ID"
    assert not all_ok(failed) and failed[1].ok


def test_unwritable_local_lake_names_its_setting(tmp_path):
    blocker = tmp_path / "parent"
    blocker.write_text("a file where the lake's parent folder should be")  # a file as the lake itself is a settings error

    results = run_checks(Settings.from_env({"ZUORA_ATHENA_HOME": str(blocker / "lake")}))

    assert not results[0].ok and "ZUORA_ATHENA_HOME" in results[0].detail


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        # moto: a JSON-protocol denial comes back as HTTP 403 with an XML body in Message
        (
            "403",
            '<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied</Code>'
            "<Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: glue:CreateTable"
            "</Message><Type>Sender</Type></Error></Errors></ErrorResponse>",
            ("AccessDenied", "glue:CreateTable", None),
        ),
        # AWS: the action and the resource are in the message
        (
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: athena:GetWorkGroup "
            "on resource: arn:aws:athena:eu-west-1:123456789012:workgroup/primary because no identity-based "
            "policy allows the athena:GetWorkGroup action",
            (
                "AccessDeniedException",
                "athena:GetWorkGroup",
                "arn:aws:athena:eu-west-1:123456789012:workgroup/primary",
            ),
        ),
        # S3 does not say which action was denied
        ("AccessDenied", "Access Denied", ("AccessDenied", None, None)),
    ],
)
def test_denials_are_parsed_from_every_message_shape(code, message, expected):
    error = ClientError({"Error": {"Code": code, "Message": message}}, "AnyOperation")

    parsed_code, parsed_message = error_code_message(error)

    assert (parsed_code, *denied_action_resource(parsed_message)) == expected


def test_main_check_exit_codes(tmp_path, bucket, capsys):
    assert main_check({"AWS_BUCKET": "Bad_Bucket"}) == 2
    assert "AWS_BUCKET" in capsys.readouterr().err

    assert main_check({"ZUORA_ATHENA_HOME": str(tmp_path)}) == 0
    assert main_check({"ZUORA_ATHENA_HOME": str(tmp_path)}, zuora_check=lambda: 1 / 0) == 1

    assert main_check(env_for(bucket)) == 0
    out = capsys.readouterr().out
    assert "AWS_SECRET_ACCESS_KEY = ***" in out and SECRET_KEY not in out
    assert "ok      s3 put object" in out and "FAILED" in out  # the earlier failing Zuora check


def test_main_iam_policy_prints_both_policies_without_the_external_id(capsys):
    env = {
        "AWS_BUCKET": BUCKET,
        "AWS_BUCKET_REGION": "eu-west-1",
        "ZUORA_START_DATE": "2025-01-01",
        "AWS_SCHEMA": "zuora",
        "AWS_ROLE_ARN": "arn:aws:iam::210987654321:role/transfer-role",
        "AWS_EXTERNAL_ID": "ext-do-not-print",
    }

    assert main_iam_policy(env) == 0

    out = capsys.readouterr().out
    assert "ext-do-not-print" not in out
    documents = [json.loads(block) for block in _json_blocks(out)]
    assert documents[0] == permissions_policy(Settings.from_env(env).aws)
    assert documents[1]["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "EXTERNAL_ID"}}
    assert main_iam_policy({}) == 2 and "AWS_BUCKET is not set" in capsys.readouterr().err
    assert main_iam_policy({"AWS_BUCKET": "x"}) == 2


def _json_blocks(text: str) -> list[str]:
    """The JSON documents of the iam-policy output (the lines between comment lines)."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    return blocks + (["\n".join(current)] if current else [])
