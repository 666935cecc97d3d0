"""Dagster resources: the settings (fed by environment variables), the Zuora source, the lake, the catalog."""

# No `from __future__ import annotations`: Dagster reads these resources' field annotations at run time to
# resolve the resources bound with `configure_at_launch` (see definitions.build_resources).
import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from zuora_assets.athena.catalog import Catalog
from zuora_assets.athena.duckdb_catalog import DuckDBCatalog
from zuora_assets.athena.glue import GlueCatalog
from zuora_assets.aws import AwsClients, aws_session, sse_arguments
from zuora_assets.lake import layout
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.memory import DEFAULT_BUDGET as TRANSFER_MEMORY
from zuora_assets.lake.s3 import S3Storage
from zuora_assets.lake.storage import Storage
from zuora_assets.settings import ENV_VARS, AwsSettings, Settings, SettingsError, SyncSettings
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.extract import Extractor

# The simulator's address in the embedded default (set by `python -m zuora_assets demo|dev` and tests).
SIMULATOR_URL_ENV = "ZUORA_SIMULATOR_URL"
SIMULATOR_CLIENT_ID = "sim-client-id"
SIMULATOR_CLIENT_SECRET = "sim-client-secret"
CATALOG_FILE = "catalog.duckdb"
LOCAL_FOLDER = "zuora"  # the lake folder inside ZUORA_ATHENA_HOME
DUCKDB_SCHEMA = "main"  # the embedded catalog's tables and views live in the DuckDB file's default schema


class SettingsResource(dg.ConfigurableResource):
    """The connector's settings. Each field is fed by the environment variable of the same name in
    upper case, so the UI shows variable names, never values; `load()` validates them all (once per process
    for the same values) with the same rules as `check` and the definitions load."""

    zuora_environment: str | None = None
    zuora_base_url: str | None = None
    zuora_client_id: str | None = None
    zuora_client_secret: str | None = None
    zuora_entity_id: str | None = None
    zuora_start_date: str | None = None
    zuora_athena_home: str | None = None
    aws_bucket: str | None = None
    aws_bucket_region: str | None = None
    aws_folder: str | None = None
    aws_schema: str | None = None
    aws_database: str | None = None
    aws_workgroup: str | None = None
    aws_query_results_location: str | None = None
    aws_region: str | None = None
    aws_auth_mode: str | None = None
    aws_role_arn: str | None = None
    aws_external_id: str | None = None
    aws_role_session_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_kms_key_id: str | None = None
    aws_endpoint_url: str | None = None
    aws_glue_partitions: str | None = None
    zuora_manifest_retention_days: str | None = None
    zuora_lag_seconds: str | None = None
    zuora_lookback_seconds: str | None = None
    zuora_max_jobs_in_flight: str | None = None
    zuora_poll_initial_seconds: str | None = None
    zuora_sensor_interval_seconds: str | None = None
    zuora_consolidation_cron: str | None = None
    zuora_freshness_hour: str | None = None
    zuora_health_cron: str | None = None
    zuora_health_small_file_mb: str | None = None
    zuora_health_memory_mb: str | None = None
    zuora_reconcile_cron: str | None = None
    zuora_reconcile_skip: str | None = None
    zuora_reconcile_memory_limit: str | None = None
    zuora_reread_cron: str | None = None
    zuora_reread_days: str | None = None

    def load(self) -> Settings:
        return validated(tuple((name, getattr(self, name.lower())) for name in ENV_VARS))

    @staticmethod
    def bindings(environ: Mapping[str, str] = os.environ, *, literal: bool = False) -> dict:
        """Each field bound to its environment variable when the variable is set at load time (`literal`: to the
        value in `environ` itself, for in-process runs such as the demo that never touch `os.environ`)."""
        return {name.lower(): _bound(name, environ, literal) for name in ENV_VARS if environ.get(name)}


def _bound(name: str, environ: Mapping[str, str], literal: bool):
    return environ[name] if literal else dg.EnvVar(name)


@functools.lru_cache(maxsize=8)
def validated(values: tuple[tuple[str, str | None], ...]) -> Settings:
    """The settings of these variable values, validated once per process."""
    return Settings.from_env({k: v for k, v in values if v is not None})


@functools.cache
def aws_clients(aws: AwsSettings) -> AwsClients:
    """One AWS session per process (a run step), clients per service and region."""
    return AwsClients(aws_session(aws), aws)


def describe_mode(settings: Settings, simulator_url: str | None) -> str:
    """One loud line that says where data comes from and where it goes."""
    if settings.zuora is None:
        source = (
            f"EMBEDDED DEFAULT source: the local Zuora simulator at {simulator_url or '(none served: run demo or dev)'}"
        )
    else:
        source = f"source: Zuora tenant at {settings.zuora.base_url}"
    if settings.aws is None:
        target = (
            f"EMBEDDED DEFAULT destination: local lake {settings.local_dir} "
            f"with the DuckDB catalog {settings.local_dir / CATALOG_FILE}"
        )
    else:
        target = f"destination: s3://{settings.aws.bucket}/{settings.aws.folder}/ with Glue database {settings.aws.schema}"
    return f"{source}; {target}"


class ZuoraSource(dg.ConfigurableResource):
    """The Zuora tenant (or the embedded simulator at `simulator_url`) and how to extract from it."""

    settings: SettingsResource
    simulator_url: str | None = None

    @staticmethod
    def bindings(environ: Mapping[str, str] = os.environ, *, literal: bool = False) -> dict:
        """`simulator_url` bound to ZUORA_SIMULATOR_URL when it is set (see `SettingsResource.bindings`)."""
        if not environ.get(SIMULATOR_URL_ENV):
            return {}
        return {"simulator_url": _bound(SIMULATOR_URL_ENV, environ, literal)}

    @property
    def sync(self) -> SyncSettings:
        return self.settings.load().sync

    @contextlib.contextmanager
    def client(self) -> Iterator[ZuoraClient]:
        with zuora_client(self.settings.load(), self.simulator_url) as client:
            yield client

    def extractor(self, client: ZuoraClient, logger, on_progress=None) -> Extractor:
        return Extractor(
            client,
            max_jobs_in_flight=self.sync.max_jobs_in_flight,
            poll_initial=self.sync.poll_initial_seconds,
            logger=logger,
            on_progress=on_progress,
            read_ahead_bytes=TRANSFER_MEMORY.read_ahead_bytes,  # one budget with the lake's writer (io_manager)
            download_bytes=TRANSFER_MEMORY.download_bytes,
        )


@contextlib.contextmanager
def zuora_client(settings: Settings, simulator_url: str | None) -> Iterator[ZuoraClient]:
    """A client of the configured tenant, or of the simulator at `simulator_url` in the embedded default.

    The simulator's life belongs to whoever serves it (`python -m zuora_assets demo|dev`, the tests), never
    to a client: without `ZUORA_SIMULATOR_URL` the embedded default has no source.
    """
    if settings.zuora is not None:
        z = settings.zuora
        client = ZuoraClient(
            z.client_id, z.client_secret.get_secret_value(), base_url=z.base_url, entity_id=z.entity_id
        )
    elif simulator_url:
        client = ZuoraClient(SIMULATOR_CLIENT_ID, SIMULATOR_CLIENT_SECRET, base_url=simulator_url)
    else:
        raise SettingsError(
            [
                f"{SIMULATOR_URL_ENV}: is missing: with no ZUORA_CLIENT_ID the source is the embedded simulator, which "
                "`python -m zuora_assets demo` or `dev` serves; start one of them, or set ZUORA_CLIENT_ID and "
                "ZUORA_CLIENT_SECRET for your tenant"
            ]
        )
    try:
        yield client
    finally:
        client.close()


def lake_storage(settings: Settings) -> Storage:
    """The lake of these settings: S3 when `AWS_BUCKET` is set, else the local lake folder."""
    if settings.aws is None:
        settings.local_dir.mkdir(parents=True, exist_ok=True)
        return LocalStorage(settings.local_dir)
    aws = settings.aws
    sse = sse_arguments(aws)["ServerSideEncryption"]
    clients = aws_clients(aws)
    return S3Storage(clients.s3, aws.bucket, sse=sse, kms_key_id=aws.kms_key_id,
                     credentials=clients.session.get_credentials)


def lake_folder(settings: Settings) -> str:
    return settings.aws.folder if settings.aws else LOCAL_FOLDER


class LakeResource(dg.ConfigurableResource):
    """Where the Parquet files live: S3 (`AWS_BUCKET`) or the local lake folder."""

    settings: SettingsResource
    _storage: Storage | None = PrivateAttr(default=None)

    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = lake_storage(self.settings.load())
        return self._storage

    def folder(self) -> str:
        return lake_folder(self.settings.load())


class CatalogResource(dg.ConfigurableResource):
    """Where the tables live: the Glue Data Catalog (Athena) or the embedded DuckDB file, as one `Catalog`."""

    settings: SettingsResource

    def location(self, folder: str, model: str) -> str:
        """The model's folder as its catalog names it: an s3:// URI for Glue, a path in the lake for DuckDB."""
        return catalog_location(self.settings.load(), folder, model)

    def open(self) -> Catalog:
        """The catalog of the destination: Glue with AWS_BUCKET, else the DuckDB file beside the local lake."""
        settings = self.settings.load()
        if settings.aws is None:
            return duckdb_catalog(settings)
        return GlueCatalog(aws_clients(settings.aws).glue, settings.aws.schema)


def catalog_location(settings: Settings, folder: str, model: str) -> str:
    prefix = layout.model_prefix(folder, model)
    return prefix.rstrip("/") if settings.aws is None else f"s3://{settings.aws.bucket}/{prefix}"


def table_name(settings: Settings, model: str) -> str:
    """The model's table as queries name it: `<Glue database>.<model>`, or `main.<model>` in the DuckDB file."""
    return f"{settings.aws.schema if settings.aws else DUCKDB_SCHEMA}.{model}"


def duckdb_path(settings: Settings) -> Path:
    return settings.local_dir / CATALOG_FILE


def duckdb_catalog(settings: Settings) -> DuckDBCatalog:
    """The embedded catalog: tables and views in the default schema of a DuckDB file beside the lake."""
    return DuckDBCatalog(duckdb_path(settings), settings.local_dir, schema=DUCKDB_SCHEMA)
