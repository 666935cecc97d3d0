"""The destination settings: S3 bucket and folder, Glue database, Athena workgroup, and how to authenticate
(None: the local lake folder with a DuckDB catalog)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import SecretStr

from zuora_assets.settings.reader import (
    Check,
    Reader,
    check_bucket,
    check_region,
    check_role_arn,
    check_token,
    check_url,
    pattern,
    role_account,
)

AUTH_MODES = ("role", "keys", "default")
DEFAULT_FOLDER = "zuora"
DEFAULT_DATABASE = "default"
DEFAULT_WORKGROUP = "primary"
DEFAULT_ROLE_SESSION_NAME = "zuora-athena"
# Athena query results go here when AWS_QUERY_RESULTS_LOCATION is not set (inside the data bucket,
# so the seed's IAM policy already covers it).
RESULTS_SUBFOLDER = "_zuora/athena-results/"

AWS_VARS = (
    "AWS_BUCKET",
    "AWS_BUCKET_REGION",
    "AWS_FOLDER",
    "AWS_SCHEMA",
    "AWS_DATABASE",
    "AWS_WORKGROUP",
    "AWS_QUERY_RESULTS_LOCATION",
    "AWS_REGION",
    "AWS_AUTH_MODE",
    "AWS_ROLE_ARN",
    "AWS_EXTERNAL_ID",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_KMS_KEY_ID",
    "AWS_ENDPOINT_URL",
    "AWS_GLUE_PARTITIONS",
)
# AWS settings that only make sense with a bucket: setting one without AWS_BUCKET is a mistake.
AWS_BUCKET_ONLY_VARS = (
    "AWS_BUCKET_REGION",
    "AWS_FOLDER",
    "AWS_SCHEMA",
    "AWS_DATABASE",
    "AWS_WORKGROUP",
    "AWS_QUERY_RESULTS_LOCATION",
    "AWS_AUTH_MODE",
    "AWS_EXTERNAL_ID",
    "AWS_ROLE_SESSION_NAME",
    "AWS_KMS_KEY_ID",
    "AWS_GLUE_PARTITIONS",
)

_GLUE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,254}$", re.ASCII)
_WORKGROUP_RE = re.compile(r"^[a-zA-Z0-9._-]{1,128}$", re.ASCII)
_EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
_SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_KMS_KEY_RE = re.compile(
    r"^(arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/+=,.@-]+|alias/[\w/+=,.@-]+|mrk-[0-9a-f]{32}|[0-9a-f-]{36})$",
    re.ASCII,
)
_check_glue_name = pattern(_GLUE_NAME_RE, "use ^[a-z][a-z0-9_]{0,254}$ (lowercase letters, digits, _)")


@dataclass(frozen=True)
class AwsSettings:
    """The AWS destination: S3 bucket and folder, Glue database, Athena workgroup, and how to authenticate.

    `region` defaults to `bucket_region`, `query_results_location` to
    `s3://<bucket>/<folder>/_zuora/athena-results/` (always with a trailing `/`).
    """

    bucket: str
    bucket_region: str
    schema: str
    folder: str = DEFAULT_FOLDER
    database: str = DEFAULT_DATABASE
    workgroup: str = DEFAULT_WORKGROUP
    query_results_location: str = ""
    region: str = ""
    auth_mode: str = "default"
    role_arn: str | None = None
    external_id: SecretStr | None = None
    role_session_name: str = DEFAULT_ROLE_SESSION_NAME
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    kms_key_id: str | None = None
    endpoint_url: str | None = None
    glue_partitions: bool = False

    def __post_init__(self) -> None:
        if not self.region:
            object.__setattr__(self, "region", self.bucket_region)
        if not self.query_results_location:
            location = f"s3://{self.bucket}/{self.folder}/{RESULTS_SUBFOLDER}"
            object.__setattr__(self, "query_results_location", location)

    @property
    def account_id(self) -> str | None:
        """The AWS account id named by the role ARN (None outside role mode)."""
        return role_account(self.role_arn)

    @property
    def results_bucket(self) -> str:
        """The bucket of the Athena query results location."""
        return self.query_results_location[len("s3://") :].split("/", 1)[0]


def check_folder(value: str) -> str | None:
    """The folder rule this value breaks: relative S3 key prefix whose segments Athena does not skip."""
    if value.startswith("/"):
        return "starts with '/': give the folder without a leading slash, e.g. zuora or exports/zuora"
    if any(c in value for c in "*?"):
        return "contains '*' or '?': folders may not hold wildcards"
    for segment in value.rstrip("/").split("/"):
        if segment in ("", "..", "."):
            return f"has an empty, '.' or '..' segment ({segment!r}): use plain names separated by single '/'"
        if segment[0] in "_.":
            return f"has the segment {segment!r}: Athena ignores paths starting with '_' or '.', so use another name"
    return None


def check_s3_location(value: str) -> str | None:
    """The rule this `s3://bucket/prefix/` location breaks, if any."""
    if not value.startswith("s3://"):
        return "is not an s3:// location: use s3://<bucket>/<prefix>/"
    bucket, _, prefix = value[len("s3://") :].partition("/")
    problem = check_bucket(bucket)
    if problem:
        return f"has the bucket {bucket!r}, which {problem}"
    if any(c in prefix for c in "*?") or ".." in prefix.split("/"):
        return "has '*', '?' or a '..' segment in its prefix: use a plain prefix"
    return None


def read_aws(r: Reader) -> AwsSettings | None:
    """The destination settings, or None (local lake) when AWS_BUCKET is not set."""
    bucket = r.checked("AWS_BUCKET", check_bucket)
    if r.get("AWS_BUCKET") is None:
        for name in AWS_BUCKET_ONLY_VARS:
            if r.get(name):
                r.problem(
                    name, f"is set but AWS_BUCKET is not: set AWS_BUCKET to write to S3, or unset {name}"
                )
        return None
    bucket_region = _required(r, "AWS_BUCKET_REGION", check_region)
    schema = _required(r, "AWS_SCHEMA", _check_glue_name, "the Glue database that holds the tables")
    folder = (r.checked("AWS_FOLDER", check_folder) or DEFAULT_FOLDER).rstrip("/")
    values = dict(
        database=r.checked("AWS_DATABASE", _check_glue_name, DEFAULT_DATABASE),
        workgroup=r.checked(
            "AWS_WORKGROUP", pattern(_WORKGROUP_RE, "use 1-128 of a-z A-Z 0-9 . _ -"), DEFAULT_WORKGROUP
        ),
        query_results_location=_results_location(r),
        region=r.checked("AWS_REGION", check_region) or "",
        kms_key_id=r.checked(
            "AWS_KMS_KEY_ID", pattern(_KMS_KEY_RE, "use a KMS key id, key ARN or alias/<name>")
        ),
        endpoint_url=r.checked("AWS_ENDPOINT_URL", lambda v: check_url(v, https_only=False)),
        glue_partitions=r.flag("AWS_GLUE_PARTITIONS"),
        **_auth_settings(r),
    )
    if not (bucket and bucket_region and schema):
        return None
    return AwsSettings(bucket=bucket, bucket_region=bucket_region, schema=schema, folder=folder, **values)


def _required(r: Reader, name: str, check: Check, what: str = "") -> str | None:
    if r.get(name) is None:
        r.problem(name, f"is missing: it is required when AWS_BUCKET is set{f' ({what})' if what else ''}")
    return r.checked(name, check)


def _results_location(r: Reader) -> str:
    """AWS_QUERY_RESULTS_LOCATION with a trailing '/' added, or "" for the default inside the bucket."""
    location = r.checked("AWS_QUERY_RESULTS_LOCATION", check_s3_location)
    return location.rstrip("/") + "/" if location else ""


def _auth_settings(r: Reader) -> dict:
    """Auth mode and credentials, checked for consistency (role needs ARN + external id, keys need both keys)."""
    mode = r.checked(
        "AWS_AUTH_MODE", lambda v: None if v.lower() in AUTH_MODES else f"is not one of {AUTH_MODES}"
    )
    values = dict(
        role_arn=r.checked("AWS_ROLE_ARN", check_role_arn),
        external_id=r.secret("AWS_EXTERNAL_ID", pattern(_EXTERNAL_ID_RE, r"use 2-1224 of [\w+=,.@:/-]")),
        role_session_name=r.checked(
            "AWS_ROLE_SESSION_NAME",
            pattern(_SESSION_NAME_RE, r"use 2-64 of [\w+=,.@-]"),
            DEFAULT_ROLE_SESSION_NAME,
        ),
        access_key_id=r.checked("AWS_ACCESS_KEY_ID", check_token),
        secret_access_key=r.secret("AWS_SECRET_ACCESS_KEY", check_token),
        session_token=r.secret("AWS_SESSION_TOKEN", check_token),
    )
    values["auth_mode"] = (mode or inferred_auth_mode(r)).lower()
    _check_auth_consistency(r, values["auth_mode"])
    return values


def inferred_auth_mode(
    r: Reader, keys: tuple[str, ...] = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
) -> str:
    """The auth mode when AWS_AUTH_MODE is unset: role with a role ARN, keys with keys, else default."""
    if r.get("AWS_ROLE_ARN"):
        return "role"
    if any(r.get(name) for name in keys):
        return "keys"
    return "default"


_AUTH_VARS = (
    "AWS_ROLE_ARN",
    "AWS_EXTERNAL_ID",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


def _check_auth_consistency(r: Reader, mode: str) -> None:
    """Record what the chosen auth mode needs but lacks, or has but would ignore."""
    has = {name: r.get(name) is not None for name in _AUTH_VARS}
    needs = {
        "role": ("AWS_ROLE_ARN", "AWS_EXTERNAL_ID"),
        "keys": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    }
    for name in needs.get(mode, ()):
        if not has[name]:
            r.problem(name, f"is missing: AWS_AUTH_MODE={mode} needs {' and '.join(needs[mode])}")
    if mode != "role":
        for name in ("AWS_ROLE_ARN", "AWS_EXTERNAL_ID"):
            if has[name]:
                r.problem(
                    name, f"is set but AWS_AUTH_MODE={mode} does not assume a role: use AWS_AUTH_MODE=role"
                )
    if mode != "default" and has["AWS_ACCESS_KEY_ID"] != has["AWS_SECRET_ACCESS_KEY"]:
        missing = "AWS_SECRET_ACCESS_KEY" if has["AWS_ACCESS_KEY_ID"] else "AWS_ACCESS_KEY_ID"
        r.problem(missing, "is missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY together")
    if has["AWS_SESSION_TOKEN"] and not has["AWS_ACCESS_KEY_ID"]:
        r.problem("AWS_SESSION_TOKEN", "is set without AWS_ACCESS_KEY_ID: a session token goes with its keys")
