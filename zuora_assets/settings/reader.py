"""The one way to read and validate an environment variable: a `Reader` that collects every problem as one
line, "VARIABLE: problem (rule)", and the value checks the settings share (connector and deployment alike)."""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from urllib.parse import urlsplit

from pydantic import SecretStr

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_REGION_RE = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d$", re.ASCII)
_ROLE_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/([\w+=,.@/-]{1,512})$", re.ASCII)
_TOKEN_RE = re.compile(
    r"^[\x21-\x7e]{1,2048}$", re.ASCII
)  # printable ASCII, no spaces: safe in an HTTP header
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_BUCKET_RE = re.compile(r"^[a-z0-9.-]+$", re.ASCII)
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$", re.ASCII)
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# The services whose regions a region setting must be one of (botocore's endpoint data, every partition).
REGION_SERVICES = ("s3", "glue", "athena")

# A check returns the problem with a value (and the rule it breaks), or None when the value is fine.
Check = Callable[[str], str | None]


class SettingsError(ValueError):
    """One or more settings are wrong; `problems` lists every one, each one line naming its variable."""

    def __init__(self, problems: list[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class Reader:
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
            self.problem(name, f"{quoted(value)} {problem}")
            return None
        return value

    def secret(self, name: str, check: Check | None = None) -> SecretStr | None:
        """A secret variable; its problems never quote the value."""
        value = self.get(name)
        if value is None:
            return None
        problem = check(value) if check else None
        if problem:
            self.problem(name, f"the value (not shown) {problem}")
            return None
        return SecretStr(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.checked(name, check_bool)
        return default if value is None else value.lower() in _TRUE

    def integer(self, name: str, default: int, low: int, high: int, unit: str) -> int:
        """A whole number from `low` to `high` (the default when unset or wrong)."""
        value = self.checked(name, lambda v: check_integer(v, low, high, unit))
        return default if value is None else int(value)

    def number(self, name: str, default: float, low: float, high: float, unit: str) -> float:
        """A decimal number from `low` to `high` (the default when unset or wrong)."""
        value = self.checked(name, lambda v: check_number(v, low, high, unit))
        return default if value is None else float(value)

    def raise_problems(self) -> None:
        if self.problems:
            raise SettingsError(self.problems)


def quoted(value: str) -> str:
    """The value quoted for an error message, with any `user:password@` of a URL masked."""
    return repr(re.sub(r"(?<=://)[^/@]*@", "***@", value))


def pattern(regex: re.Pattern[str], rule: str) -> Check:
    return lambda value: None if regex.match(value) else f"is not valid: {rule}"


def check_bool(value: str) -> str | None:
    return None if value.lower() in _TRUE + _FALSE else "is not a boolean: use true or false"


def check_integer(value: str, low: int, high: int, unit: str) -> str | None:
    if value.isascii() and value.isdigit() and low <= int(value) <= high:
        return None
    return f"is not a whole number of {unit} from {low} to {high}"


def check_number(value: str, low: float, high: float, unit: str) -> str | None:
    try:
        if value.isascii() and low <= float(value) <= high:
            return None
    except ValueError:
        pass
    return f"is not a number of {unit} from {low:g} to {high:g}"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows for S3, Glue and Athena, in every partition (aws, aws-cn, aws-us-gov, ...)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for service in REGION_SERVICES
        for region in session.get_available_regions(service, partition)
    )


def check_region(value: str) -> str | None:
    """The rule this region name breaks: it must be one botocore knows for S3, Glue and Athena."""
    if not _REGION_RE.match(value):
        return "is not a region name: use one like eu-west-1"
    if value not in known_regions():
        near = sorted(r for r in known_regions() if r.split("-")[0] == value.split("-")[0])[:6]
        return f"is not a known AWS region (botocore's list for S3, Glue, Athena){': e.g. ' + ', '.join(near) if near else ''}"
    return None


def check_role_arn(value: str) -> str | None:
    return (
        None
        if _ROLE_ARN_RE.match(value)
        else "is not valid: use arn:aws:iam::<12-digit account>:role/<role name>"
    )


def role_account(role_arn: str | None) -> str | None:
    """The 12-digit account of a role ARN (None when there is none)."""
    match = _ROLE_ARN_RE.match(role_arn or "")
    return match.group(2) if match else None


def check_bucket(value: str) -> str | None:
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


def check_url(value: str, *, https_only: bool) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return "is not an http(s) URL like https://host[:port]"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if https_only and parts.scheme == "http" and not is_loopback(parts.hostname):
        return "uses http: only https is allowed, except for 127.0.0.1/localhost (a local simulator)"
    if parts.username or parts.password:
        return "contains a user name or password: put credentials in their own settings"
    return None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_uuid(value: str) -> str | None:
    try:
        uuid.UUID(value)
    except ValueError:
        return "is not a UUID (32 hexadecimal digits, dashes optional)"
    return None


def check_token(value: str) -> str | None:
    """The rule a credential (client id, key id, secret) breaks: printable ASCII without spaces."""
    return None if _TOKEN_RE.match(value) else "is not valid: use printable ASCII characters without spaces"


def check_folder_path(value: str) -> str | None:
    """The rule a local folder breaks: it may be missing (it is created) but not be a file."""
    from pathlib import Path

    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        return "is a file, not a folder: give the folder for the local lake (it is created if missing)"
    return None


def check_iso_date(value: str) -> str | None:
    try:
        if _ISO_DATE_RE.match(value):
            date.fromisoformat(value)
            return None
    except ValueError:
        pass
    return "is not a date: use YYYY-MM-DD, e.g. 2024-01-31"
