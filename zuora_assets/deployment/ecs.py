"""The ECS task definitions and services of a deployment (webserver, daemon, code server), built from its settings.

Every value a service needs comes from here: the instance's variables that `deploy/dagster.yaml` and
`deploy/workspace.yaml` read (`{env: ...}`), the connector's settings, and each secret as `valueFrom` (an
ARN). The code server also carries the container context that the daemon's `EcsRunLauncher` merges into
every run task: the connector's variables, its secrets by ARN, the run task size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from zuora_assets.deployment.settings import DeploySettings, SecretRef

LOCATION = "zuora_assets"
DEFINITIONS_MODULE = "zuora_assets.definitions"
DAGSTER_HOME = "/opt/dagster/home"  # the image's; holds deploy/dagster.yaml and deploy/workspace.yaml
WEBSERVER_PORT = 3000
CODE_SERVER_PORT = 4000
CODE_SERVER_ALIAS = "code-server"  # the Service Connect name the webserver and the daemon reach it by
RUN_CONTAINER = "run"  # EcsRunLauncher's container_name in deploy/dagster.yaml


@dataclass(frozen=True)
class Service:
    """One long-running ECS service: its container command, size and place in the deployment."""

    role: str  # webserver, daemon, code-server
    command: tuple[str, ...]
    cpu: str
    memory: str
    health_check: tuple[str, ...] | None = None
    port: int | None = None
    port_name: str | None = None


SERVICES = (
    Service(
        "webserver",
        (
            "dagster-webserver",
            "-h",
            "0.0.0.0",
            "-p",
            str(WEBSERVER_PORT),
            "-w",
            f"{DAGSTER_HOME}/workspace.yaml",
        ),
        cpu="1024",
        memory="2048",
        health_check=(
            "python",
            "-c",
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{WEBSERVER_PORT}/server_info', timeout=5)",
        ),
        port=WEBSERVER_PORT,
        port_name="http",
    ),
    # Exactly one daemon may run: its service never starts a second task before the first has stopped.
    Service(
        "daemon", ("dagster-daemon", "run", "-w", f"{DAGSTER_HOME}/workspace.yaml"), cpu="1024", memory="2048"
    ),
    Service(
        "code-server",
        (
            "dagster",
            "code-server",
            "start",
            "-h",
            "0.0.0.0",
            "-p",
            str(CODE_SERVER_PORT),
            "-m",
            DEFINITIONS_MODULE,
            "--location-name",
            LOCATION,
        ),
        cpu="1024",
        memory="2048",
        health_check=("dagster", "api", "grpc-health-check", "-p", str(CODE_SERVER_PORT)),
        port=CODE_SERVER_PORT,
        port_name="grpc",
    ),
)


def instance_environment(s: DeploySettings) -> dict[str, str]:
    """The variables `deploy/dagster.yaml` reads, except the Postgres password (a secret)."""
    return {
        "AWS_DEFAULT_REGION": s.region,
        "DAGSTER_PG_HOST": s.postgres_host,
        "DAGSTER_PG_PORT": s.postgres_port,
        "DAGSTER_PG_DB": s.postgres_db,
        "DAGSTER_PG_USER": s.postgres_user,
        "DAGSTER_PG_PASSWORD_ARN": s.postgres_password.value_from,
        "DAGSTER_COMPUTE_LOGS_BUCKET": s.logs_bucket,
        "DAGSTER_COMPUTE_LOGS_PREFIX": s.logs_prefix,
        "DAGSTER_RUN_TASK_PREFIX": s.run_task_prefix,
        "DAGSTER_RUN_LOG_GROUP": s.log_group,
        "DAGSTER_RUN_TASK_ROLE_ARN": s.task_role_arn,
        "DAGSTER_RUN_EXECUTION_ROLE_ARN": s.execution_role_arn,
    }


def workspace_environment() -> dict[str, str]:
    """The variables `deploy/workspace.yaml` reads: where the webserver and the daemon find the code server."""
    return {
        "DAGSTER_CODE_LOCATION_HOST": CODE_SERVER_ALIAS,
        "DAGSTER_CODE_LOCATION_PORT": str(CODE_SERVER_PORT),
    }


def container_context(s: DeploySettings) -> dict:
    """What the run launcher adds to each run's task: the connector's variables and secrets, the task size."""
    return {
        "ecs": {
            "env_vars": [f"{name}={value}" for name, value in s.connector_environment],
            "secrets": [_secret(ref) for ref in s.connector_secrets],
            "run_resources": {"cpu": s.run_cpu, "memory": s.run_memory},
            "runtime_platform": _runtime_platform(s),
        }
    }


def service_environment(s: DeploySettings, service: Service) -> dict[str, str]:
    environment = dict(instance_environment(s))
    if service.role == "code-server":
        environment.update(s.connector_environment)
        environment["DAGSTER_CONTAINER_IMAGE"] = s.image  # the image of every run of this code location
        environment["DAGSTER_CONTAINER_CONTEXT"] = json.dumps(container_context(s), sort_keys=True)
    else:
        environment.update(workspace_environment())
    return environment


def service_secrets(s: DeploySettings, service: Service) -> list[SecretRef]:
    return list(s.secrets) if service.role == "code-server" else [s.postgres_password]


def task_definition(s: DeploySettings, service: Service) -> dict:
    """The `aws ecs register-task-definition --cli-input-json` document of one service."""
    container = {
        "name": service.role,
        "image": s.image,
        "essential": True,
        "command": list(service.command),
        "environment": [{"name": k, "value": v} for k, v in sorted(service_environment(s, service).items())],
        "secrets": [_secret(ref) for ref in service_secrets(s, service)],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": s.log_group,
                "awslogs-region": s.region,
                "awslogs-stream-prefix": service.role,
            },
        },
        "stopTimeout": 60,  # lets the daemon and the code server finish what they are doing
    }
    if service.port:
        container["portMappings"] = [
            {"name": service.port_name, "containerPort": service.port, "protocol": "tcp"}
        ]
    if service.health_check:
        container["healthCheck"] = {
            "command": ["CMD", *service.health_check],
            "interval": 30,
            "timeout": 10,
            "retries": 3,
            "startPeriod": 120,
        }
    return {
        "family": f"{s.name}-{service.role}",
        "taskRoleArn": s.task_role_arn,
        "executionRoleArn": s.execution_role_arn,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": service.cpu,
        "memory": service.memory,
        "runtimePlatform": _runtime_platform(s),
        "containerDefinitions": [container],
    }


def service_definition(s: DeploySettings, service: Service) -> dict:
    """The `aws ecs create-service --cli-input-json` document of one service."""
    definition = {
        "cluster": s.cluster,
        "serviceName": f"{s.name}-{service.role}",
        "taskDefinition": f"{s.name}-{service.role}",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": list(s.subnets),
                "securityGroups": list(s.security_groups),
                "assignPublicIp": "ENABLED" if s.assign_public_ip else "DISABLED",
            }
        },
        "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100},
        "serviceConnectConfiguration": {"enabled": True, "namespace": s.name},
    }
    if service.role == "daemon":
        definition["deploymentConfiguration"] = {"maximumPercent": 100, "minimumHealthyPercent": 0}
    if service.role == "code-server":
        definition["serviceConnectConfiguration"]["services"] = [
            {
                "portName": service.port_name,
                "discoveryName": CODE_SERVER_ALIAS,
                "clientAliases": [{"port": CODE_SERVER_PORT, "dnsName": CODE_SERVER_ALIAS}],
            }
        ]
    if service.role == "webserver" and s.webserver_target_group_arn:
        definition["loadBalancers"] = [
            {
                "targetGroupArn": s.webserver_target_group_arn,
                "containerName": "webserver",
                "containerPort": WEBSERVER_PORT,
            }
        ]
        definition["healthCheckGracePeriodSeconds"] = 120
    return definition


def render(s: DeploySettings) -> dict[str, dict]:
    """Every document of the deployment by file name: `<role>.task-definition.json`, `<role>.service.json`.

    The code location's container context is first parsed by dagster-aws, as the run launcher will parse it.
    """
    check_container_context(container_context(s))
    documents = {}
    for service in SERVICES:
        documents[f"{service.role}.task-definition.json"] = task_definition(s, service)
        documents[f"{service.role}.service.json"] = service_definition(s, service)
    return documents


def check_container_context(context: dict) -> None:
    """Raise if dagster-aws's EcsRunLauncher would refuse this container context (its own schema and parser)."""
    from dagster_aws.ecs.container_context import EcsContainerContext

    EcsContainerContext.create_from_config(context)


def _secret(ref: SecretRef) -> dict[str, str]:
    return {"name": ref.name, "valueFrom": ref.value_from}


def _runtime_platform(s: DeploySettings) -> dict[str, str]:
    return {"cpuArchitecture": s.cpu_architecture, "operatingSystemFamily": "LINUX"}
