"""A run launched by EcsRunLauncher as in production: deploy/dagster.yaml unchanged, ECS, EC2 and Secrets Manager on moto.

The webserver, the daemon and the code server run as their rendered task definitions say (PostgreSQL storage
in a fresh database). The daemon's own task was started on moto's ECS from its task definition and service,
and its task metadata endpoint is served here, as the ECS agent serves it. A run submitted through the
webserver is dequeued by the daemon, whose launcher registers the run task definition and calls RunTask:
the test reads both back from moto. `dagster instance info` reports the production instance.
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from zuora_assets.deployment import ecs
from zuora_assets.deployment.settings import DeploySettings
from zuora_assets_tests import dagster_dev as dd
from zuora_assets_tests.deploy_support import (
    BIN,
    OPERATOR_SETTINGS,
    ProductionServices,
    TaskMetadataEndpoint,
    production_instance_yaml,
    store_secrets,
)
from zuora_assets_tests.postgres import fresh_database

REGION = "us-east-1"  # moto's
CLUSTER = "data-platform"
SECRETS = {
    "ZUORA_CLIENT_SECRET": "zsecret-ecs-5a90c3e1",
    "AWS_EXTERNAL_ID": "extid-ecs-2f7b6d",
    "DEPLOY_POSTGRES_PASSWORD": "pg-password-ecs-c81f04",
}
TASK_ROLE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto's; ECS's role
RUN_TAGS = {"zuora/model": "account", "dagster/partition": "2024-03-01", "team": "finance"}
LAUNCH_SECONDS = 120.0  # a bound on the wait, not an expectation


@pytest.fixture
def database():
    with fresh_database() as db:
        yield db


@pytest.fixture(autouse=True)
def fargate_tasks_without_container_memory(monkeypatch):
    """moto's RunTask requires each container's own memory; ECS does not for Fargate, where the task's serves.

    (Neither the rendered task definitions nor the ones EcsRunLauncher registers set it.) This lets moto,
    which runs in this process, count a container without one as using none, as Fargate placement ignores it.
    """
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def calculate(task_definition):
        shadow = copy.copy(task_definition)
        shadow.container_definitions = [
            {**c, "memory": c.get("memory") or c.get("memoryReservation") or 0} for c in task_definition.container_definitions
        ]
        return original(shadow)

    monkeypatch.setattr(EC2ContainerServiceBackend, "_calculate_task_resource_requirements", staticmethod(calculate))


@pytest.fixture
def network(moto) -> dict[str, str]:
    """A VPC (DNS host names on) with a subnet and a security group on moto's EC2."""
    ec2 = moto.client("ec2", region=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as for most VPCs running Fargate
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="zuora-athena", Description="dagster", VpcId=vpc)["GroupId"]
    return {"subnet": subnet, "security_group": group}


def deployment(database, network, arns) -> DeploySettings:
    return DeploySettings.from_env({
        **OPERATOR_SETTINGS,
        "DEPLOY_REGION": REGION,
        "DEPLOY_CLUSTER": CLUSTER,
        "DEPLOY_SUBNETS": network["subnet"],
        "DEPLOY_SECURITY_GROUPS": network["security_group"],
        "DEPLOY_POSTGRES_HOST": database.host,
        "DEPLOY_POSTGRES_PORT": str(database.port),
        "DEPLOY_POSTGRES_DB": database.name,
        "DEPLOY_POSTGRES_USER": database.user,
        "DEPLOY_RUN_CPU": "2048",
        "DEPLOY_RUN_MEMORY": "8192",
        **{f"{name}_ARN": arn for name, arn in arns.items()},
    })


def start_daemon_task(moto, documents: dict[str, dict]) -> dict:
    """What `aws ecs register-task-definition` and `create-service` do for the daemon: its task, running."""
    client = moto.client("ecs", region=REGION)
    client.register_task_definition(**documents["daemon.task-definition.json"])
    service = documents["daemon.service.json"]
    (task,) = client.run_task(
        cluster=service["cluster"], taskDefinition=service["taskDefinition"], launchType=service["launchType"],
        networkConfiguration=service["networkConfiguration"],
    )["tasks"]
    return task


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_run_becomes_an_ecs_task_with_secrets_by_reference(moto, database, network, tmp_path):
    arns = store_secrets(moto, SECRETS, REGION)
    settings = deployment(database, network, arns)
    documents = ecs.render(settings)
    ecs_client = moto.client("ecs", region=REGION)
    cluster_arn = ecs_client.create_cluster(clusterName=CLUSTER)["cluster"]["clusterArn"]
    daemon_task = start_daemon_task(moto, documents)

    with TaskMetadataEndpoint(cluster_arn, daemon_task["taskArn"], "daemon") as metadata:
        overrides = {**TASK_ROLE_CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint,
                     "ECS_CONTAINER_METADATA_URI_V4": metadata.uri}
        services = ProductionServices(tmp_path / "dagster_home", documents, moto, production_instance_yaml(), overrides)
        with dd.running(services) as dev:
            run_id = submit_run(dev)
            tags = dd.wait_for("the daemon to launch the run as an ECS task", lambda: launched_tags(dev, run_id),
                               LAUNCH_SECONDS, every=2)
        info = instance_info(services)

    (family,) = ecs_client.list_task_definition_families(familyPrefix=settings.run_task_prefix)["families"]
    run_definition = ecs_client.describe_task_definition(taskDefinition=family)["taskDefinition"]
    (run_task,) = ecs_client.describe_tasks(cluster=CLUSTER, tasks=[tags["ecs/task_arn"]], include=["TAGS"])["tasks"]

    the_run_task_definition_holds_settings_and_secret_references(run_definition, settings, arns)
    the_run_task_runs_the_run_in_the_daemons_network(run_task, run_definition, run_id, network)
    assert tags["ecs/cluster"] == cluster_arn
    searched = {"run task definition": run_definition, "run task": run_task, "run tags": tags}
    leaks = [f"{name} in the {where}" for name, value in SECRETS.items() for where, found in searched.items()
             if value in json.dumps(found, default=str)]
    assert leaks == []
    the_instance_is_postgres_ecs_and_s3(info)


def submit_run(dev: dd.DagsterProcesses) -> str:
    """A sync of one account partition submitted through the webserver, as the UI submits it."""
    params = {
        "selector": {**dd.REPOSITORY_SELECTOR, "jobName": "zuora_sync", "assetSelection": [{"path": ["zuora", "account"]}]},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in RUN_TAGS.items()]},
    }
    launched = dd.answer(dev.query(dd.LAUNCH_RUN, params=params), "launchRun", "LaunchRunSuccess")
    return launched["run"]["runId"]


def launched_tags(dev: dd.DagsterProcesses, run_id: str) -> dict[str, str] | None:
    (run,) = [r for r in dd.runs(dev, RUN_TAGS) if r["runId"] == run_id]
    if run["status"] in ("FAILURE", "CANCELED"):
        raise AssertionError(f"run {run_id} {run['status']}: " + " | ".join(dd.run_errors(dev, run_id)))
    return run["tags"] if "ecs/task_arn" in run["tags"] else None


# `dagster instance info` prints the compute log manager and the run coordinator only once something has
# used them (it shows `NoneType` before: dagster-io/dagster#21233), so they are asked of the instance too.
LAZY_PARTS = (
    "from dagster import DagsterInstance\n"
    "with DagsterInstance.get() as instance:\n"
    "    print('compute_logs:', type(instance.compute_log_manager).__name__)\n"
    "    print('run_coordinator:', type(instance.run_coordinator).__name__)\n"
)


def instance_info(services: ProductionServices) -> str:
    """`dagster instance info` in the daemon's container (its environment, DAGSTER_HOME of the image)."""
    env = services.process_environment("daemon")
    output = []
    for command in ([str(BIN / "dagster"), "instance", "info"], [str(BIN / "python"), "-c", LAZY_PARTS]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        output.append(done.stdout)
    return "\n".join(output)


def the_run_task_definition_holds_settings_and_secret_references(definition: dict, s: DeploySettings,
                                                                 arns: dict[str, str]) -> None:
    (container,) = definition["containerDefinitions"]
    assert container["name"] == ecs.RUN_CONTAINER and container["image"] == s.image
    assert definition["taskRoleArn"] == s.task_role_arn and definition["executionRoleArn"] == s.execution_role_arn
    assert (definition["cpu"], definition["memory"]) == ("2048", "8192")
    assert definition["requiresCompatibilities"] == ["FARGATE"] and definition["networkMode"] == "awsvpc"
    assert {x["name"]: x["valueFrom"] for x in container["secrets"]} == {
        "DAGSTER_PG_PASSWORD": arns["DEPLOY_POSTGRES_PASSWORD"],
        "ZUORA_CLIENT_SECRET": arns["ZUORA_CLIENT_SECRET"],
        "AWS_EXTERNAL_ID": arns["AWS_EXTERNAL_ID"],
    }
    environment = {x["name"]: x["value"] for x in container["environment"]}
    assert {k: environment.get(k) for k, _ in s.connector_environment} == dict(s.connector_environment)
    assert environment["DAGSTER_PG_DB"] == s.postgres_db and environment["DAGSTER_COMPUTE_LOGS_BUCKET"] == s.logs_bucket
    assert not set(environment) & {"ZUORA_CLIENT_SECRET", "AWS_EXTERNAL_ID", "DAGSTER_PG_PASSWORD"}
    logs = container["logConfiguration"]["options"]
    assert (logs["awslogs-group"], logs["awslogs-region"]) == (s.log_group, REGION)


def the_run_task_runs_the_run_in_the_daemons_network(task: dict, definition: dict, run_id: str, network) -> None:
    assert task["taskDefinitionArn"] == definition["taskDefinitionArn"] and task["launchType"] == "FARGATE"
    (override,) = task["overrides"]["containerOverrides"]
    assert override["name"] == ecs.RUN_CONTAINER and override["command"][:3] == ["dagster", "api", "execute_run"]
    args = json.loads(override["command"][3])
    assert args["__class__"] == "ExecuteRunArgs" and run_id in override["command"][3]
    # The run worker gets the instance settings as references to its environment, never their values.
    assert "env: DAGSTER_PG_PASSWORD" in json.dumps(args["instance_ref"])
    ecs_tags = {t["key"]: t["value"] for t in task["tags"]}
    assert ecs_tags["dagster/run_id"] == run_id and ecs_tags["dagster/job_name"] == "zuora_sync"
    assert {k: ecs_tags.get(k) for k in ("zuora/model", "dagster/partition")} == {
        "zuora/model": "account", "dagster/partition": "2024-03-01"}
    assert "team" not in ecs_tags  # only the allow-listed run tags become ECS tags
    (attachment,) = task["attachments"]
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert details["subnetId"] == network["subnet"]


def the_instance_is_postgres_ecs_and_s3(info: str) -> None:
    for expected in ("run_storage: PostgresRunStorage", "event_log_storage: PostgresEventLogStorage",
                     "schedule_storage: PostgresScheduleStorage", "class: EcsRunLauncher",
                     "compute_logs: S3ComputeLogManager", "run_coordinator: QueuedRunCoordinator"):
        assert expected in info, f"the production instance does not report {expected!r}:\n{info}"
