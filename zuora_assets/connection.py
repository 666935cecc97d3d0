"""The connection test: exercise every permission the project uses and say which one is missing, on what, and the fix.

Checks follow reference athena_glue_s3.md section 11; `python -m zuora_assets check` runs them (`main_check`).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from zuora_assets.aws import AwsClients
from zuora_assets.connection_aws import CheckResult, aws_results
from zuora_assets.settings import Settings, SettingsError


def run_checks(
    settings: Settings,
    *,
    clients: AwsClients | None = None,
    zuora_check: Callable[[], str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[CheckResult]:
    """Run every check for these settings; later checks still run after a failure unless they need its result.

    `zuora_check()` tests the Zuora side (token and describe), returns a detail and raises on failure;
    `sleep` is how the Athena query check waits between polls.
    """
    results = [_zuora_result(zuora_check)] if zuora_check else []
    if settings.aws is None:
        return [*results, _local_lake_result(settings.local_dir)]
    return results + aws_results(settings.aws, clients, sleep)


def all_ok(results: list[CheckResult]) -> bool:
    return all(r.ok for r in results)


def format_results(results: list[CheckResult]) -> str:
    """One line per check ("ok", "FAILED", "skipped"); for a denial, the action, resource and fixing statement."""
    lines: list[str] = []
    for r in results:
        status = "skipped" if r.skipped else "ok" if r.ok else "FAILED"
        lines.append(f"{status:<8}{r.name}: {r.detail}")
        if not r.ok and not r.skipped and r.action and r.fix:
            lines.append(
                f"        missing permission: {r.action} on {r.resource or '(resource not reported)'}"
            )
            lines.append("        add this statement to the policy of the role or user this project runs as:")
            lines += ["          " + line for line in json.dumps(r.fix, indent=2).splitlines()]
    failed = sum(not r.ok and not r.skipped for r in results)
    skipped = sum(r.skipped for r in results)
    lines.append(
        f"{len(results)} checks: {len(results) - failed - skipped} ok, {failed} failed, {skipped} skipped"
    )
    return "\n".join(lines)


def main_check(env: Mapping[str, str], zuora_check: Callable[[], str] | None = None) -> int:
    """Validate the settings in `env`, run the checks, print the report; 0 = all ok, 1 = a check failed, 2 = bad settings."""
    try:
        settings = Settings.from_env(env)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    print(settings.describe(), end="\n\n")
    results = run_checks(settings, zuora_check=zuora_check)
    print(format_results(results))
    return 0 if all_ok(results) else 1


def _zuora_result(zuora_check: Callable[[], str]) -> CheckResult:
    name = "zuora token and describe"
    try:
        detail = zuora_check()
    except Exception as error:  # the injected check may fail in any way; report it, don't crash the others
        return CheckResult(name, False, f"{type(error).__name__}: {error}")
    return CheckResult(name, True, detail)


def _local_lake_result(local_dir: Path) -> CheckResult:
    """The embedded destination: the lake folder can be created, written and cleaned."""
    name = "local lake folder"
    marker = local_dir / f".connection-test-{uuid.uuid4().hex}"
    try:
        local_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text("zuora-athena connection test")
        marker.unlink()
    except OSError as error:
        return CheckResult(
            name, False, f"cannot write to {local_dir}: {error}. Set ZUORA_ATHENA_HOME to a writable folder"
        )
    return CheckResult(name, True, f"{local_dir.resolve()} is writable")


