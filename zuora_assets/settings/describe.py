"""The settings as the user reads them back: one line per variable, secrets as `***`, and the modes."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

from pydantic import SecretStr

from zuora_assets.settings.sync import SyncSettings

if TYPE_CHECKING:
    from zuora_assets.settings import Settings

_ZUORA_FIELDS = (
    ("ZUORA_ENVIRONMENT", "environment"),
    ("ZUORA_BASE_URL", "base_url"),
    ("ZUORA_CLIENT_ID", "client_id"),
    ("ZUORA_CLIENT_SECRET", "client_secret"),
    ("ZUORA_ENTITY_ID", "entity_id"),
)
_AWS_FIELDS = tuple(
    (f"AWS_{name.upper()}", name)
    for name in (
        "bucket", "bucket_region", "schema", "folder", "database", "workgroup", "query_results_location", "region",
        "auth_mode", "role_arn", "external_id", "role_session_name", "access_key_id", "secret_access_key",
        "session_token", "kms_key_id", "endpoint_url", "glue_partitions",
    )
)  # fmt: skip
_SYNC_FIELDS = tuple((f"ZUORA_{f.name.upper()}", f.name) for f in fields(SyncSettings))


def describe_lines(s: Settings) -> list[str]:
    lines = [_source_line(s), *_setting_lines(s.zuora, _ZUORA_FIELDS)]
    lines += [_destination_line(s), *_setting_lines(s.aws, _AWS_FIELDS)]
    start = (
        s.start_date.isoformat()
        if s.start_date
        else "(not set: 30 days before the first sync, pinned in the lake)"
    )
    lines += [f"ZUORA_START_DATE = {start}", f"ZUORA_ATHENA_HOME = {s.local_dir}"]
    lines += [f"{name} = {_shown(getattr(s.sync, attr))}" for name, attr in _SYNC_FIELDS]
    return lines


def _source_line(s: Settings) -> str:
    return (
        "source: the embedded Zuora simulator"
        if s.zuora is None
        else f"source: Zuora tenant at {s.zuora.base_url}"
    )


def _destination_line(s: Settings) -> str:
    if s.aws is None:
        return f"destination: the local lake folder {s.local_dir} with a DuckDB catalog"
    a = s.aws
    return f"destination: s3://{a.bucket}/{a.folder}/ ({a.bucket_region}), Glue database {a.schema}, auth {a.auth_mode}"


def _setting_lines(section: object | None, names: tuple[tuple[str, str], ...]) -> list[str]:
    if section is None:
        return []
    return [f"  {name} = {_shown(getattr(section, attr))}" for name, attr in names]


def _shown(value: object) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
