"""The deployment's settings (`DEPLOY_*` and the `*_ARN` of each secret), read from the environment and validated.

The connector's own settings (`ZUORA_*`, `AWS_*`) are validated by `zuora_assets.settings` exactly as the
runs will read them, with each secret's value replaced by a stand-in: a deployment never holds a secret's
value, only the ARN of the Secrets Manager secret or SSM parameter that ECS reads it from at task start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from zuora_assets.settings import ENV_VARS, Settings, SettingsError
from zuora_assets.settings.aws import inferred_auth_mode
from zuora_assets.settings.reader import Reader, check_region, check_role_arn, role_account
from zuora_assets.settings.reader import pattern as _rule

DEFAULT_NAME = "zuora-athena"
DEFAULT_POSTGRES_PORT = "5432"
DEFAULT_POSTGRES_DB = "dagster"
DEFAULT_POSTGRES_USER = "dagster"
DEFAULT_LOGS_PREFIX = "dagster/compute-logs"
DEFAULT_RUN_CPU = "1024"
DEFAULT_RUN_MEMORY = "4096"
CPU_ARCHITECTURES = ("X86_64", "ARM64")

# The connector's secret settings; in a deployment each comes from `<NAME>_ARN` (AWS_ACCESS_KEY_ID too:
# a key id names an IAM user, so it is kept beside its secret key).
SECRET_SETTINGS = ("ZUORA_CLIENT_SECRET", "AWS_EXTERNAL_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# The AWS CLI's own credentials in the shell that renders: the operator's, never the deployment's.
OPERATOR_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# What each secret needs to be: required always, or in one AWS auth mode only.
_SECRETS_BY_MODE = {
    "role": ("ZUORA_CLIENT_SECRET", "AWS_EXTERNAL_ID"),
    "keys": ("ZUORA_CLIENT_SECRET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "default": ("ZUORA_CLIENT_SECRET",),
}
# Stands in for a secret's value while the connector settings are validated (it passes every value rule).
SECRET_STAND_IN = "resolved-by-ecs-at-task-start"
# Settings that make no sense in containers on ECS, and why.
_REFUSED = {
    "ZUORA_SIMULATOR_URL": "a deployment reads your Zuora tenant, never the simulator: unset it",
    "ZUORA_ATHENA_HOME": "a container's disk is gone after each task: a deployment writes to S3 (AWS_BUCKET); unset it",
    "AWS_ENDPOINT_URL": "boto3 would send every AWS call of the containers there (ECS, S3 logs too): unset it",
}
# Fargate's valid task sizes: CPU units -> memory (MiB) choices.
FARGATE_SIZES: dict[str, tuple[int, ...]] = {
    "256": (512, 1024, 2048),
    "512": tuple(range(1024, 4097, 1024)),
    "1024": tuple(range(2048, 8193, 1024)),
    "2048": tuple(range(4096, 16385, 1024)),
    "4096": tuple(range(8192, 30721, 1024)),
    "8192": tuple(range(16384, 61441, 4096)),
    "16384": tuple(range(32768, 122881, 8192)),
}

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
_CLUSTER_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_IMAGE_RE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\.[a-z0-9-]+)*(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_PG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_TARGET_GROUP_RE = re.compile(
    r"^arn:aws[\w-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[\w-]+/[0-9a-f]+$"
)
# A Secrets Manager secret (optionally `:json-key:version-stage:version-id`, as ECS accepts) or an SSM parameter.
_SECRET_ARN_RE = re.compile(
    r"^(?P<arn>arn:aws[\w-]*:(?P<service>secretsmanager):[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+)(:[^:]*:[^:]*:[^:]*)?$"
    r"|^(?P<ssm>arn:aws[\w-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[\w/.-]+)$",
    re.ASCII,
)


@dataclass(frozen=True)
class SecretRef:
    """An environment variable whose value ECS reads from a secret at task start (`valueFrom`)."""

    name: str
    value_from: str

    @property
    def resource_arn(self) -> str:
        """The IAM resource to grant: the secret without a JSON key or version, or the parameter."""
        match = _SECRET_ARN_RE.match(self.value_from)
        return match["arn"] or match["ssm"]

    @property
    def service(self) -> str:
        return "ssm" if ":ssm:" in self.value_from else "secretsmanager"


@dataclass(frozen=True)
class DeploySettings:
    """Where and how the deployment runs on ECS, plus the connector settings its code server and runs get."""

    name: str
    image: str
    region: str
    cluster: str
    task_role_arn: str
    execution_role_arn: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool
    postgres_host: str
    postgres_port: str
    postgres_db: str
    postgres_user: str
    postgres_password: SecretRef
    logs_bucket: str
    logs_prefix: str
    run_cpu: str
    run_memory: str
    cpu_architecture: str
    webserver_target_group_arn: str | None
    connector: Settings
    connector_environment: tuple[tuple[str, str], ...]  # the non-secret ZUORA_*/AWS_* settings, in order
    connector_secrets: tuple[SecretRef, ...]

    @property
    def account_id(self) -> str:
        return role_account(self.task_role_arn)

    @property
    def partition(self) -> str:
        return self.task_role_arn.split(":")[1]

    @property
    def log_group(self) -> str:
        return f"/ecs/{self.name}"

    @property
    def run_task_prefix(self) -> str:
        """The family prefix of the run task definitions the run launcher registers (at most 16 characters)."""
        return f"{self.name}-run"

    @property
    def secrets(self) -> tuple[SecretRef, ...]:
        return (self.postgres_password, *self.connector_secrets)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DeploySettings:
        """Read and validate every deployment setting; raise `SettingsError` listing all problems at once."""
        r = Reader(env)
        connector, connector_secrets = _connector(r, env)
        values = dict(
            name=r.checked(
                "DEPLOY_NAME", _rule(_NAME_RE, "use 1-12 of a-z 0-9 - starting with a letter"), DEFAULT_NAME
            ),
            image=_required(r, "DEPLOY_IMAGE", _check_image),
            region=_required(r, "DEPLOY_REGION", check_region),
            cluster=_required(r, "DEPLOY_CLUSTER", _rule(_CLUSTER_RE, "use 1-255 of A-Z a-z 0-9 _ -")),
            task_role_arn=_required(r, "DEPLOY_TASK_ROLE_ARN", check_role_arn),
            execution_role_arn=_required(r, "DEPLOY_EXECUTION_ROLE_ARN", check_role_arn),
            subnets=_id_list(r, "DEPLOY_SUBNETS", _SUBNET_RE, "subnet-0123456789abcdef0"),
            security_groups=_id_list(r, "DEPLOY_SECURITY_GROUPS", _SECURITY_GROUP_RE, "sg-0123456789abcdef0"),
            assign_public_ip=r.flag("DEPLOY_ASSIGN_PUBLIC_IP"),
            postgres_host=_required(
                r, "DEPLOY_POSTGRES_HOST", _rule(_HOST_RE, "use a host name or IP address")
            ),
            postgres_port=r.checked("DEPLOY_POSTGRES_PORT", _check_port, DEFAULT_POSTGRES_PORT),
            postgres_db=r.checked("DEPLOY_POSTGRES_DB", _check_pg_name, DEFAULT_POSTGRES_DB),
            postgres_user=r.checked("DEPLOY_POSTGRES_USER", _check_pg_name, DEFAULT_POSTGRES_USER),
            postgres_password=_secret_ref(
                r, "DEPLOY_POSTGRES_PASSWORD", "DAGSTER_PG_PASSWORD", required=True
            ),
            logs_bucket=_required(r, "DEPLOY_LOGS_BUCKET", _rule(_BUCKET_RE, "use an S3 bucket name")),
            logs_prefix=r.checked(
                "DEPLOY_LOGS_PREFIX",
                _rule(_PREFIX_RE, "use key segments separated by single '/'"),
                DEFAULT_LOGS_PREFIX,
            ),
            cpu_architecture=r.checked(
                "DEPLOY_CPU_ARCHITECTURE",
                lambda v: (
                    None
                    if v in CPU_ARCHITECTURES
                    else f"is not one of {', '.join(CPU_ARCHITECTURES)} (the image's)"
                ),
                CPU_ARCHITECTURES[0],
            ),
            webserver_target_group_arn=r.checked(
                "DEPLOY_WEBSERVER_TARGET_GROUP_ARN", _rule(_TARGET_GROUP_RE, "use an ELB target group ARN")
            ),
            **_run_size(r),
        )
        if r.problems:
            raise SettingsError(r.problems)
        environment = tuple(
            (name, env[name].strip()) for name in _connector_vars() if (env.get(name) or "").strip()
        )
        region = ("AWS_REGION", connector.aws.region)  # always explicit: Fargate sets its own AWS_REGION
        environment = tuple(item for item in environment if item[0] != "AWS_REGION") + (region,)
        return cls(
            **values,
            connector=connector,
            connector_environment=environment,
            connector_secrets=connector_secrets,
        )


def _connector_vars() -> tuple[str, ...]:
    hidden = (*SECRET_SETTINGS, *OPERATOR_CREDENTIALS, *_REFUSED)
    return tuple(name for name in ENV_VARS if name not in hidden)


# --- the connector's settings, secrets by reference ---------------------------------------------------------------


def _connector(r: Reader, env: Mapping[str, str]) -> tuple[Settings | None, tuple[SecretRef, ...]]:
    """The connector settings as the runs will read them, and the secrets they need by reference."""
    for name, why in _REFUSED.items():
        if r.get(name):
            r.problem(name, f"is set: {why}")
    mode = (r.get("AWS_AUTH_MODE") or inferred_auth_mode(r, ("AWS_ACCESS_KEY_ID_ARN", "AWS_SECRET_ACCESS_KEY_ARN"))).lower()
    needed = _SECRETS_BY_MODE.get(mode, ())
    refs, stand_ins = [], {}
    for name in SECRET_SETTINGS:
        if name in OPERATOR_CREDENTIALS:  # a plain value is the AWS CLI's, not a setting: only the ARN counts
            value = r.get(f"{name}_ARN")
            ref = SecretRef(name, value) if value and r.checked(f"{name}_ARN", _check_secret_arn) else None
            if name in needed and not value:
                r.problem(
                    f"{name}_ARN",
                    f"is missing: AWS_AUTH_MODE=keys needs the ARN of the secret that holds {name}",
                )
        else:
            ref = _secret_ref(r, name, name, required=name in needed)
        if name not in needed and ref is not None:
            r.problem(f"{name}_ARN", f"is set but AWS_AUTH_MODE={mode} does not use {name}: unset it")
        elif ref is not None:
            refs.append(ref)
            stand_ins[name] = SECRET_STAND_IN
    if not r.get("ZUORA_CLIENT_ID"):
        r.problem("ZUORA_CLIENT_ID", "is missing: a deployment reads your tenant (set its OAuth client id)")
    if not r.get("AWS_BUCKET"):
        r.problem(
            "AWS_BUCKET",
            "is missing: a deployment writes to S3 (set the bucket, AWS_BUCKET_REGION, AWS_SCHEMA)",
        )
    clean = {k: v for k, v in env.items() if k not in (*SECRET_SETTINGS, *OPERATOR_CREDENTIALS, *_REFUSED)}
    try:
        connector = Settings.from_env({**clean, **stand_ins})
    except SettingsError as error:
        r.problems.extend(
            p for p in error.problems if not p.startswith(tuple(f"{n}:" for n in SECRET_SETTINGS))
        )
        return None, tuple(refs)
    return connector, tuple(refs)


def _secret_ref(r: Reader, setting: str, variable: str, *, required: bool) -> SecretRef | None:
    """`<setting>_ARN` as the reference of the container variable `variable`; a plain value is refused."""
    arn_name = f"{setting}_ARN"
    if r.get(setting) and not r.get(arn_name):
        r.problem(
            setting,
            f"is set as a value: a deployment takes secrets by reference only; store it in Secrets Manager "
            f"or SSM Parameter Store and set {arn_name} to its ARN",
        )
        return None
    if required and not r.get(arn_name):
        r.problem(
            arn_name,
            f"is missing: the ARN of the Secrets Manager secret or SSM parameter that holds {setting}",
        )
        return None
    value = r.checked(arn_name, _check_secret_arn)
    return SecretRef(variable, value) if value else None


# --- single values --------------------------------------------------------------------------------------------------


def _required(r: Reader, name: str, check) -> str | None:
    if r.get(name) is None:
        r.problem(name, "is missing: a deployment needs it (see README, Deploy on AWS)")
        return None
    return r.checked(name, check)


def _check_image(value: str) -> str | None:
    if not _IMAGE_RE.match(value):
        return "is not an image reference with a tag or digest, like <registry>/zuora-athena:0.1.0"
    if value.endswith(":latest"):
        return "uses the tag 'latest': give each build its own tag (or a digest) so that a rollback is one setting"
    return None


def _check_secret_arn(value: str) -> str | None:
    if _SECRET_ARN_RE.match(value):
        return None
    return (
        "is not a secret reference: use arn:aws:secretsmanager:<region>:<account>:secret:<name> (full ARN, "
        "optionally :<json-key>::) or arn:aws:ssm:<region>:<account>:parameter/<name>"
    )


def _check_port(value: str) -> str | None:
    return None if value.isdigit() and 1 <= int(value) <= 65535 else "is not a port number (1-65535)"


def _check_pg_name(value: str) -> str | None:
    return (
        None
        if _PG_NAME_RE.match(value)
        else "is not a PostgreSQL name: use letters, digits and _ (at most 63)"
    )


def _id_list(r: Reader, name: str, regex: re.Pattern[str], example: str) -> tuple[str, ...]:
    value = _required(r, name, lambda v: None)
    if value is None:
        return ()
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    bad = [item for item in items if not regex.match(item)]
    if bad or not items:
        r.problem(name, f"{value!r} is not a comma-separated list of ids like {example}")
    return items


def _run_size(r: Reader) -> dict[str, str]:
    """DEPLOY_RUN_CPU and DEPLOY_RUN_MEMORY: one of Fargate's task sizes."""
    cpu = r.checked(
        "DEPLOY_RUN_CPU",
        lambda v: (
            None
            if v in FARGATE_SIZES
            else f"is not a Fargate CPU size: use one of {', '.join(FARGATE_SIZES)}"
        ),
        DEFAULT_RUN_CPU,
    )
    memory = r.checked(
        "DEPLOY_RUN_MEMORY", lambda v: None if v.isdigit() else "is not a number of MiB", DEFAULT_RUN_MEMORY
    )
    if cpu and memory and int(memory) not in FARGATE_SIZES[cpu]:
        choices = FARGATE_SIZES[cpu]
        r.problem(
            "DEPLOY_RUN_MEMORY",
            f"{memory!r} MiB does not go with DEPLOY_RUN_CPU={cpu}: Fargate allows {choices[0]}-{choices[-1]} "
            f"in steps of {choices[1] - choices[0]}",
        )
    return {"run_cpu": cpu or DEFAULT_RUN_CPU, "run_memory": memory or DEFAULT_RUN_MEMORY}
