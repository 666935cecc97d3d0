"""The connector's settings: read from environment variables, validated all at once, secrets kept masked.

With no `ZUORA_CLIENT_ID` the source is the embedded simulator (`Settings.zuora is None`); with no
`AWS_BUCKET` the destination is the local lake folder (`Settings.aws is None`). `.env.example`
documents every variable.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from zuora_assets.common.contract import is_day
from zuora_assets.common.failures import Permanent
from zuora_assets.common.urls import url_problem
from zuora_assets.zuora.environments import ENVIRONMENTS

# Named Zuora environments and their REST base URLs: the client's table is the single one.
ZUORA_ENVIRONMENTS: dict[str, str] = ENVIRONMENTS

AUTH_MODES = ("role", "keys", "default")
DEFAULT_FOLDER = "zuora"
DEFAULT_DATABASE = "default"
DEFAULT_WORKGROUP = "primary"
DEFAULT_ROLE_SESSION_NAME = "zuora-athena"
DEFAULT_LOCAL_DIR = "./.lake"
DEFAULT_START_DAYS_AGO = 30
DEFAULT_MANIFEST_RETENTION_DAYS = 30
MAX_MANIFEST_RETENTION_DAYS = 3650
# Athena query results go here when AWS_QUERY_RESULTS_LOCATION is not set (inside the data bucket,
# so the seed's IAM policy already covers it).
RESULTS_SUBFOLDER = "_zuora/athena-results/"

# Every setting is one environment variable (the Dagster resource field is its lower-case name).
ENV_VARS = (
    "ZUORA_ENVIRONMENT",
    "ZUORA_BASE_URL",
    "ZUORA_CLIENT_ID",
    "ZUORA_CLIENT_SECRET",
    "ZUORA_ENTITY_ID",
    "ZUORA_START_DATE",
    "ZUORA_MANIFEST_RETENTION_DAYS",
    "ZUORA_ATHENA_HOME",
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

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")
_GLUE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
_WORKGROUP_RE = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")
_ROLE_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/([\w+=,.@/-]{1,512})$", re.ASCII)
_EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
_SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_KMS_KEY_RE = re.compile(
    r"^(arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/+=,.@-]+|alias/[\w/+=,.@-]+|mrk-[0-9a-f]{32}|[0-9a-f-]{36})$",
    re.ASCII,
)
_BUCKET_RE = re.compile(r"^[a-z0-9.-]+$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class SettingsError(Permanent, ValueError):
    """One or more settings are wrong; `problems` lists every one, each naming its variable."""

    def __init__(self, problems: list[str]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the settings (environment variables):\n{lines}")


@dataclass(frozen=True)
class Secret:
    """A secret value: shown as `***` by `repr`, `str` and f-strings; `.reveal()` gives the value."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


@dataclass(frozen=True)
class ZuoraSettings:
    """The Zuora tenant to read from."""

    base_url: str
    client_id: str
    client_secret: Secret
    environment: str | None = None
    entity_id: str | None = None


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
    external_id: Secret | None = None
    role_session_name: str = DEFAULT_ROLE_SESSION_NAME
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
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
        match = _ROLE_ARN_RE.match(self.role_arn or "")
        return match.group(2) if match else None

    @property
    def results_bucket(self) -> str:
        """The bucket of the Athena query results location."""
        return self.query_results_location[len("s3://") :].split("/", 1)[0]


@dataclass(frozen=True)
class Settings:
    """All settings: the source (None = simulator), the destination (None = local lake) and the sync start.

    `start_date` is ZUORA_START_DATE, required with AWS_BUCKET; None in the embedded default, whose first
    partition day is pinned in the local lake at the first sync (`DEFAULT_START_DAYS_AGO` days before it).
    """

    zuora: ZuoraSettings | None
    aws: AwsSettings | None
    local_dir: Path
    start_date: date | None
    manifest_retention_days: int = DEFAULT_MANIFEST_RETENTION_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, today: date | None = None) -> Settings:
        """Read and validate every setting; raise `SettingsError` listing all problems at once."""
        reader = _Reader(env)
        today = today or datetime.now(UTC).date()
        settings = cls(
            zuora=_zuora_settings(reader),
            aws=_aws_settings(reader),
            local_dir=Path(reader.get("ZUORA_ATHENA_HOME") or DEFAULT_LOCAL_DIR).expanduser(),
            start_date=_start_date(reader, today, required=reader.get("AWS_BUCKET") is not None),
            manifest_retention_days=_retention_days(reader),
        )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings

    def describe(self) -> str:
        """One line per setting, secrets shown as `***`, plus the source and destination modes."""
        return "\n".join(_describe_lines(self))


# --- reading and checking single values ---------------------------------------------------------------------

# A check returns the problem with a value (and the rule it breaks), or None when the value is fine.
Check = Callable[[str], str | None]


class _Reader:
    """Reads variables from one mapping (empty = unset) and collects every problem found."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.env.get(name)
        value = value.strip() if value is not None else None
        return value or None

    def problem(self, name: str, text: str) -> None:
        self.problems.append(f"{name}: {text}")

    def checked(self, name: str, check: Check, default: str | None = None) -> str | None:
        """The variable's value (or `default`), or None after recording its problem (value quoted)."""
        value = self.get(name)
        if value is None:
            return default
        problem = check(value)
        if problem:
            self.problem(name, f"{_quoted(value)} {problem}")
            return None
        return value

    def secret(self, name: str, check: Check | None = None) -> Secret | None:
        """A secret variable; its problems never quote the value."""
        value = self.get(name)
        if value is None:
            return None
        problem = check(value) if check else None
        if problem:
            self.problem(name, f"the value (not shown) {problem}")
            return None
        return Secret(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.checked(name, _check_bool)
        return default if value is None else value.lower() in _TRUE


def _quoted(value: str) -> str:
    """The value quoted for an error message, with any `user:password@` of a URL masked."""
    return repr(re.sub(r"(?<=://)[^/@]*@", "***@", value))


def _pattern(regex: re.Pattern[str], rule: str) -> Check:
    return lambda value: None if regex.match(value) else f"is not valid: {rule}"


def _check_bool(value: str) -> str | None:
    return None if value.lower() in _TRUE + _FALSE else "is not a boolean: use true or false"


def _check_bucket(value: str) -> str | None:
    """The S3 bucket naming rule this value breaks, if any (reference athena_glue_s3.md 10)."""
    rule = "S3 bucket names"
    if not 3 <= len(value) <= 63:
        return f"has {len(value)} characters: {rule} have 3 to 63"
    if not _BUCKET_RE.match(value):
        return f"has characters other than a-z, 0-9, '.' and '-': {rule} use only those"
    if not (value[0].isalnum() and value[-1].isalnum()):
        return f"does not begin and end with a letter or digit, as {rule} must"
    if ".." in value:
        return f"contains '..', which {rule} may not"
    if _IP_RE.match(value):
        return f"looks like an IP address, which {rule} may not"
    bad = [p for p in _BUCKET_BAD_PREFIXES if value.startswith(p)] + [
        s for s in _BUCKET_BAD_SUFFIXES if value.endswith(s)
    ]
    if bad:
        return f"uses the reserved prefix or suffix {bad[0]!r}, which {rule} may not"
    return None


def _check_folder(value: str) -> str | None:
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


def _check_s3_location(value: str) -> str | None:
    """The rule this `s3://bucket/prefix/` location breaks, if any."""
    if not value.startswith("s3://"):
        return "is not an s3:// location: use s3://<bucket>/<prefix>/"
    bucket, _, prefix = value[len("s3://") :].partition("/")
    problem = _check_bucket(bucket)
    if problem:
        return f"has the bucket {bucket!r}, which {problem}"
    if any(c in prefix for c in "*?") or ".." in prefix.split("/"):
        return "has '*', '?' or a '..' segment in its prefix: use a plain prefix"
    return None


def _check_url(value: str, *, https_only: bool) -> str | None:
    return url_problem(value, https_only=https_only)


def _check_uuid(value: str) -> str | None:
    try:
        uuid.UUID(value)
    except ValueError:
        return "is not a UUID (32 hexadecimal digits, dashes optional)"
    return None


_check_glue_name = _pattern(_GLUE_NAME_RE, "use ^[a-z][a-z0-9_]{0,254}$ (lowercase letters, digits, _)")


# --- the Zuora source ------------------------------------------------------------------------------------------


def _zuora_settings(r: _Reader) -> ZuoraSettings | None:
    """The tenant settings, or None (embedded simulator) when no client id or secret is set."""
    client_id, secret = r.get("ZUORA_CLIENT_ID"), r.secret("ZUORA_CLIENT_SECRET")
    if not client_id and not secret:
        for name in ("ZUORA_ENVIRONMENT", "ZUORA_BASE_URL", "ZUORA_ENTITY_ID"):
            if r.get(name):
                r.problem(
                    name,
                    "is set but ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET are not: set both to use your tenant, "
                    f"or unset {name} to use the embedded simulator",
                )
        return None
    if not client_id or not secret:
        missing = "ZUORA_CLIENT_ID" if not client_id else "ZUORA_CLIENT_SECRET"
        r.problem(
            missing, "is missing: set ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET together (an OAuth client)"
        )
        return None
    environment, base_url = _zuora_endpoint(r)
    entity_id = r.checked("ZUORA_ENTITY_ID", _check_uuid)
    if base_url is None:
        return None
    return ZuoraSettings(base_url, client_id, secret, environment, entity_id)


def _zuora_endpoint(r: _Reader) -> tuple[str | None, str | None]:
    """(environment name, base URL) from exactly one of ZUORA_ENVIRONMENT and ZUORA_BASE_URL."""
    environment = r.get("ZUORA_ENVIRONMENT")
    url = r.checked("ZUORA_BASE_URL", lambda v: _check_url(v, https_only=True))
    if environment and r.get("ZUORA_BASE_URL"):
        r.problem("ZUORA_BASE_URL", "is set together with ZUORA_ENVIRONMENT: set only one of them")
        return None, None
    if environment:
        if environment.lower() not in ZUORA_ENVIRONMENTS:
            r.problem(
                "ZUORA_ENVIRONMENT",
                f"{environment!r} is not a known Zuora environment: use one of "
                f"{', '.join(ZUORA_ENVIRONMENTS)}, or set ZUORA_BASE_URL instead",
            )
            return None, None
        return environment.lower(), ZUORA_ENVIRONMENTS[environment.lower()]
    if not url and not r.get("ZUORA_BASE_URL"):
        r.problem(
            "ZUORA_ENVIRONMENT",
            f"is missing: name your tenant's environment ({', '.join(ZUORA_ENVIRONMENTS)}) or set ZUORA_BASE_URL",
        )
    return None, url.rstrip("/") if url else None


# --- the AWS destination -----------------------------------------------------------------------------------------


def _aws_settings(r: _Reader) -> AwsSettings | None:
    """The destination settings, or None (local lake) when AWS_BUCKET is not set."""
    bucket = r.checked("AWS_BUCKET", _check_bucket)
    if r.get("AWS_BUCKET") is None:
        for name in AWS_BUCKET_ONLY_VARS:
            if r.get(name):
                r.problem(
                    name, f"is set but AWS_BUCKET is not: set AWS_BUCKET to write to S3, or unset {name}"
                )
        return None
    bucket_region = _required(
        r, "AWS_BUCKET_REGION", _pattern(_REGION_RE, "use a region name like eu-west-1")
    )
    schema = _required(r, "AWS_SCHEMA", _check_glue_name, "the Glue database that holds the tables")
    folder = (r.checked("AWS_FOLDER", _check_folder) or DEFAULT_FOLDER).rstrip("/")
    values = dict(
        database=r.checked("AWS_DATABASE", _check_glue_name, DEFAULT_DATABASE),
        workgroup=r.checked(
            "AWS_WORKGROUP", _pattern(_WORKGROUP_RE, "use 1-128 of a-z A-Z 0-9 . _ -"), DEFAULT_WORKGROUP
        ),
        query_results_location=_results_location(r),
        region=r.checked("AWS_REGION", _pattern(_REGION_RE, "use a region name like eu-west-1")) or "",
        kms_key_id=r.checked(
            "AWS_KMS_KEY_ID", _pattern(_KMS_KEY_RE, "use a KMS key id, key ARN or alias/<name>")
        ),
        endpoint_url=r.checked("AWS_ENDPOINT_URL", lambda v: _check_url(v, https_only=False)),
        glue_partitions=r.flag("AWS_GLUE_PARTITIONS"),
        **_auth_settings(r),
    )
    if not (bucket and bucket_region and schema):
        return None
    return AwsSettings(bucket=bucket, bucket_region=bucket_region, schema=schema, folder=folder, **values)


def _required(r: _Reader, name: str, check: Check, what: str = "") -> str | None:
    if r.get(name) is None:
        r.problem(name, f"is missing: it is required when AWS_BUCKET is set{f' ({what})' if what else ''}")
    return r.checked(name, check)


def _results_location(r: _Reader) -> str:
    """AWS_QUERY_RESULTS_LOCATION with a trailing '/' added, or "" for the default inside the bucket."""
    location = r.checked("AWS_QUERY_RESULTS_LOCATION", _check_s3_location)
    return location.rstrip("/") + "/" if location else ""


def _auth_settings(r: _Reader) -> dict:
    """Auth mode and credentials, checked for consistency (role needs ARN + external id, keys need both keys)."""
    mode = r.checked(
        "AWS_AUTH_MODE", lambda v: None if v.lower() in AUTH_MODES else f"is not one of {AUTH_MODES}"
    )
    values = dict(
        role_arn=r.checked(
            "AWS_ROLE_ARN", _pattern(_ROLE_ARN_RE, "use arn:aws:iam::<12-digit account>:role/<role name>")
        ),
        external_id=r.secret("AWS_EXTERNAL_ID", _pattern(_EXTERNAL_ID_RE, r"use 2-1224 of [\w+=,.@:/-]")),
        role_session_name=r.checked(
            "AWS_ROLE_SESSION_NAME",
            _pattern(_SESSION_NAME_RE, r"use 2-64 of [\w+=,.@-]"),
            DEFAULT_ROLE_SESSION_NAME,
        ),
        access_key_id=r.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=r.secret("AWS_SECRET_ACCESS_KEY"),
        session_token=r.secret("AWS_SESSION_TOKEN"),
    )
    values["auth_mode"] = (mode or _inferred_auth_mode(r)).lower()
    _check_auth_consistency(r, values["auth_mode"])
    return values


def _inferred_auth_mode(r: _Reader) -> str:
    if r.get("AWS_ROLE_ARN"):
        return "role"
    if r.get("AWS_ACCESS_KEY_ID") or r.get("AWS_SECRET_ACCESS_KEY"):
        return "keys"
    return "default"


_AUTH_VARS = (
    "AWS_ROLE_ARN",
    "AWS_EXTERNAL_ID",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


def _check_auth_consistency(r: _Reader, mode: str) -> None:
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


# --- the rest ------------------------------------------------------------------------------------------------


def _start_date(r: _Reader, today: date, *, required: bool) -> date | None:
    """ZUORA_START_DATE (ISO day, not in the future); required when data goes to S3 (AWS_BUCKET)."""
    if required and r.get("ZUORA_START_DATE") is None:
        r.problem(
            "ZUORA_START_DATE",
            "is missing: it is required when AWS_BUCKET is set. It is the first partition day and the start of "
            "the Athena projection range, so it must not move with the calendar; set the first day to export, "
            "e.g. ZUORA_START_DATE=2024-01-01",
        )
        return None
    value = r.checked("ZUORA_START_DATE", _check_iso_date)
    if value is None:
        return None
    day = date.fromisoformat(value)
    if day > today:
        r.problem(
            "ZUORA_START_DATE",
            f"{value!r} is in the future: the first partition day must be today or earlier",
        )
        return None
    return day


def _retention_days(r: _Reader) -> int:
    """ZUORA_MANIFEST_RETENTION_DAYS: a whole number of days, 1 to `MAX_MANIFEST_RETENTION_DAYS`."""
    value = r.checked("ZUORA_MANIFEST_RETENTION_DAYS", _check_retention_days)
    return int(value) if value is not None else DEFAULT_MANIFEST_RETENTION_DAYS


def _check_retention_days(value: str) -> str | None:
    if value.isdigit() and 1 <= int(value) <= MAX_MANIFEST_RETENTION_DAYS:
        return None
    return f"is not a number of days from 1 to {MAX_MANIFEST_RETENTION_DAYS} (e.g. 30)"


def _check_iso_date(value: str) -> str | None:
    if is_day(value):
        return None
    return "is not a date: use YYYY-MM-DD, e.g. 2024-01-31"


# --- describe ------------------------------------------------------------------------------------------------


def _describe_lines(s: Settings) -> list[str]:
    lines = [_source_line(s.zuora), *_setting_lines(s.zuora, _ZUORA_FIELDS)]
    lines += [_destination_line(s), *_setting_lines(s.aws, _AWS_FIELDS)]
    start = s.start_date.isoformat() if s.start_date else "(not set: 30 days before the first sync, pinned in the lake)"
    lines += [
        f"ZUORA_START_DATE = {start}",
        f"ZUORA_MANIFEST_RETENTION_DAYS = {s.manifest_retention_days}",
        f"ZUORA_ATHENA_HOME = {s.local_dir}",
    ]
    return lines


def _source_line(z: ZuoraSettings | None) -> str:
    return "source: the embedded Zuora simulator" if z is None else f"source: Zuora tenant at {z.base_url}"


def _destination_line(s: Settings) -> str:
    if s.aws is None:
        return f"destination: the local lake folder {s.local_dir} with a DuckDB catalog"
    a = s.aws
    return f"destination: s3://{a.bucket}/{a.folder}/ ({a.bucket_region}), Glue database {a.schema}, auth {a.auth_mode}"


def _setting_lines(section: object | None, fields: tuple[tuple[str, str], ...]) -> list[str]:
    if section is None:
        return []
    return [f"  {name} = {_shown(getattr(section, attr))}" for name, attr in fields]


def _shown(value: object) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)  # a Secret shows as ***


_ZUORA_FIELDS = (
    ("ZUORA_ENVIRONMENT", "environment"),
    ("ZUORA_BASE_URL", "base_url"),
    ("ZUORA_CLIENT_ID", "client_id"),
    ("ZUORA_CLIENT_SECRET", "client_secret"),
    ("ZUORA_ENTITY_ID", "entity_id"),
)
_AWS_FIELDS = tuple((f"AWS_{attr.upper()}", attr) for attr in AwsSettings.__dataclass_fields__)
