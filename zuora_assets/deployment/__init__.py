"""Running the project in production on AWS ECS: settings, task definitions and services, IAM policies.

`python -m zuora_assets render-ecs` writes the ECS documents (`main_render`); `python -m zuora_assets
iam-policy --deployment` prints the roles' policies (`main_iam_policy`). Only the check of the rendered
container context imports dagster-aws (the run launcher's own parser).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from zuora_assets.deployment import ecs, iam
from zuora_assets.deployment.settings import DeploySettings
from zuora_assets.settings import SettingsError


def load(env: Mapping[str, str]) -> DeploySettings | None:
    """The deployment settings, or None after printing every problem to stderr."""
    try:
        return DeploySettings.from_env(env)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return None


def main_render(env: Mapping[str, str], out: Path) -> int:
    """Write every task definition and service document into `out`, then say how to apply them."""
    settings = load(env)
    if settings is None:
        return 2
    out.mkdir(parents=True, exist_ok=True)
    documents = ecs.render(settings)
    for name, document in documents.items():
        (out / name).write_text(json.dumps(document, indent=2) + "\n")
    print(f"Wrote {len(documents)} files to {out}/ for the deployment {settings.name} ({settings.image}):")
    for name in documents:
        print(f"  {out / name}")
    print(
        "Register the task definitions with `aws ecs register-task-definition --cli-input-json file://<file>`, "
        "then create (or update) the services: see README, Deploy on AWS."
    )
    return 0


def main_iam_policy(env: Mapping[str, str]) -> int:
    """Print the task role's and the execution role's policies, and what the connector's auth mode adds."""
    settings = load(env)
    if settings is None:
        return 2
    print(policies_text(settings))
    return 0


def policies_text(s: DeploySettings) -> str:
    from zuora_assets.iam import permissions_policy, trust_policy

    aws = s.connector.aws
    account = s.account_id if aws.auth_mode == "default" else None  # role: the role's; keys: the user's
    parts = [
        "# The connector's permissions policy (the seed's, for your settings): "
        + {
            "role": f"attach it to {aws.role_arn}.",
            "default": "attach it to the task role.",
            "keys": "attach it to the keys' IAM user.",
        }[aws.auth_mode],
        json.dumps(permissions_policy(aws, account), indent=2),
        "",
        f"# Task role {s.task_role_arn}: the webserver, the daemon, the code server and every run task.",
        json.dumps(iam.task_role_policy(s), indent=2),
        "",
        f"# Execution role {s.execution_role_arn}: ECS starts the tasks with it (image, logs, secrets).",
        json.dumps(iam.execution_role_policy(s), indent=2),
        "",
        "# Trust policy of both roles.",
        json.dumps(iam.ecs_trust_policy(), indent=2),
    ]
    if aws.auth_mode == "role":
        parts += [
            "",
            f"# Trust policy of the connector's role {aws.role_arn}: the task role assumes it with the external id",
            "# (replace EXTERNAL_ID with the value of the secret AWS_EXTERNAL_ID_ARN names).",
            json.dumps(trust_policy(aws, s.task_role_arn, external_id="EXTERNAL_ID"), indent=2),
        ]
    elif aws.auth_mode == "keys":
        parts += [
            "",
            "# AWS_AUTH_MODE=keys: in a run task the keys are the credentials of everything, the compute logs too;",
            "# attach this to the keys' IAM user too.",
            json.dumps({"Version": "2012-10-17", "Statement": iam.compute_logs_statements(s)}, indent=2),
        ]
    return "\n".join(parts)
