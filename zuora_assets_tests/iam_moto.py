"""Test helpers for IAM-enforced runs against the moto server: resource ARNs for Glue/Athena, and IAM set-up.

moto 5.2.5 authorizes Glue and Athena calls against the resource "*", so a policy scoped to real ARNs
(like the seed's) denies every Glue and Athena call. `moto_resource_arns` gives moto the resource AWS
would check for each call (the hook moto already uses for STS, IAM and SQS), so the seed's policy is
enforced as written: actions and resources. Where AWS checks several resources (catalog, database,
table), the most specific one is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError
from moto.athena.responses import AthenaResponse
from moto.glue.responses import GlueResponse

from zuora_assets.iam import seed_policy, trust_policy
from zuora_assets.settings import AwsSettings

ACCOUNT_ID = "123456789012"  # moto's account: AssumeRole credentials belong to the role ARN's account
DEPLOYER = "zuora-deployer"
ROLE_NAME = "zuora-athena-role"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"


def _glue_resource(response: GlueResponse) -> str:
    """The ARN AWS authorizes a Glue call against: its table, else its database, else the catalog."""
    params = json.loads(response.body or "{}")
    base = f"arn:aws:glue:{response.region}:{response.current_account}"
    database = params.get("DatabaseName") or params.get("Name") or params.get("DatabaseInput", {}).get("Name")
    table = params.get("TableName") or params.get("TableInput", {}).get("Name")
    if "DatabaseName" in params:
        table = table or params.get("Name")
    if table:
        return f"{base}:table/{database}/{table}"
    return f"{base}:database/{database}" if database else f"{base}:catalog"


def _athena_resource(response: AthenaResponse) -> str:
    """The workgroup ARN of an Athena call: its WorkGroup parameter, or the workgroup of its query."""
    params = json.loads(response.body or "{}")
    workgroup = params.get("WorkGroup")
    if not workgroup and params.get("QueryExecutionId"):
        execution = response.athena_backend.executions.get(params["QueryExecutionId"])
        workgroup = getattr(getattr(execution, "workgroup", None), "name", None)
    return f"arn:aws:athena:{response.region}:{response.current_account}:workgroup/{workgroup or 'primary'}"


def _safe(resolve):
    def determine_resource(self) -> str:
        try:
            return resolve(self)
        except (ValueError, AttributeError, KeyError, TypeError):
            return "*"

    return determine_resource


@pytest.fixture
def moto_resource_arns(monkeypatch):
    """Make the in-process moto server authorize Glue and Athena calls against their real resource ARNs."""
    monkeypatch.setattr(GlueResponse, "_determine_resource", _safe(_glue_resource), raising=False)
    monkeypatch.setattr(AthenaResponse, "_determine_resource", _safe(_athena_resource), raising=False)


@dataclass(frozen=True)
class Principal:
    """An IAM user's ARN and access keys."""

    arn: str
    access_key_id: str
    secret_access_key: str


def create_user(moto, name: str, policy: dict) -> Principal:
    """An IAM user with `policy` inline and an access key (call while IAM enforcement is off)."""
    iam = moto.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Principal(arn, key["AccessKeyId"], key["SecretAccessKey"])


def assume_policy(role_arn: str) -> dict:
    """A permissions policy that allows sts:AssumeRole on `role_arn` only."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
    }


def create_role(moto, aws: AwsSettings, policy: dict) -> Principal:
    """The role of AWS_ROLE_ARN holding `policy`, trusting a deployer user (with the external id); the deployer.

    The trust principal is the deployer's exact ARN (moto does not match `:root` principals).
    """
    deployer = create_user(moto, DEPLOYER, assume_policy(ROLE_ARN))
    put_role(moto, aws, policy, deployer.arn)
    return deployer


def put_role(moto, aws: AwsSettings, policy: dict, principal_arn: str) -> None:
    """The role of AWS_ROLE_ARN holding `policy`, trusting `principal_arn` when it presents the external id."""
    iam = moto.client("iam")
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust_policy(aws, principal_arn)))
    iam.put_role_policy(
        RoleName=ROLE_NAME, PolicyName="transfer-service-policy", PolicyDocument=json.dumps(policy)
    )


@dataclass(frozen=True)
class SessionCredentials:
    """Temporary credentials of an assumed-role session (what a CI runner or an EC2 instance holds)."""

    arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str


def create_runner_session(moto, session_name: str = "ci") -> SessionCredentials:
    """Temporary credentials (with a session token) of a `ci-runner` role session that may assume AWS_ROLE_ARN.

    A user assumes `ci-runner` (no external id); the session's ARN is what AWS_ROLE_ARN's trust policy must
    name. Call while IAM enforcement is off.
    """
    runner_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/ci-runner"
    user = create_user(moto, "ci-user", assume_policy(runner_arn))
    iam = moto.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="ci-runner", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName="ci-runner",
        PolicyName="assume-transfer-role",
        PolicyDocument=json.dumps(assume_policy(ROLE_ARN)),
    )
    sts = moto.client(
        "sts", aws_access_key_id=user.access_key_id, aws_secret_access_key=user.secret_access_key
    )
    response = sts.assume_role(RoleArn=runner_arn, RoleSessionName=session_name)
    c = response["Credentials"]
    return SessionCredentials(
        response["AssumedRoleUser"]["Arn"], c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
    )


def enforce_iam(moto) -> None:
    """Turn IAM enforcement on and prove it is on: moto's default test keys are refused."""
    moto.set_iam_enforcement(True)
    with pytest.raises(ClientError):
        moto.client("s3").list_buckets()


def exact_seed_policy(bucket: str, schema: str, workgroup: str = "primary") -> dict:
    """The seed's permissions policy with its placeholders filled in for moto's account and these names."""
    values = {"ACCOUNT_ID": ACCOUNT_ID, "WORKGROUP": workgroup, "BUCKET_NAME": bucket, "SCHEMA": schema}
    return seed_policy(values)


def create_bucket(moto, bucket: str, region: str) -> None:
    s3 = moto.client("s3", region=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def without_action(policy: dict, action: str) -> dict:
    """A copy of `policy` with `action` removed from every statement."""
    statements = [{**s, "Action": [a for a in s["Action"] if a != action]} for s in policy["Statement"]]
    return {**policy, "Statement": [s for s in statements if s["Action"]]}
