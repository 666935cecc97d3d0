"""The deployment's settings, the documents rendered from them, and the roles' IAM policies.

Every `{env: ...}` that deploy/dagster.yaml and deploy/workspace.yaml read is set by the rendered task
definitions; secrets appear only as ARNs; bad settings are all reported at once, each naming its variable.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from dagster_aws.ecs.container_context import EcsContainerContext

from zuora_assets.deployment import ecs, iam, policies_text
from zuora_assets.deployment.settings import DeploySettings
from zuora_assets.iam import permissions_policy
from zuora_assets.settings import SettingsError
from zuora_assets_tests.deploy_support import ACCOUNT, DEPLOY, OPERATOR_SETTINGS, ROOT

ENV_REFERENCE = re.compile(r"\{env: ([A-Z0-9_]+)\}")
SECRET_NAMES = {"ZUORA_CLIENT_SECRET", "AWS_EXTERNAL_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "DAGSTER_PG_PASSWORD"}


def settings(**changes: str | None) -> DeploySettings:
    env = {**OPERATOR_SETTINGS, **changes}
    return DeploySettings.from_env({k: v for k, v in env.items() if v is not None})


def problems(**changes: str | None) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings(**changes)
    return list(caught.value.problems)


def container(document: dict) -> dict:
    (only,) = document["containerDefinitions"]
    return only


def environment(document: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(document)["environment"]}


def secrets(document: dict) -> dict[str, str]:
    return {item["name"]: item["valueFrom"] for item in container(document).get("secrets", [])}


# ----- the rendered documents -----


def test_every_variable_the_instance_and_workspace_read_is_set_by_the_task_definitions():
    documents = ecs.render(settings())
    instance = set(ENV_REFERENCE.findall((DEPLOY / "dagster.yaml").read_text()))
    workspace = set(ENV_REFERENCE.findall((DEPLOY / "workspace.yaml").read_text()))
    launcher_env = set(yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]["config"]["env_vars"])
    for role in ("webserver", "daemon", "code-server"):
        document = documents[f"{role}.task-definition.json"]
        provided = set(environment(document)) | set(secrets(document))
        needed = instance | (workspace if role != "code-server" else set()) | launcher_env
        assert needed <= provided, f"{role} lacks {sorted(needed - provided)}"


def test_secrets_are_references_only_and_each_service_gets_the_ones_it_needs():
    s = settings()
    documents = ecs.render(s)
    pg = OPERATOR_SETTINGS["DEPLOY_POSTGRES_PASSWORD_ARN"]
    for role in ("webserver", "daemon"):
        assert secrets(documents[f"{role}.task-definition.json"]) == {"DAGSTER_PG_PASSWORD": pg}
    assert secrets(documents["code-server.task-definition.json"]) == {
        "DAGSTER_PG_PASSWORD": pg,
        "ZUORA_CLIENT_SECRET": OPERATOR_SETTINGS["ZUORA_CLIENT_SECRET_ARN"],
        "AWS_EXTERNAL_ID": OPERATOR_SETTINGS["AWS_EXTERNAL_ID_ARN"],
    }
    for name, document in documents.items():
        if name.endswith(".task-definition.json"):
            assert not set(environment(document)) & SECRET_NAMES, name


def test_the_code_location_hands_runs_the_connector_settings_secret_arns_and_size():
    s = settings(DEPLOY_RUN_CPU="4096", DEPLOY_RUN_MEMORY="16384", ZUORA_LAG_SECONDS="600")
    code_server = environment(ecs.render(s)["code-server.task-definition.json"])
    assert code_server["DAGSTER_CONTAINER_IMAGE"] == OPERATOR_SETTINGS["DEPLOY_IMAGE"]
    context = EcsContainerContext.create_from_config(json.loads(code_server["DAGSTER_CONTAINER_CONTEXT"]))
    assert context.run_resources == {"cpu": "4096", "memory": "16384"}
    assert context.get_environment_dict() == {k: code_server[k] for k in context.get_environment_dict()}
    assert context.get_environment_dict()["ZUORA_LAG_SECONDS"] == "600"
    assert context.get_environment_dict()["AWS_REGION"] == "eu-west-1"  # explicit: Fargate sets its own
    assert {x["name"] for x in context.secrets} == {"ZUORA_CLIENT_SECRET", "AWS_EXTERNAL_ID"}


def test_one_daemon_ever_and_the_code_server_is_reached_by_its_service_connect_name():
    documents = ecs.render(settings(DEPLOY_WEBSERVER_TARGET_GROUP_ARN=(
        f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/dagster/0123456789abcdef")))
    assert documents["daemon.service.json"]["deploymentConfiguration"] == {"maximumPercent": 100,
                                                                          "minimumHealthyPercent": 0}
    (alias,) = documents["code-server.service.json"]["serviceConnectConfiguration"]["services"][0]["clientAliases"]
    for role in ("webserver", "daemon"):
        env = environment(documents[f"{role}.task-definition.json"])
        assert (env["DAGSTER_CODE_LOCATION_HOST"], int(env["DAGSTER_CODE_LOCATION_PORT"])) == (alias["dnsName"],
                                                                                               alias["port"])
    (balancer,) = documents["webserver.service.json"]["loadBalancers"]
    assert (balancer["containerName"], balancer["containerPort"]) == ("webserver", ecs.WEBSERVER_PORT)
    network = documents["daemon.service.json"]["networkConfiguration"]["awsvpcConfiguration"]
    assert network == {"subnets": OPERATOR_SETTINGS["DEPLOY_SUBNETS"].split(","),
                       "securityGroups": [OPERATOR_SETTINGS["DEPLOY_SECURITY_GROUPS"]], "assignPublicIp": "DISABLED"}


def test_the_commands_use_the_images_dagster_home():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"DAGSTER_HOME={ecs.DAGSTER_HOME}" in dockerfile and "COPY deploy/dagster.yaml deploy/workspace.yaml" in dockerfile
    webserver = container(ecs.render(settings())["webserver.task-definition.json"])
    assert webserver["command"][-2:] == ["-w", f"{ecs.DAGSTER_HOME}/workspace.yaml"]


# ----- bad settings -----


def test_every_missing_setting_is_reported_at_once():
    found = problems(**{k: None for k in OPERATOR_SETTINGS if k.startswith("DEPLOY_")})
    names = {p.split(":", 1)[0] for p in found}
    assert names == {"DEPLOY_IMAGE", "DEPLOY_REGION", "DEPLOY_CLUSTER", "DEPLOY_TASK_ROLE_ARN",
                     "DEPLOY_EXECUTION_ROLE_ARN", "DEPLOY_SUBNETS", "DEPLOY_SECURITY_GROUPS", "DEPLOY_POSTGRES_HOST",
                     "DEPLOY_POSTGRES_PASSWORD_ARN", "DEPLOY_LOGS_BUCKET"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ZUORA_CLIENT_SECRET_ARN": None, "ZUORA_CLIENT_SECRET": "s3cr3t-value"},
         "ZUORA_CLIENT_SECRET: is set as a value: a deployment takes secrets by reference only"),
        ({"ZUORA_CLIENT_SECRET_ARN": "zuora-secret"}, "ZUORA_CLIENT_SECRET_ARN: 'zuora-secret' is not a secret reference"),
        ({"DEPLOY_IMAGE": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/zuora-athena:latest"},
         "DEPLOY_IMAGE: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/zuora-athena:latest' uses the tag 'latest'"),
        ({"DEPLOY_IMAGE": "zuora-athena"}, "is not an image reference with a tag or digest"),
        ({"DEPLOY_RUN_CPU": "1024", "DEPLOY_RUN_MEMORY": "16384"},
         "DEPLOY_RUN_MEMORY: '16384' MiB does not go with DEPLOY_RUN_CPU=1024: Fargate allows 2048-8192"),
        ({"DEPLOY_RUN_CPU": "3000"}, "DEPLOY_RUN_CPU: '3000' is not a Fargate CPU size"),
        ({"DEPLOY_SUBNETS": "subnet-0123456789abcdef0,private-a"}, "DEPLOY_SUBNETS: 'subnet-0123456789abcdef0,private-a' is not"),
        ({"DEPLOY_NAME": "zuora-athena-prod"}, "DEPLOY_NAME: 'zuora-athena-prod' is not valid: use 1-12"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "AWS_ENDPOINT_URL: is set: boto3 would send every AWS call"),
        ({"ZUORA_SIMULATOR_URL": "http://127.0.0.1:9000"}, "ZUORA_SIMULATOR_URL: is set: a deployment reads your Zuora"),
        ({"AWS_ROLE_ARN": None}, "AWS_EXTERNAL_ID_ARN: is set but AWS_AUTH_MODE=default does not use AWS_EXTERNAL_ID"),
        ({"AWS_BUCKET": None, "AWS_BUCKET_REGION": None, "AWS_SCHEMA": None}, "AWS_BUCKET: is missing: a deployment writes to S3"),
        ({"ZUORA_CLIENT_ID": None}, "ZUORA_CLIENT_ID: is missing: a deployment reads your tenant"),
        ({"AWS_SCHEMA": "Zuora-Data"}, "AWS_SCHEMA: 'Zuora-Data' is not valid"),  # the connector's own rule
        ({"AWS_AUTH_MODE": "keys", "AWS_ROLE_ARN": None, "AWS_EXTERNAL_ID_ARN": None},
         "AWS_ACCESS_KEY_ID_ARN: is missing: AWS_AUTH_MODE=keys needs the ARN"),
        ({"DEPLOY_POSTGRES_PORT": "65536"}, "DEPLOY_POSTGRES_PORT: '65536' is not a port number"),
    ],
)
def test_a_bad_setting_is_named_with_its_rule(changes, expected):
    found = problems(**changes)
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_the_operators_own_aws_credentials_are_neither_refused_nor_rendered():
    """The shell that renders often has the AWS CLI's keys: they are not the deployment's."""
    shell = {"AWS_ACCESS_KEY_ID": "AKIAOPERATOR0000TEST", "AWS_SECRET_ACCESS_KEY": "operator-secret",
             "AWS_SESSION_TOKEN": "operator-token"}
    rendered = json.dumps(ecs.render(settings(**shell)))
    assert not any(value in rendered for value in shell.values())


def test_keys_mode_takes_both_keys_by_reference():
    arn = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:zuora-athena/keys-Q1w2E3"
    s = settings(AWS_ROLE_ARN=None, AWS_EXTERNAL_ID_ARN=None, AWS_ACCESS_KEY_ID_ARN=f"{arn}:id::",
                 AWS_SECRET_ACCESS_KEY_ARN=f"{arn}:secret::")
    assert s.connector.aws.auth_mode == "keys"
    assert secrets(ecs.render(s)["code-server.task-definition.json"])["AWS_SECRET_ACCESS_KEY"] == f"{arn}:secret::"
    statement = next(x for x in iam.execution_role_policy(s)["Statement"] if x["Sid"] == "ReadTheNamedSecrets")
    assert arn in statement["Resource"]  # the secret itself, not its JSON keys


# ----- IAM -----


def statements(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_the_task_role_runs_only_this_deployments_run_tasks_and_passes_exactly_two_roles():
    s = settings()
    granted = statements(iam.task_role_policy(s))
    run = granted["RunTheRunTasks"]
    assert run["Resource"] == [f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/zuora-athena-run_*"]
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/data-platform"}}
    assert granted["PassTheTwoRolesToRunTasks"]["Resource"] == sorted([s.task_role_arn, s.execution_role_arn])
    logs = granted["WriteAndReadComputeLogs"]["Resource"]
    assert logs == ["arn:aws:s3:::acme-dagster-logs/dagster/compute-logs/*"]
    assert granted["AssumeTheConnectorRole"]["Resource"] == [OPERATOR_SETTINGS["AWS_ROLE_ARN"]]
    wildcard = {a for x in granted.values() if x["Resource"] == ["*"] for a in x["Action"]}
    assert wildcard == {"ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"}


def test_the_execution_role_reads_exactly_the_named_secrets_and_pulls_the_image():
    s = settings()
    granted = statements(iam.execution_role_policy(s))
    assert granted["ReadTheNamedSecrets"]["Resource"] == sorted([
        OPERATOR_SETTINGS["DEPLOY_POSTGRES_PASSWORD_ARN"], OPERATOR_SETTINGS["ZUORA_CLIENT_SECRET_ARN"]])
    assert granted["ReadTheNamedParameters"]["Resource"] == [OPERATOR_SETTINGS["AWS_EXTERNAL_ID_ARN"]]
    assert granted["PullTheImage"]["Resource"] == [f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/zuora-athena"]
    assert granted["WriteTheTaskLogs"]["Resource"] == [
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/zuora-athena:log-stream:*"]
    elsewhere = settings(DEPLOY_IMAGE="ghcr.io/acme/zuora-athena:0.1.0")
    assert "PullTheImage" not in statements(iam.execution_role_policy(elsewhere))


def test_the_deployment_policies_print_beside_the_seeds_policy_unchanged():
    s = settings()
    text = policies_text(s)
    first = json.loads(text.split("\n", 1)[1].split("\n\n# ", 1)[0])
    assert first == permissions_policy(s.connector.aws)
    assert f'"AWS": "{s.task_role_arn}"' in text  # the connector role trusts the task role


def test_the_commands_render_files_and_report_bad_settings(tmp_path):
    env = {**OPERATOR_SETTINGS, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "zuora_assets", "render-ecs", "--out", str(tmp_path)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ecs.render(settings()))
    policy = subprocess.run([sys.executable, "-m", "zuora_assets", "iam-policy", "--deployment"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert policy.returncode == 0 and "RunTheRunTasks" in policy.stdout
    bad = subprocess.run([sys.executable, "-m", "zuora_assets", "render-ecs", "--out", str(tmp_path / "x")],
                         env={**env, "DEPLOY_CLUSTER": ""}, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "DEPLOY_CLUSTER: is missing" in bad.stderr and not (tmp_path / "x").exists()


def test_a_container_context_the_run_launcher_would_refuse_is_refused_at_render_time():
    from dagster import DagsterInvalidConfigError

    ecs.check_container_context(ecs.container_context(settings()))
    with pytest.raises(DagsterInvalidConfigError):
        ecs.check_container_context({"ecs": {"secrets": [{"name": "ZUORA_CLIENT_SECRET"}]}})  # no valueFrom
