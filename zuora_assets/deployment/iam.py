"""The IAM policies of a deployment on ECS: its task role and its execution role, least privilege, from its settings.

The task role is what the webserver, the daemon, the code server and every run task run as; the execution
role is what ECS uses to start them (pull the image, write their logs, read their secrets). Each statement
grants what one part of Dagster or ECS calls, on the resources of this deployment only.
"""

from __future__ import annotations

from zuora_assets.deployment.settings import DeploySettings

ECS_TASKS = "ecs-tasks.amazonaws.com"
_ECR_IMAGE_HOST = ".dkr.ecr."


def task_role_policy(s: DeploySettings) -> dict:
    """What the task role needs: run and watch run tasks (EcsRunLauncher), pass the two roles, compute logs."""
    region, account, p = s.region, s.account_id, s.partition
    cluster_arn = f"arn:{p}:ecs:{region}:{account}:cluster/{s.cluster}"
    tasks = f"arn:{p}:ecs:{region}:{account}:task/{s.cluster}/*"
    on_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
    statements = [
        _statement(
            "RunTheRunTasks",  # EcsRunLauncher.launch_run: one task per run, of the run task definitions it registers
            ["ecs:RunTask"],
            [f"arn:{p}:ecs:{region}:{account}:task-definition/{s.run_task_prefix}_*"],
            on_cluster,
        ),
        _statement(
            "TagTheRunTasks",  # RunTask with tags (dagster/run_id, ...) needs tagging at creation
            ["ecs:TagResource"],
            [tasks],
            {"StringEquals": {"ecs:CreateAction": "RunTask"}},
        ),
        _statement(
            "WatchAndStopTheRunTasks",  # run monitoring (DescribeTasks) and run termination (StopTask)
            ["ecs:DescribeTasks", "ecs:StopTask"],
            [tasks],
            on_cluster,
        ),
        # RegisterTaskDefinition and DescribeTaskDefinition take no resource; DescribeNetworkInterfaces neither
        # (the launcher reads its own task's subnets and security groups for the run tasks).
        _statement(
            "RegisterTheRunTaskDefinitions",
            ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"],
            ["*"],
        ),
        _statement(
            "PassTheTwoRolesToRunTasks",
            ["iam:PassRole"],
            sorted({s.task_role_arn, s.execution_role_arn}),
            {"StringEquals": {"iam:PassedToService": ECS_TASKS}},
        ),
        _statement(
            "ReadTheLogsOfAFailedRunTask",  # the launcher quotes a failed run task's last log lines
            ["logs:GetLogEvents"],
            [f"arn:{p}:logs:{region}:{account}:log-group:{s.log_group}:log-stream:*"],
        ),
        *compute_logs_statements(s),
    ]
    if s.connector.aws.auth_mode == "role":
        statements.append(
            _statement("AssumeTheConnectorRole", ["sts:AssumeRole"], [s.connector.aws.role_arn])
        )
    return {"Version": "2012-10-17", "Statement": statements}


def compute_logs_statements(s: DeploySettings) -> list[dict]:
    """S3ComputeLogManager: run tasks upload, the webserver reads, deleting a run deletes its logs."""
    prefix = s.logs_prefix.rstrip("/")
    bucket = f"arn:{s.partition}:s3:::{s.logs_bucket}"
    return [
        _statement(
            "WriteAndReadComputeLogs",
            ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            [f"{bucket}/{prefix}/*"],
        ),
        _statement(
            "ListComputeLogs", ["s3:ListBucket"], [bucket], {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
        ),
    ]


def execution_role_policy(s: DeploySettings) -> dict:
    """What ECS needs to start the tasks: the image, the log streams, and each secret by its ARN."""
    region, account, p = s.region, s.account_id, s.partition
    statements = []
    repository = ecr_repository_arn(s)
    if repository:
        statements += [
            _statement("PullTheImageAuthorization", ["ecr:GetAuthorizationToken"], ["*"]),
            _statement(
                "PullTheImage",
                ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                [repository],
            ),
        ]
    statements.append(
        _statement(
            "WriteTheTaskLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:{p}:logs:{region}:{account}:log-group:{s.log_group}:log-stream:*"],
        )
    )
    by_service: dict[str, list[str]] = {}
    for ref in s.secrets:
        by_service.setdefault(ref.service, []).append(ref.resource_arn)
    if "secretsmanager" in by_service:
        statements.append(
            _statement(
                "ReadTheNamedSecrets",
                ["secretsmanager:GetSecretValue"],
                sorted(set(by_service["secretsmanager"])),
            )
        )
    if "ssm" in by_service:
        statements.append(
            _statement("ReadTheNamedParameters", ["ssm:GetParameters"], sorted(set(by_service["ssm"])))
        )
    return {"Version": "2012-10-17", "Statement": statements}


def ecs_trust_policy() -> dict:
    """Both roles are assumed by ECS tasks only."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": ECS_TASKS}, "Action": "sts:AssumeRole"}],
    }


def ecr_repository_arn(s: DeploySettings) -> str | None:
    """The ECR repository of the image (`<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>`), else None."""
    host, _, path = s.image.partition("/")
    if _ECR_IMAGE_HOST not in host:
        return None
    account, _, rest = host.partition(_ECR_IMAGE_HOST)
    region = rest.split(".", 1)[0]
    name = path.split("@", 1)[0].rsplit(":", 1)[0]
    return f"arn:{s.partition}:ecr:{region}:{account}:repository/{name}"


def _statement(sid: str, actions: list[str], resources: list[str], condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement
