"""Shared test fixtures: a moto server for S3/Glue/Athena/STS and a Zuora simulator, both on 127.0.0.1."""

from __future__ import annotations

import logging
import os

import boto3
import pytest
import requests

from zuora_assets_tests.pipeline import aws_env  # noqa: F401  (a fixture: AWS settings on the moto server)

# Tests never reach real AWS: fake credentials, and no config files from the developer's machine.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# The simulator finishes jobs on the first poll: poll it quickly (production waits 1 s first).
os.environ.setdefault("ZUORA_POLL_INITIAL_SECONDS", "0.05")
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class MotoServer:
    """A running moto server and helpers to build clients against it."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str, region: str = "us-east-1", **kwargs):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=kwargs.pop("aws_access_key_id", "testing"),
            aws_secret_access_key=kwargs.pop("aws_secret_access_key", "testing"),
            **kwargs,
        )

    def session(self) -> boto3.Session:
        """A boto3 session with moto's test keys (its `get_credentials` is what `S3Storage` hands pyarrow)."""
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def set_iam_enforcement(self, on: bool) -> None:
        body = "0" if on else "inf"
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=body, timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoServer(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def moto(moto_server):
    """A clean moto server for one test (state reset before and after, IAM enforcement off)."""
    moto_server.set_iam_enforcement(False)
    moto_server.reset()
    yield moto_server
    moto_server.set_iam_enforcement(False)
    moto_server.reset()


@pytest.fixture(scope="session")
def live_sim():
    """A small simulated tenant whose history ends now (wall clock), shared by the pipeline tests.

    Tests that change its data or faults must use their own simulator instead.
    """
    from zuora_assets.sim import SimConfig, Simulator

    with Simulator(SimConfig(seed=11, accounts=60, days=30)) as sim:
        yield sim


@pytest.fixture
def local_lake(tmp_path, monkeypatch):
    """The embedded destination in a temporary folder, with no real tenant or bucket configured."""
    lake = tmp_path / "lake"
    monkeypatch.setenv("ZUORA_ATHENA_HOME", str(lake))
    for var in ("ZUORA_CLIENT_ID", "ZUORA_CLIENT_SECRET", "AWS_BUCKET"):
        monkeypatch.delenv(var, raising=False)
    return lake


@pytest.fixture
def serve(monkeypatch):
    """Start a simulator with the given config and point the project's resources at it."""
    from zuora_assets.sim import SimConfig, Simulator

    started = []

    def start(**config):
        sim = Simulator(SimConfig(**config))
        sim.start()
        started.append(sim)
        monkeypatch.setenv("ZUORA_SIMULATOR_URL", sim.base_url)
        return sim

    yield start
    for sim in started:
        sim.stop()
