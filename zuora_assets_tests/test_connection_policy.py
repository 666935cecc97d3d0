"""The IAM policies: the seed's policy filled in for the settings, the options that extend it, the fix hints."""

from __future__ import annotations

import json

import pytest

from zuora_assets.iam import ACTIONS_USED, PARTITION_ACTION, permissions_policy, statement_for, trust_policy
from zuora_assets.settings import Settings

# The seed's policy (setup guide, seed/000_0962ab4cd3ee055b.txt) as a reader would fill it in by hand for
# account 123456789012, workgroup primary, bucket acme-zuora-lake and schema zuora.
SEED_FILLED_IN = json.loads("""
{ "Version": "2012-10-17", "Statement": [ { "Sid": "AllowAthenaAccess", "Effect": "Allow", "Action": [
"athena:GetQueryResults", "athena:StartQueryExecution", "athena:StartSession", "athena:GetDatabase",
"athena:GetDataCatalog", "athena:GetWorkGroup", "athena:GetTableMetadata", "athena:GetQueryExecution" ],
"Resource": [ "arn:aws:athena:*:123456789012:workgroup/primary" ] }, { "Sid":
"AllowGlueAccessToDestinationDatabaseAndTables", "Effect": "Allow", "Action": [ "glue:GetDatabases",
"glue:GetDatabase", "glue:GetTables", "glue:GetTable", "glue:GetPartitions", "glue:CreateTable",
"glue:CreateDatabase", "glue:UpdateTable", "glue:DeleteTable" ], "Resource": [
"arn:aws:glue:*:123456789012:catalog", "arn:aws:glue:*:123456789012:database/zuora",
"arn:aws:glue:*:123456789012:database/default", "arn:aws:glue:*:123456789012:table/zuora/*" ] }, { "Sid":
"AllowS3AccessToBucket", "Effect": "Allow", "Action": [ "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation",
"s3:GetObject", "s3:DeleteObject" ], "Resource": [ "arn:aws:s3:::acme-zuora-lake", "arn:aws:s3:::acme-zuora-lake/*" ]
} ] }
""")

BASE = {
    "AWS_BUCKET": "acme-zuora-lake",
    "AWS_BUCKET_REGION": "eu-west-1",
    "ZUORA_START_DATE": "2025-01-01",
    "AWS_SCHEMA": "zuora",
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/transfer-role",
    "AWS_EXTERNAL_ID": "acme-external-id",
}


def aws_for(**extra: str):
    return Settings.from_env(BASE | extra).aws


def statements(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_default_settings_give_exactly_the_seed_policy():
    assert permissions_policy(aws_for()) == SEED_FILLED_IN


def test_account_id_comes_from_the_role_or_the_argument():
    keys = aws_for(AWS_ROLE_ARN="", AWS_EXTERNAL_ID="", AWS_AUTH_MODE="default")
    assert "ACCOUNT_ID" in json.dumps(permissions_policy(keys))
    assert permissions_policy(keys, account_id="123456789012") == SEED_FILLED_IN


def test_workgroup_and_schema_scope_their_statements():
    policy = statements(permissions_policy(aws_for(AWS_WORKGROUP="reporting", AWS_SCHEMA="billing")))
    assert policy["AllowAthenaAccess"]["Resource"] == ["arn:aws:athena:*:123456789012:workgroup/reporting"]
    assert (
        "arn:aws:glue:*:123456789012:table/billing/*"
        in policy["AllowGlueAccessToDestinationDatabaseAndTables"]["Resource"]
    )
    assert (
        "arn:aws:glue:*:123456789012:database/default"
        in policy["AllowGlueAccessToDestinationDatabaseAndTables"]["Resource"]
    )


def test_partition_registration_adds_batch_create_partition_only_when_on():
    glue = "AllowGlueAccessToDestinationDatabaseAndTables"
    assert PARTITION_ACTION not in json.dumps(permissions_policy(aws_for()))
    on = statements(permissions_policy(aws_for(AWS_GLUE_PARTITIONS="true")))
    assert PARTITION_ACTION in on[glue]["Action"]


def test_results_bucket_is_added_only_when_it_differs():
    same = statements(permissions_policy(aws_for(AWS_QUERY_RESULTS_LOCATION="s3://acme-zuora-lake/athena/")))
    other = statements(permissions_policy(aws_for(AWS_QUERY_RESULTS_LOCATION="s3://acme-athena-results/q")))
    assert same["AllowS3AccessToBucket"]["Resource"] == [
        "arn:aws:s3:::acme-zuora-lake",
        "arn:aws:s3:::acme-zuora-lake/*",
    ]
    assert other["AllowS3AccessToBucket"]["Resource"][2:] == [
        "arn:aws:s3:::acme-athena-results",
        "arn:aws:s3:::acme-athena-results/*",
    ]


def test_kms_key_adds_its_statement():
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    kms = statements(permissions_policy(aws_for(AWS_KMS_KEY_ID=key)))["AllowKmsForBucketEncryption"]
    assert kms["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert kms["Resource"] == [f"arn:aws:kms:eu-west-1:123456789012:key/{key}"]


def test_trust_policy_names_the_principal_and_requires_the_external_id():
    principal = "arn:aws:iam::123456789012:user/deployer"
    statement = trust_policy(aws_for(), principal)["Statement"][0]
    assert statement["Principal"] == {"AWS": principal}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "acme-external-id"}}


@pytest.mark.parametrize("action", ACTIONS_USED)
def test_every_used_action_has_a_fix_statement_scoped_like_the_policy(action):
    statement = statement_for(action, aws_for(), "123456789012")
    assert statement["Action"] == [action]
    granting = [
        s
        for s in permissions_policy(aws_for(AWS_GLUE_PARTITIONS="true"))["Statement"]
        if action in s["Action"]
    ]
    assert statement["Resource"] == granting[0]["Resource"]
    placeholder = {"s3": "BUCKET_NAME", "glue": "SCHEMA", "athena": "WORKGROUP"}[action.split(":")[0]]
    assert placeholder in json.dumps(statement_for(action))  # without settings: the seed's placeholders


def test_unknown_action_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="glue:DeletePartition.*s3:GetBucketLocation"):
        statement_for("glue:DeletePartition")
