"""The IAM policies this project needs: the seed's permissions policy filled in for your settings, and the trust policy.

`python -m zuora_assets iam-policy` prints them (`main_iam_policy`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Mapping

from zuora_assets.settings import AwsSettings, Settings, SettingsError

# The permissions policy of Zuora's "Connector for AWS Athena" setup guide, verbatim (seed 000_0962ab4cd3ee055b).
SEED_POLICY_TEMPLATE = """
{ "Version": "2012-10-17", "Statement": [ { "Sid": "AllowAthenaAccess", "Effect": "Allow", "Action": [
"athena:GetQueryResults", "athena:StartQueryExecution", "athena:StartSession", "athena:GetDatabase",
"athena:GetDataCatalog", "athena:GetWorkGroup", "athena:GetTableMetadata", "athena:GetQueryExecution" ],
"Resource": [ "arn:aws:athena:*:ACCOUNT_ID:workgroup/WORKGROUP" ] }, { "Sid":
"AllowGlueAccessToDestinationDatabaseAndTables", "Effect": "Allow", "Action": [ "glue:GetDatabases",
"glue:GetDatabase", "glue:GetTables", "glue:GetTable", "glue:GetPartitions", "glue:CreateTable",
"glue:CreateDatabase", "glue:UpdateTable", "glue:DeleteTable" ], "Resource": [ "arn:aws:glue:*:ACCOUNT_ID:catalog",
"arn:aws:glue:*:ACCOUNT_ID:database/SCHEMA", "arn:aws:glue:*:ACCOUNT_ID:database/default",
"arn:aws:glue:*:ACCOUNT_ID:table/SCHEMA/*" ] }, { "Sid": "AllowS3AccessToBucket", "Effect": "Allow", "Action": [
"s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:DeleteObject" ], "Resource": [
"arn:aws:s3:::BUCKET_NAME", "arn:aws:s3:::BUCKET_NAME/*" ] } ] }
"""
PLACEHOLDERS = ("ACCOUNT_ID", "WORKGROUP", "BUCKET_NAME", "SCHEMA")
_PLACEHOLDER_RE = re.compile(r"\b(" + "|".join(PLACEHOLDERS) + r")\b")

PARTITION_ACTION = "glue:BatchCreatePartition"  # only with AWS_GLUE_PARTITIONS=true; not in the seed's policy
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")  # only with AWS_KMS_KEY_ID; not in the seed's policy

# Every policy action the project calls (the connection test exercises each). The seed also grants
# athena:StartSession (Spark only), athena:GetDatabase, athena:GetDataCatalog, athena:GetTableMetadata and
# glue:GetDatabases, which nothing here calls.
ACTIONS_USED: tuple[str, ...] = (
    "s3:GetBucketLocation",
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "glue:GetDatabase",
    "glue:CreateDatabase",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:GetTable",
    "glue:UpdateTable",
    "glue:GetPartitions",
    PARTITION_ACTION,
    "glue:DeleteTable",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
)


def seed_policy(values: Mapping[str, str] | None = None, *, partitions: bool = False) -> dict:
    """The seed's permissions policy with its placeholders replaced by `values` (missing ones kept as is).

    `partitions=True` adds glue:BatchCreatePartition to the Glue statement.
    """
    values = values or {}
    policy = json.loads(SEED_POLICY_TEMPLATE)
    for statement in policy["Statement"]:
        statement["Resource"] = [
            _PLACEHOLDER_RE.sub(lambda m: values.get(m[1], m[1]), arn) for arn in statement["Resource"]
        ]
    if partitions:
        _statement(policy, "glue:GetTable")["Action"].append(PARTITION_ACTION)
    return policy


def permissions_policy(aws: AwsSettings, account_id: str | None = None) -> dict:
    """The seed's policy for these settings, plus what the settings add (partitions, results bucket, KMS).

    The account id comes from `account_id`, else from the role ARN; without either it stays `ACCOUNT_ID`.
    """
    account = account_id or aws.account_id or "ACCOUNT_ID"
    values = {
        "ACCOUNT_ID": account,
        "WORKGROUP": aws.workgroup,
        "BUCKET_NAME": aws.bucket,
        "SCHEMA": aws.schema,
    }
    policy = seed_policy(values, partitions=aws.glue_partitions)
    if aws.results_bucket != aws.bucket:
        _statement(policy, "s3:PutObject")["Resource"] += _bucket_arns(aws.results_bucket)
    if aws.kms_key_id:
        policy["Statement"].append(_kms_statement(aws, account))
    return policy


def trust_policy(aws: AwsSettings, principal_arn: str, external_id: str | None = None) -> dict:
    """The role's trust policy: `principal_arn` may assume it when it presents the external id.

    `external_id` defaults to AWS_EXTERNAL_ID; pass a placeholder to print the policy without the secret.
    """
    if external_id is None:
        if aws.external_id is None:
            raise ValueError(
                "AWS_EXTERNAL_ID is not set: the trust policy needs the external id the role expects"
            )
        external_id = aws.external_id.get_secret_value()
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def statement_for(action: str, aws: AwsSettings | None = None, account_id: str | None = None) -> dict:
    """A policy statement granting just `action` on the resources the project's policy scopes it to.

    Without settings the resources keep their placeholders (BUCKET_NAME, SCHEMA, ...).
    """
    if action not in ACTIONS_USED:
        raise ValueError(f"{action!r} is not an action this project uses; it uses {', '.join(ACTIONS_USED)}")
    if aws is None:
        policy = seed_policy({"ACCOUNT_ID": account_id} if account_id else None, partitions=True)
    else:
        policy = permissions_policy(dataclasses.replace(aws, glue_partitions=True), account_id)
    resources = _statement(policy, action)["Resource"]
    service, _, name = action.partition(":")
    sid = f"Allow{service.capitalize()}{name}"
    return {"Sid": sid, "Effect": "Allow", "Action": [action], "Resource": list(resources)}


def main_iam_policy(env: Mapping[str, str], *, deployment: bool = False) -> int:
    """Print the permissions policy (and, in role mode, the trust policy) for the settings in `env`.

    `deployment=True`: the same policy, then the roles of a deployment on ECS (`zuora_assets.deployment`).
    """
    if deployment:
        from zuora_assets.deployment import main_iam_policy as deployment_policies

        return deployment_policies(env)
    try:
        settings = Settings.from_env(env)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    aws = settings.aws
    if aws is None:
        print(
            "AWS_BUCKET is not set, so the destination is the local lake and no IAM policy is needed. "
            "Set AWS_BUCKET, AWS_BUCKET_REGION and AWS_SCHEMA to get the policy for your bucket.",
            file=sys.stderr,
        )
        return 2
    print(_policy_text(aws))
    return 0


def _policy_text(aws: AwsSettings) -> str:
    parts = ["# Permissions policy: attach it to the role (or user) this project runs as."]
    if aws.account_id is None:
        parts.append("# Replace ACCOUNT_ID with your 12-digit AWS account id.")
    parts.append(json.dumps(permissions_policy(aws), indent=2))
    if aws.auth_mode == "role":
        parts += [
            "",
            f"# Trust policy of {aws.role_arn}: replace PRINCIPAL_ARN with the ARN this project runs as",
            "# (`aws sts get-caller-identity`) and EXTERNAL_ID with the value of AWS_EXTERNAL_ID.",
            json.dumps(trust_policy(aws, "PRINCIPAL_ARN", external_id="EXTERNAL_ID"), indent=2),
        ]
    return "\n".join(parts)


def _statement(policy: dict, action: str) -> dict:
    """The statement of `policy` that grants `action`."""
    return next(s for s in policy["Statement"] if action in s["Action"])


def _bucket_arns(bucket: str) -> list[str]:
    return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def _kms_statement(aws: AwsSettings, account: str) -> dict:
    """kms:GenerateDataKey and kms:Decrypt on the SSE-KMS key (writers need one, readers the other)."""
    key = aws.kms_key_id or ""
    if key.startswith("arn:"):
        resource = key
    elif key.startswith("alias/"):
        resource = f"arn:aws:kms:{aws.bucket_region}:{account}:key/*"  # IAM scopes keys, not aliases
    else:
        resource = f"arn:aws:kms:{aws.bucket_region}:{account}:key/{key}"
    return {
        "Sid": "AllowKmsForBucketEncryption",
        "Effect": "Allow",
        "Action": list(KMS_ACTIONS),
        "Resource": [resource],
    }
