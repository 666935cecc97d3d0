"""The connection test, as a Dagster job (`test_connection`) and as `python -m zuora_assets check`."""


import os
from collections.abc import Callable, Mapping

import dagster as dg

from zuora_assets import connection
from zuora_assets.defs.resources import SIMULATOR_URL_ENV, SettingsResource, ZuoraSource, zuora_client
from zuora_assets.defs.scope import SINGLE, EntityScope
from zuora_assets.settings import Settings
from zuora_assets.zuora.catalog import model
from zuora_assets.zuora.describe import discovery


def zuora_check(settings: Settings, simulator_url: str | None) -> Callable[[], str]:
    """A check of the Zuora side: an OAuth token, then the describe of Account."""

    def check() -> str:
        with zuora_client(settings, simulator_url) as client:
            found = discovery(client, model("account"))
            where = "the embedded simulator" if settings.zuora is None else settings.zuora.base_url
            return f"token ok; describe Account at {where}: {len(found.fields)} exportable fields"

    return check


def main_check(environ: Mapping[str, str] = os.environ) -> int:
    """`python -m zuora_assets check`: validate the settings, run every check, print one line each."""
    try:
        settings = Settings.from_env(environ)
    except Exception:  # bad settings: let connection.main_check print them with its exit code
        return connection.main_check(environ)
    simulator_url = environ.get(SIMULATOR_URL_ENV)
    if settings.zuora is None and not simulator_url:  # the embedded simulator runs only under demo/dev/tests
        return connection.main_check(environ)
    return connection.main_check(environ, zuora_check=zuora_check(settings, simulator_url))


def connection_job(scope: EntityScope = SINGLE) -> dg.JobDefinition:
    """The `test_connection` job (`test_connection_<entity>`): the entity's credentials and AWS permissions."""

    @dg.op(
        name=scope.named("check_connection"),
        description="Check the Zuora credentials and every AWS permission the connector uses.",
        required_resource_keys={scope.resource("settings"), scope.resource("zuora")},
    )
    def _check(context: dg.OpExecutionContext) -> None:
        settings, zuora = scope.resources(context, "settings", "zuora")
        check_connection(context, settings, zuora)

    @dg.job(
        name=scope.named("test_connection"),
        description="Test the connection before the first sync: Zuora token and describe, STS, S3, Glue, Athena.",
        tags=scope.tags,
    )
    def _job():
        _check()

    return _job


def check_connection(context: dg.OpExecutionContext, settings: SettingsResource, zuora: ZuoraSource) -> None:
    loaded = settings.load()
    context.log.info(loaded.describe())
    results = connection.run_checks(loaded, zuora_check=zuora_check(loaded, zuora.simulator_url))
    report = connection.format_results(results)
    for line in report.splitlines():
        context.log.info(line)
    if not connection.all_ok(results):
        raise dg.Failure(description=report, allow_retries=False)


test_connection = connection_job()
