"""Helpers for the deployment tests: settings as an operator writes them, ECS's part played on this machine.

What ECS does when it starts a task from a rendered task definition (run the container's command with its
`environment`, and each of its `secrets` read from Secrets Manager by ARN) is done here by `container_env`
and `ProductionServices`, against the secrets stored on the moto server. Everything else is the real thing.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import yaml

from zuora_assets.deployment import ecs
from zuora_assets_tests import dagster_dev as dd

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent  # the venv's dagster, dagster-webserver, dagster-daemon
ACCOUNT = "123456789012"

# A deployment as an operator would configure it (role mode), every value well-formed.
OPERATOR_SETTINGS = {
    "DEPLOY_IMAGE": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/zuora-athena:0.1.0",
    "DEPLOY_REGION": "eu-west-1",
    "DEPLOY_CLUSTER": "data-platform",
    "DEPLOY_TASK_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/zuora-athena-task",
    "DEPLOY_EXECUTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/zuora-athena-execution",
    "DEPLOY_SUBNETS": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "DEPLOY_SECURITY_GROUPS": "sg-0123456789abcdef0",
    "DEPLOY_POSTGRES_HOST": "dagster.cluster-abc.eu-west-1.rds.amazonaws.com",
    "DEPLOY_POSTGRES_PASSWORD_ARN": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:zuora-athena/postgres-AbCdEf",
    "DEPLOY_LOGS_BUCKET": "acme-dagster-logs",
    "ZUORA_ENVIRONMENT": "us-production",
    "ZUORA_CLIENT_ID": "client-123",
    "ZUORA_CLIENT_SECRET_ARN": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:zuora-athena/zuora-XyZ123",
    "ZUORA_START_DATE": "2024-01-01",
    "AWS_BUCKET": "acme-zuora-lake",
    "AWS_BUCKET_REGION": "eu-west-1",
    "AWS_SCHEMA": "zuora",
    "AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/zuora-transfer",
    "AWS_EXTERNAL_ID_ARN": f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/zuora-athena/external-id",
}


def store_secrets(moto, values: Mapping[str, str], region: str = "us-east-1") -> dict[str, str]:
    """Each value as a Secrets Manager secret on the moto server; returns name -> ARN."""
    client = moto.client("secretsmanager", region=region)
    return {
        name: client.create_secret(Name=f"zuora-athena/{name.lower()}", SecretString=value)["ARN"]
        for name, value in values.items()
    }


def container_env(task_definition: dict, moto, region: str = "us-east-1") -> dict[str, str]:
    """The environment ECS gives the task's container: `environment`, and each `secrets` read by ARN."""
    (container,) = task_definition["containerDefinitions"]
    env = {item["name"]: item["value"] for item in container["environment"]}
    client = moto.client("secretsmanager", region=region)
    for secret in container.get("secrets", []):
        env[secret["name"]] = client.get_secret_value(SecretId=secret["valueFrom"])["SecretString"]
    return env


def production_instance_yaml(run_launcher: dict | None = None) -> str:
    """deploy/dagster.yaml, with only the run launcher replaced when `run_launcher` is given."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    if run_launcher is not None:
        config["run_launcher"] = run_launcher
    return yaml.safe_dump(config, sort_keys=False)


def base_environment() -> dict[str, str]:
    """This machine's environment without any setting of the project, Dagster or AWS (a container has none)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ZUORA_", "AWS_", "DAGSTER_", "DEPLOY_"))}
    return {**inherited, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def local_command(command: list[str], home: Path, ports: Mapping[str, int],
                  module: str = ecs.DEFINITIONS_MODULE) -> list[str]:
    """A container's command as it runs here: the venv's scripts, 127.0.0.1, free ports, `home` for DAGSTER_HOME,
    `module` for the definitions module."""
    replaced = {
        "0.0.0.0": "127.0.0.1",
        ecs.DEFINITIONS_MODULE: module,
        str(ecs.WEBSERVER_PORT): str(ports["webserver"]),
        str(ecs.CODE_SERVER_PORT): str(ports["code-server"]),
    }
    local = [str(BIN / command[0])]
    for part in command[1:]:
        part = part.replace(ecs.DAGSTER_HOME, str(home))
        local.append(replaced.get(part, part))
    return local


class ProductionServices(dd.DagsterProcesses):
    """The code server, the webserver and the daemon, each a process of its own, as their ECS services run them.

    Each starts from its rendered task definition: its command, and its environment with the secrets read
    from the moto server's Secrets Manager. `overrides` are the few values that differ on this machine
    (moto's endpoint, the code server's address), and `module` the definitions module the code server serves
    (a test's code location instead of the project's). DAGSTER_HOME holds deploy/workspace.yaml and the
    instance settings, as in the image.
    """

    def __init__(self, home: Path, documents: dict[str, dict], moto, instance_yaml: str, overrides: Mapping[str, str],
                 module: str = ecs.DEFINITIONS_MODULE):
        super().__init__(home, base_environment())
        self.module = module
        self.documents = documents
        self.moto = moto
        self.instance_yaml = instance_yaml
        self.ports = {"webserver": self.port, "code-server": dd.free_port()}
        self.overrides = {
            **overrides,
            "DAGSTER_CODE_LOCATION_HOST": "127.0.0.1",
            "DAGSTER_CODE_LOCATION_PORT": str(self.ports["code-server"]),
        }

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "workspace.yaml", self.home / "workspace.yaml")
        (self.home / "dagster.yaml").write_text(self.instance_yaml)
        self._start_service("code-server")
        dd.wait_for("the code server's port", self._code_server_listening, dd.READY_SECONDS, every=0.5)
        dd.wait_for("the code server's gRPC health check", self._code_server_serving, dd.READY_SECONDS, every=2)
        self._start_service("webserver")
        self._start_service("daemon")

    def environment(self, role: str) -> dict[str, str]:
        """The container's environment of this service, with this machine's overrides."""
        task_definition = self.documents[f"{role}.task-definition.json"]
        return {**container_env(task_definition, self.moto), **self.overrides}

    def process_environment(self, role: str) -> dict[str, str]:
        """The whole environment of this service's process (this machine's base, DAGSTER_HOME, the container's)."""
        return {**self._env, **self.environment(role)}

    def _start_service(self, role: str) -> None:
        (container,) = self.documents[f"{role}.task-definition.json"]["containerDefinitions"]
        self.spawn(role, local_command(container["command"], self.home, self.ports, self.module), self.environment(role))

    def _code_server_listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.ports["code-server"]), 1):
            return True
        return False

    def _code_server_serving(self) -> bool:
        """The container's health check (ECS runs it) answers."""
        (container,) = self.documents["code-server.task-definition.json"]["containerDefinitions"]
        health = local_command(container["healthCheck"]["command"][1:], self.home, self.ports)
        return subprocess.run(health + ["--host", "127.0.0.1"], capture_output=True, timeout=60).returncode == 0


class TaskMetadataEndpoint:
    """ECS's task metadata endpoint (v4) of one task, as the agent serves it to the task's containers.

    EcsRunLauncher reads its own task's cluster and ARN there (`ECS_CONTAINER_METADATA_URI_V4`), then
    DescribeTasks gives it the subnets and security groups for the run tasks.
    """

    def __init__(self, cluster_arn: str, task_arn: str, container: str):
        document = {"/task": {"Cluster": cluster_arn, "TaskARN": task_arn}, "": {"Name": container}}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                body = json.dumps(document.get(self.path.rstrip("/"), {})).encode()
                self.send_response(200 if self.path.rstrip("/") in document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TaskMetadataEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
