"""AWS sessions and clients for the destination: an assumed role (refreshing itself), access keys, or the default chain."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from zuora_assets.settings import AwsSettings

# AssumeRole session length. Role chaining caps sessions at one hour, so ask for no more; botocore
# refreshes the credentials 15 minutes before they expire, so runs longer than this keep working.
ROLE_DURATION_SECONDS = 3600
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="zuora-athena",
)


class AwsAuthError(RuntimeError):
    """The AWS credentials could not be obtained: says which credentials or role, why, and what to check."""


def aws_session(aws: AwsSettings, *, duration_seconds: int = ROLE_DURATION_SECONDS) -> boto3.Session:
    """One boto3 session for a run, authenticated as AWS_AUTH_MODE says.

    role: source credentials (the keys if given, else the default chain) assume AWS_ROLE_ARN with
    AWS_EXTERNAL_ID; the credentials refresh themselves before they expire. Raises `AwsAuthError` when
    AssumeRole fails. keys: the given keys. default: boto3's default credential chain.
    """
    if aws.auth_mode == "role":
        return _role_session(aws, duration_seconds)
    if aws.auth_mode == "keys":
        return _keys_session(aws)
    return boto3.Session(region_name=aws.region)


def sse_arguments(aws: AwsSettings) -> dict[str, str]:
    """PutObject arguments for server-side encryption: SSE-KMS with AWS_KMS_KEY_ID, else SSE-S3."""
    if aws.kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": aws.kms_key_id}
    return {"ServerSideEncryption": "AES256"}


class AwsClients:
    """boto3 clients of one session: S3 in the bucket's region; Glue, Athena and STS in AWS_REGION."""

    def __init__(self, session: boto3.Session, aws: AwsSettings):
        self.session = session
        self.aws = aws

    @cached_property
    def s3(self):
        return self._client("s3", self.aws.bucket_region)

    @cached_property
    def glue(self):
        return self._client("glue", self.aws.region)

    @cached_property
    def athena(self):
        return self._client("athena", self.aws.region)

    @cached_property
    def sts(self):
        return self._client("sts", self.aws.region)

    def _client(self, service: str, region: str):
        return _client(self.session, service, region, self.aws.endpoint_url)


def _client(session: boto3.Session, service: str, region: str, endpoint_url: str | None):
    config = CLIENT_CONFIG
    if service == "s3" and endpoint_url:
        config = config.merge(Config(s3={"addressing_style": "path"}))  # S3-compatible endpoints on an IP
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def _keys_session(aws: AwsSettings) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key.get_secret_value() if aws.secret_access_key else None,
        aws_session_token=aws.session_token.get_secret_value() if aws.session_token else None,
        region_name=aws.region,
    )


def _role_session(aws: AwsSettings, duration_seconds: int) -> boto3.Session:
    """A session whose credentials come from AssumeRole and refresh through it (never copied into strings)."""
    source = _keys_session(aws) if aws.access_key_id else boto3.Session(region_name=aws.region)
    sts = _client(source, "sts", aws.region, aws.endpoint_url)
    fetch = _assume_role_fetcher(sts, aws, duration_seconds)
    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="assume-role"
    )
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([_Provided(credentials)]))
    return boto3.Session(botocore_session=core, region_name=aws.region)


class _Provided(CredentialProvider):
    """A credential provider that hands out credentials built elsewhere."""

    METHOD = "assume-role"

    def __init__(self, credentials: RefreshableCredentials):
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def _assume_role_fetcher(sts, aws: AwsSettings, duration_seconds: int) -> Callable[[], dict]:
    """A function that assumes the role and returns botocore's credential metadata."""

    def fetch() -> dict:
        arguments = {"RoleArn": aws.role_arn, "RoleSessionName": aws.role_session_name}
        if aws.external_id:
            arguments["ExternalId"] = aws.external_id.get_secret_value()
        try:
            response = sts.assume_role(**arguments, DurationSeconds=duration_seconds)
        except (ClientError, BotoCoreError) as error:
            raise AwsAuthError(_assume_role_failure(sts, aws, error)) from error
        c = response["Credentials"]
        return {
            "access_key": c["AccessKeyId"],
            "secret_key": c["SecretAccessKey"],
            "token": c["SessionToken"],
            "expiry_time": c["Expiration"].isoformat(),
        }

    return fetch


def _assume_role_failure(sts, aws: AwsSettings, error: Exception) -> str:
    """Why AssumeRole of AWS_ROLE_ARN failed and what to check (never the external id's value)."""
    code = error.response["Error"].get("Code", "") if isinstance(error, ClientError) else type(error).__name__
    caller = _caller_arn(sts)
    head = f"AssumeRole of {aws.role_arn} (AWS_ROLE_ARN) failed ({code})"
    if code in ("AccessDenied", "AccessDeniedException", "403"):
        return (
            f"{head}: AssumeRole was denied for the caller {caller or '(unknown)'}. Likely causes: AWS_EXTERNAL_ID "
            "does not match the sts:ExternalId condition in the role's trust policy; the trust policy's Principal "
            "does not name this caller; or the caller's own policy does not allow sts:AssumeRole on the role. "
            "Check the role's trust policy (`python -m zuora_assets iam-policy` prints the expected one) and "
            "the value of AWS_EXTERNAL_ID."
        )
    if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "NoCredentialsError"):
        return (
            f"{head}: the source credentials were missing or rejected. Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or configure the default credential chain) to credentials that may assume "
            "the role."
        )
    return f"{head}: {error}. Check AWS_ROLE_ARN, AWS_REGION and AWS_ENDPOINT_URL, and that STS is reachable."


def _caller_arn(sts) -> str | None:
    """The source credentials' ARN, for the error message; None when even that fails."""
    try:
        return sts.get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError):
        return None
