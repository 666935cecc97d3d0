"""The image's environment, built the way deploy/Dockerfile builds it, serves the code location.

The build context is what `docker build` sends (the files .dockerignore lets through), the install commands
are the Dockerfile's own (deploy/install.sh: the hash-pinned dependencies, then the project alone), into a
fresh virtual environment; the code server then starts from that environment, away from this checkout,
and the definitions load through it over gRPC. Where a container engine runs, the image itself is built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zuora_assets.deployment import ecs
from zuora_assets_tests import dagster_dev as dd
from zuora_assets_tests.deploy_support import DEPLOY, ROOT, base_environment, local_command

CONTEXT = ("pyproject.toml", "README.md", "zuora_assets", "deploy")  # what .dockerignore lets through
INSTALL_SECONDS = 600  # a bound: a cold package cache downloads every dependency


def build_context(where: Path) -> Path:
    """The files `docker build .` would send, per .dockerignore, copied to `where`."""
    where.mkdir()
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert sorted(allowed) == sorted(CONTEXT), "the test copies what .dockerignore lets through"
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=shutil.ignore_patterns("__pycache__", "ecs"))
        else:
            shutil.copy(source, where / name)
    return where


def dockerfile_install_steps() -> list[str]:
    """The `deploy/install.sh` steps the Dockerfile runs, in order."""
    return [line.split("install.sh", 1)[1].split()[0] for line in (DEPLOY / "Dockerfile").read_text().splitlines()
            if line.startswith("RUN sh deploy/install.sh")]


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_SECONDS + 300)
def test_the_image_environment_installs_from_the_lock_and_serves_the_code_location(tmp_path):
    context = build_context(tmp_path / "context")
    venv = tmp_path / "venv"
    assert dockerfile_install_steps() == ["dependencies", "project"]
    for step in dockerfile_install_steps():
        done = subprocess.run(["sh", "deploy/install.sh", step, str(venv)], cwd=context, capture_output=True, text=True,
                              timeout=INSTALL_SECONDS, env=base_environment())
        assert done.returncode == 0, f"install.sh {step}:\n{done.stdout}\n{done.stderr}"
    python = venv / "bin" / "python"
    checked = subprocess.run([str(venv / "bin" / "uv"), "pip", "check", "--python", str(python)], capture_output=True,
                             text=True, env=base_environment())
    assert checked.returncode == 0, f"the lock does not satisfy pyproject.toml:\n{checked.stdout}{checked.stderr}"
    installed = subprocess.run([str(python), "-c", "import zuora_assets, dagster_postgres, dagster_aws.ecs; "
                                "import importlib.util as u; print(zuora_assets.__file__); "
                                "print(u.find_spec('pytest') is None and u.find_spec('moto') is None)"],
                               cwd=tmp_path, capture_output=True, text=True, env=base_environment())
    assert installed.returncode == 0, installed.stderr
    location, no_dev_tools = installed.stdout.split()
    assert Path(location).is_relative_to(venv) and no_dev_tools == "True"  # the image holds no test tooling

    the_code_server_serves_the_definitions(venv, tmp_path)


def the_code_server_serves_the_definitions(venv: Path, tmp_path: Path) -> None:
    """The code server's container command, from the new environment, in a directory without the project."""
    (service,) = [s for s in ecs.SERVICES if s.role == "code-server"]
    ports = {"webserver": dd.free_port(), "code-server": dd.free_port()}
    command = local_command(list(service.command), tmp_path, ports)
    command[0] = str(venv / "bin" / service.command[0])
    home = tmp_path / "home"
    home.mkdir()
    env = {**base_environment(), "DAGSTER_HOME": str(home), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    log = (tmp_path / "code-server.log").open("wb")
    server = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        validate = [str(venv / "bin" / "dagster"), "definitions", "validate", "--grpc-host", "127.0.0.1",
                    "--grpc-port", str(ports["code-server"])]

        def validated() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"the code server exited: {(tmp_path / 'code-server.log').read_text()[-5000:]}")
            done = subprocess.run(validate, cwd=home, env=env, capture_output=True, text=True, timeout=120)
            return done.returncode == 0 and "Validation successful" in done.stdout + done.stderr

        def listening() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", ports["code-server"]), 1):
                return True
            return False

        dd.wait_for("the new code server's port", listening, dd.READY_SECONDS, every=0.5)
        dd.wait_for("the definitions to validate through the new code server", validated, dd.READY_SECONDS, every=3)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # as ECS does: SIGKILL after 30 s (seen once on a loaded machine)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)
        log.close()


def test_the_image_builds_where_a_container_engine_runs(tmp_path):
    docker = shutil.which("docker")
    engine = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60) if docker else None
    if engine is None or engine.returncode != 0:
        reason = "no docker client" if engine is None else f"`docker info` failed: {engine.stderr.strip()[:200]}"
        pytest.skip(f"no container engine here ({reason}): the image's environment is tested without it")
    tag = f"zuora-athena:test-{os.getpid()}"
    built = subprocess.run([docker, "build", "-f", "deploy/Dockerfile", "-t", tag, "."], cwd=ROOT, capture_output=True,
                           text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-5000:]
    try:
        ran = subprocess.run([docker, "run", "--rm", tag, "dagster", "definitions", "validate", "-m",
                              ecs.DEFINITIONS_MODULE], capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        user = subprocess.run([docker, "run", "--rm", tag, "id", "-u"], capture_output=True, text=True, timeout=60)
        assert user.stdout.strip() == "10001"  # not root
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=120)


def test_python_of_the_image_is_the_projects():
    """The image's Python (its base image) is the one the project and the lock are made for."""
    base = next(line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if line.startswith("FROM "))
    assert base.startswith(f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim")
    assert "--python-version 3.11" in (ROOT / "Makefile").read_text()
