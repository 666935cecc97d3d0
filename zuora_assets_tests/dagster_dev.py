"""Dagster processes for tests (`dagster dev`, or the production services apart), and a client of the GraphQL API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).parent.parent
LOCATION = "zuora_assets"
REPOSITORY = "__repository__"
MARKER_ENV = "ZUORA_E2E_PROCESS_MARKER"  # set in every process the test starts, to find them all at the end
READY_SECONDS = 120.0
STOP_SECONDS = 20.0
LOG_TAIL_CHARS = 20_000


class GraphQLError(AssertionError):
    """The webserver answered a GraphQL request with errors."""


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """`probe()`'s first truthy result, polled every `every` s; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterProcesses:
    """Dagster processes started for a test, each in its own process group with its output in a log file.

    Every process carries a marker in its environment, so that the processes they start (run workers,
    step processes, code servers) are found and stopped too. `url` is the webserver's.
    """

    def __init__(self, home: Path, env: Mapping[str, str]):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex
        self._env = {**env, "DAGSTER_HOME": str(home), MARKER_ENV: self.marker}
        self._processes: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self) -> None:
        raise NotImplementedError

    def spawn(self, name: str, command: list[str], env: Mapping[str, str] | None = None) -> None:
        """Start `command` (from the repository's root) with the shared environment plus `env`."""
        self.home.mkdir(parents=True, exist_ok=True)
        log_path = self.home / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**self._env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append((name, process, log_path))

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Wait until the webserver answers GraphQL with the code location loaded."""
        wait_for("the Dagster webserver and the zuora_assets code location", self._location_loaded, timeout)

    def _location_loaded(self) -> bool:
        for name, process, _ in self._processes:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with code {process.returncode}")
        try:
            data = self.query("{ locationStatusesOrError { ... on WorkspaceLocationStatusEntries "
                              "{ entries { name loadStatus } } } }")
        except requests.RequestException:
            return False
        entries = data["locationStatusesOrError"].get("entries", [])
        return any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries)

    def query(self, document: str, **variables: Any) -> dict:
        """The `data` of one GraphQL request; raises `GraphQLError` when the answer has errors."""
        resp = requests.post(f"{self.url}/graphql", json={"query": document, "variables": variables}, timeout=60)
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        if resp.status_code != 200 or body.get("errors"):
            raise GraphQLError(f"GraphQL request failed ({resp.status_code}): {body.get('errors') or resp.text}")
        return body["data"]

    def stop(self) -> None:
        """Stop each process group (TERM, then KILL), then any process that still carries the marker."""
        for _, process, _ in reversed(self._processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in reversed(self._processes):
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_SECONDS)
        # Run workers and step processes may outlive their group's leader for a moment, or leave it.
        if not self._gone(STOP_SECONDS):
            for pid in marked_processes(self.marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._gone(STOP_SECONDS)

    def _gone(self, timeout: float) -> bool:
        """Whether every marked process has exited within `timeout` s."""
        deadline = time.monotonic() + timeout
        while marked_processes(self.marker):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def leftover_processes(self) -> list[str]:
        """The command lines of processes this test started that are still running."""
        return [command_line(pid) for pid in marked_processes(self.marker)]

    def output(self) -> str:
        """Everything the processes printed so far."""
        return "\n".join(log_path.read_text(errors="replace") for _, _, log_path in self._processes if log_path.exists())

    def log_tail(self) -> str:
        tails = []
        for name, _, log_path in self._processes:
            text = log_path.read_text(errors="replace") if log_path.exists() else "(no output)"
            tails.append(f"----- {name} (tail of {log_path}) -----\n{text[-LOG_TAIL_CHARS:]}")
        return "\n".join(tails) or "(nothing started)"


class DagsterDev(DagsterProcesses):
    """`python -m dagster dev -w <workspace>`: webserver and daemon as `make dev` runs them (by default with the
    repository's workspace.yaml)."""

    def __init__(self, home: Path, env: Mapping[str, str], workspace: Path = ROOT / "workspace.yaml"):
        super().__init__(home, env)
        self.workspace = workspace

    def start(self) -> None:
        """Start webserver and daemon with the repo's `dagster.yaml` as the instance settings."""
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dagster.yaml", self.home / "dagster.yaml")
        self.spawn("dagster_dev", [sys.executable, "-m", "dagster", "dev", "-w", str(self.workspace),
                                   "-h", "127.0.0.1", "-p", str(self.port)])


def module_workspace(directory: Path, module: str) -> Path:
    """A workspace file in `directory` whose one code location, named `LOCATION` as the project's, is `module`."""
    location = {"python_module": {"module_name": module, "working_directory": str(ROOT), "location_name": LOCATION}}
    path = directory / "workspace.yaml"
    path.write_text(json.dumps({"load_from": [location]}, indent=2))  # JSON is YAML
    return path


def marked_processes(marker: str) -> list[int]:
    """Ids of the live processes whose environment carries `MARKER_ENV=marker` (Linux /proc)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0") and not is_zombie(entry):
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return f"{pid}: (gone)"


def is_zombie(proc: Path) -> bool:
    with contextlib.suppress(OSError):
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


@contextlib.contextmanager
def running(processes: DagsterProcesses) -> Iterator[DagsterProcesses]:
    """Started and ready processes; always stopped on exit, their output printed when the block fails."""
    try:
        processes.start()
        processes.wait_ready()
        yield processes
    except BaseException:
        print(processes.log_tail())
        raise
    finally:
        processes.stop()
    leftovers = processes.leftover_processes()
    assert not leftovers, f"processes started by the test are still running after stop: {leftovers}"


def dagster_dev(home: Path, env: Mapping[str, str], workspace: Path = ROOT / "workspace.yaml"):
    """A started, ready `dagster dev` of `workspace` (a context manager)."""
    return running(DagsterDev(home, env, workspace))


# ----- GraphQL queries the tests use -----

REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
FINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}

REPOSITORY_QUERY = """
query ($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } }
      sensors { name sensorState { status } }
      schedules { name cronSchedule scheduleState { status } }
    }
    ... on Error { message }
  }
}"""

LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

BACKFILL_STATUS = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status error { message } }
    ... on Error { message }
  }
}"""

RUNS_QUERY = """
query ($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status tags { key value } assetSelection { path } } }
    ... on Error { message }
  }
}"""

RUN_LOGS = """
query ($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message level stepKey } } }
    ... on Error { message }
  }
}"""

START_SENSOR = """
mutation ($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on Error { message }
  }
}"""

SENSOR_TICKS = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 20) { status skipReason runIds error { message } } } }
    ... on Error { message }
  }
}"""

SCHEDULE_DRY_RUN = """
mutation ($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick {
      evaluationResult { skipReason error { message } runRequests { runKey jobName runConfigYaml tags { key value }
                                                                    assetSelection { path } } }
    }
    ... on Error { message }
  }
}"""

SCHEDULE_JOB = """
query ($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule { pipelineName }
    ... on Error { message }
  }
}"""

LAUNCH_RUN = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def answer(data: dict, field: str, typename: str) -> dict:
    """The `field` of a GraphQL answer, which must be of type `typename` (else its error message)."""
    value = data[field]
    if value["__typename"] != typename:
        raise GraphQLError(f"{field} answered {value['__typename']}: {value.get('message')}")
    return value


def repository(dev: DagsterProcesses) -> dict:
    """What the UI shows of the code location: asset nodes with their checks, sensors, schedules."""
    return answer(dev.query(REPOSITORY_QUERY, selector=REPOSITORY_SELECTOR), "repositoryOrError", "Repository")


def launch_backfill(
    dev: DagsterProcesses, asset_keys: list[str], partitions: list[str], run_config: dict | None = None
) -> str:
    """Launch an asset backfill of `asset_keys` ("zuora/account") over `partitions`; returns its id."""
    params: dict[str, Any] = {
        "assetSelection": [{"path": key.split("/")} for key in asset_keys],
        "partitionNames": partitions,
    }
    if run_config is not None:
        params["runConfigData"] = run_config
    launched = answer(dev.query(LAUNCH_BACKFILL, params=params), "launchPartitionBackfill", "LaunchBackfillSuccess")
    return launched["backfillId"]


def backfill(dev: DagsterProcesses, backfill_id: str) -> dict:
    return answer(dev.query(BACKFILL_STATUS, id=backfill_id), "partitionBackfillOrError", "PartitionBackfill")


def runs(dev: DagsterProcesses, tags: Mapping[str, str]) -> list[dict]:
    """Runs carrying all of `tags`, newest first, with their tags as a dict."""
    filter_ = {"tags": [{"key": k, "value": v} for k, v in tags.items()]}
    found = answer(dev.query(RUNS_QUERY, filter=filter_), "runsOrError", "Runs")["results"]
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in found]


def run_errors(dev: DagsterProcesses, run_id: str) -> list[str]:
    """The ERROR-level messages of a run's event log (step failures and the run failure)."""
    logs = answer(dev.query(RUN_LOGS, runId=run_id), "logsForRun", "EventConnection")
    return [f"{e.get('stepKey') or 'run'}: {e['message']}" for e in logs["events"] if e.get("level") == "ERROR"]


def failures(dev: DagsterProcesses, found: list[dict]) -> str:
    """The error messages of the failed or canceled runs among `found`, for an assertion message."""
    lines = [f"run {r['runId']} {r['status']}: " + " | ".join(run_errors(dev, r["runId"]))
             for r in found if r["status"] in ("FAILURE", "CANCELED")]
    return "\n".join(lines)


def sensor_selector(name: str) -> dict:
    return {**REPOSITORY_SELECTOR, "sensorName": name}


def start_sensor(dev: DagsterProcesses, name: str) -> str:
    started = answer(dev.query(START_SENSOR, selector=sensor_selector(name)), "startSensor", "Sensor")
    return started["sensorState"]["status"]


def sensor_ticks(dev: DagsterProcesses, name: str) -> list[dict]:
    """The sensor's latest ticks, newest first."""
    sensor = answer(dev.query(SENSOR_TICKS, selector=sensor_selector(name)), "sensorOrError", "Sensor")
    return sensor["sensorState"]["ticks"]


def schedule_dry_run(dev: DagsterProcesses, name: str, timestamp: float) -> list[dict]:
    """The run requests the schedule's tick at `timestamp` makes (evaluated by the code location).

    A request without a job of its own is for the schedule's job, as the daemon reads it.
    """
    selector = {**REPOSITORY_SELECTOR, "scheduleName": name}
    tick = answer(dev.query(SCHEDULE_DRY_RUN, selector=selector, timestamp=timestamp), "scheduleDryRun",
                  "DryRunInstigationTick")
    result = tick["evaluationResult"]
    if result.get("error"):
        raise AssertionError(f"schedule {name} failed to evaluate: {result['error']['message']}")
    job = answer(dev.query(SCHEDULE_JOB, selector=selector), "scheduleOrError", "Schedule")["pipelineName"]
    return [{**request, "jobName": request["jobName"] or job} for request in result["runRequests"] or []]


def launch_request(dev: DagsterProcesses, request: dict, run_config: dict | None = None) -> str:
    """Launch a run request as the daemon would (its job, assets and tags); returns the run id."""
    params = {
        "selector": {**REPOSITORY_SELECTOR, "jobName": request["jobName"],
                     "assetSelection": request["assetSelection"]},
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": request["tags"]},
    }
    launched = answer(dev.query(LAUNCH_RUN, params=params), "launchRun", "LaunchRunSuccess")
    return launched["run"]["runId"]
