"""The connector's settings: read from environment variables, validated all at once, secrets kept masked.

With no `ZUORA_CLIENT_ID` the source is the embedded simulator (`Settings.zuora is None`); with no
`AWS_BUCKET` the destination is the local lake folder (`Settings.aws is None`); `Settings.sync` holds the
timing and limits. `.env.example` documents every variable; each problem is one line "VARIABLE: problem".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from zuora_assets.settings.aws import AUTH_MODES, AWS_BUCKET_ONLY_VARS, AWS_VARS, AwsSettings, read_aws
from zuora_assets.settings.describe import describe_lines
from zuora_assets.settings.reader import Reader, SettingsError, check_folder_path
from zuora_assets.settings.sync import (
    DEFAULT_MANIFEST_RETENTION_DAYS,
    DEFAULT_START_DAYS_AGO,
    SYNC_VARS,
    SyncSettings,
    read_start_date,
    read_sync,
)
from zuora_assets.settings.zuora import ZUORA_ENVIRONMENTS, ZUORA_VARS, ZuoraSettings, read_zuora

__all__ = [
    "AUTH_MODES",
    "AWS_BUCKET_ONLY_VARS",
    "DEFAULT_LOCAL_DIR",
    "DEFAULT_MANIFEST_RETENTION_DAYS",
    "DEFAULT_START_DAYS_AGO",
    "ENV_VARS",
    "ZUORA_ENVIRONMENTS",
    "AwsSettings",
    "Settings",
    "SettingsError",
    "SyncSettings",
    "ZuoraSettings",
]

DEFAULT_LOCAL_DIR = "./.lake"

# Every setting is one environment variable, in the order of `.env.example`.
ENV_VARS = (*ZUORA_VARS, "ZUORA_START_DATE", "ZUORA_ATHENA_HOME", *AWS_VARS, *SYNC_VARS[1:])


@dataclass(frozen=True)
class Settings:
    """All settings: the source (None = simulator), the destination (None = local lake), the sync start and tuning.

    `start_date` is ZUORA_START_DATE, required with AWS_BUCKET; None in the embedded default, whose first
    partition day is pinned in the local lake at the first sync (`DEFAULT_START_DAYS_AGO` days before it).
    """

    zuora: ZuoraSettings | None
    aws: AwsSettings | None
    local_dir: Path
    start_date: date | None
    sync: SyncSettings = field(default_factory=SyncSettings)

    @property
    def manifest_retention_days(self) -> int:
        return self.sync.manifest_retention_days

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, today: date | None = None) -> Settings:
        """Read and validate every setting; raise `SettingsError` listing all problems at once."""
        reader = Reader(env)
        today = today or datetime.now(UTC).date()
        settings = cls(
            zuora=read_zuora(reader),
            aws=read_aws(reader),
            local_dir=Path(
                reader.checked("ZUORA_ATHENA_HOME", check_folder_path) or DEFAULT_LOCAL_DIR
            ).expanduser(),
            start_date=read_start_date(reader, today, required=reader.get("AWS_BUCKET") is not None),
            sync=read_sync(reader),
        )
        reader.raise_problems()
        return settings

    def describe(self) -> str:
        """One line per setting, secrets shown as `***`, plus the source and destination modes."""
        return "\n".join(describe_lines(self))
