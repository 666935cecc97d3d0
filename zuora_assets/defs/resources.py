"""Dagster resources: the settings (fed by environment variables), the Zuora source, the lake, the catalog."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from zuora_assets.athena.duckdb_catalog import DuckDBCatalog
from zuora_assets.athena.glue import GlueCatalog
from zuora_assets.aws import AwsClients, aws_session, sse_arguments
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.memory import DEFAULT_BUDGET as TRANSFER_MEMORY
from zuora_assets.lake.s3 import S3Storage
from zuora_assets.lake.storage import Storage
from zuora_assets.settings import ENV_VARS, AwsSettings, Settings
from zuora_assets.zuora.client import ZuoraClient
from zuora_assets.zuora.extract import Extractor

# The simulator's address in the embedded default (set by `python -m zuora_assets demo|dev` and tests).
SIMULATOR_URL_ENV = "ZUORA_SIMULATOR_URL"
SIMULATOR_CLIENT_ID = "sim-client-id"
SIMULATOR_CLIENT_SECRET = "sim-client-secret"
CATALOG_FILE = "catalog.duckdb"
LOCAL_FOLDER = "zuora"  # the lake folder inside ZUORA_ATHENA_HOME


class SettingsResource(dg.ConfigurableResource):
    """The connector's settings. Each field is fed by the environment variable of the same name in
    upper case, so the UI shows variable names, never values; `load()` validates them all."""

    zuora_environment: str | None = None
    zuora_base_url: str | None = None
    zuora_client_id: str | None = None
    zuora_client_secret: str | None = None
    zuora_entity_id: str | None = None
    zuora_start_date: str | None = None
    zuora_manifest_retention_days: str | None = None
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

    def load(self) -> Settings:
        values = {name: getattr(self, name.lower()) for name in ENV_VARS}
        return Settings.from_env({k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SettingsResource:
        """Bind each field to its environment variable when the variable is set at load time."""
        return cls(**{name.lower(): dg.EnvVar(name) for name in ENV_VARS if environ.get(name)})


@functools.cache
def aws_clients(aws: AwsSettings) -> AwsClients:
    """One AWS session per process (a run step), clients per service and region."""
    return AwsClients(aws_session(aws), aws)


def describe_mode(settings: Settings, simulator_url: str | None) -> str:
    """One loud line that says where data comes from and where it goes."""
    if settings.zuora is None:
        source = f"EMBEDDED DEFAULT source: the local Zuora simulator at {simulator_url or '(started per run)'}"
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
    """The Zuora tenant (or the embedded simulator) and how to extract from it."""

    settings: SettingsResource
    simulator_url: str | None = None
    max_jobs_in_flight: int = 4
    lag_seconds: int = 900
    lookback_seconds: int = 3600
    poll_initial_seconds: float = 1.0

    @classmethod
    def from_environment(cls, settings: SettingsResource, environ: Mapping[str, str] = os.environ):
        kwargs = {}
        if environ.get(SIMULATOR_URL_ENV):
            kwargs["simulator_url"] = dg.EnvVar(SIMULATOR_URL_ENV)
        for name in ("lag_seconds", "lookback_seconds", "max_jobs_in_flight", "poll_initial_seconds"):
            env = f"ZUORA_{name.upper()}"
            if environ.get(env):
                kwargs[name] = float(environ[env]) if name == "poll_initial_seconds" else dg.EnvVar.int(env)
        return cls(settings=settings, **kwargs)

    @contextlib.contextmanager
    def client(self) -> Iterator[ZuoraClient]:
        with zuora_client(self.settings.load(), self.simulator_url) as client:
            yield client

    def extractor(self, client: ZuoraClient, logger, on_progress=None) -> Extractor:
        return Extractor(
            client,
            max_jobs_in_flight=self.max_jobs_in_flight,
            poll_initial=self.poll_initial_seconds,
            logger=logger,
            on_progress=on_progress,
            read_ahead_bytes=TRANSFER_MEMORY.read_ahead_bytes,  # one budget with the lake's writer (io_manager)
        )


@contextlib.contextmanager
def zuora_client(settings: Settings, simulator_url: str | None) -> Iterator[ZuoraClient]:
    """A client of the configured tenant, or of the simulator in the embedded default.

    With no simulator running (no `ZUORA_SIMULATOR_URL`), one is served for the life of the client.
    """
    with contextlib.ExitStack() as stack:
        if settings.zuora is not None:
            z = settings.zuora
            client = ZuoraClient(z.client_id, z.client_secret.reveal(), base_url=z.base_url, entity_id=z.entity_id)
        else:
            if not simulator_url:
                from zuora_assets.sim import SimConfig, Simulator

                simulator_url = stack.enter_context(Simulator(SimConfig())).base_url
            client = ZuoraClient(SIMULATOR_CLIENT_ID, SIMULATOR_CLIENT_SECRET, base_url=simulator_url)
        stack.callback(client.close)
        yield client


def lake_storage(settings: Settings) -> Storage:
    """The lake of these settings: S3 when `AWS_BUCKET` is set, else the local lake folder."""
    if settings.aws is None:
        settings.local_dir.mkdir(parents=True, exist_ok=True)
        return LocalStorage(settings.local_dir)
    aws = settings.aws
    sse = sse_arguments(aws)["ServerSideEncryption"]
    return S3Storage(aws_clients(aws).s3, aws.bucket, sse=sse, kms_key_id=aws.kms_key_id)


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
    """Where the tables live: the Glue Data Catalog (Athena) or the embedded DuckDB file."""

    settings: SettingsResource

    def location(self, folder: str, model: str) -> str:
        aws = self.settings.load().aws
        return f"s3://{aws.bucket}/{folder}/{model}/" if folder else f"s3://{aws.bucket}/{model}/"

    @contextlib.contextmanager
    def glue(self) -> Iterator[GlueCatalog | None]:
        settings = self.settings.load()
        if settings.aws is None:
            yield None
        else:
            yield GlueCatalog(aws_clients(settings.aws).glue, settings.aws.schema)

    def duckdb(self) -> DuckDBCatalog:
        return duckdb_catalog(self.settings.load())


def duckdb_path(settings: Settings) -> Path:
    return settings.local_dir / CATALOG_FILE


def duckdb_catalog(settings: Settings) -> DuckDBCatalog:
    """The embedded catalog: tables and views in the default schema of a DuckDB file beside the lake."""
    return DuckDBCatalog(duckdb_path(settings), settings.local_dir, schema="main")
