"""Command line: `python -m zuora_assets {demo,dev,check,iam-policy,render-ecs}`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def _start_simulator(args):
    from zuora_assets.sim import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=args.seed, accounts=args.accounts))
    sim.start()
    return sim


def _settings_problems(environ) -> str | None:
    """The settings' problems, one line each, or None when they are valid."""
    from zuora_assets.entities import load_entities
    from zuora_assets.settings import Settings, SettingsError

    try:
        if load_entities(environ)[0].name is None:  # several entities are validated each by load_entities
            Settings.from_env(environ)
    except SettingsError as error:
        return str(error)
    return None


def cmd_demo(args) -> int:
    from zuora_assets.defs.demo import demo_environment, run_demo

    problems = _settings_problems(demo_environment(Path(args.home).resolve()))
    if problems:
        print(problems, file=sys.stderr)
        return 2
    sim = _start_simulator(args)
    try:
        run_demo(Path(args.home).resolve(), simulator_url=sim.base_url, days=args.days)
    finally:
        sim.stop()
    return 0


def cmd_dev(args) -> int:
    """The Dagster UI (webserver + daemon) on the embedded default, with a simulator for all runs."""
    problems = _settings_problems(os.environ)
    if problems:
        print(problems, file=sys.stderr)
        return 2
    sim = _start_simulator(args) if not os.environ.get("ZUORA_CLIENT_ID") else None
    env = dict(os.environ)
    if sim is not None:
        env["ZUORA_SIMULATOR_URL"] = sim.base_url
        print(f"EMBEDDED DEFAULT: Zuora simulator at {sim.base_url}", flush=True)
    home = Path(env.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(Path("dagster.yaml").read_text())
    try:
        return subprocess.call(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)],
            env=env,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if sim is not None:
            sim.stop()


def cmd_check(args) -> int:
    from zuora_assets.defs.connection_check import main_check
    from zuora_assets.entities import for_each_entity

    return for_each_entity(os.environ, main_check)


def cmd_iam_policy(args) -> int:
    from zuora_assets.entities import for_each_entity
    from zuora_assets.iam import main_iam_policy

    return for_each_entity(os.environ, lambda env: main_iam_policy(env, deployment=args.deployment))


def cmd_render_ecs(args) -> int:
    from zuora_assets.deployment import main_render

    return main_render(os.environ, Path(args.out))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m zuora_assets", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn, help_ in (
        ("demo", cmd_demo, "run the main job on the embedded default and show what landed"),
        ("dev", cmd_dev, "open the Dagster UI (webserver and daemon) on the embedded default"),
        ("check", cmd_check, "test the connection: Zuora, STS, S3, Glue and Athena permissions"),
        ("iam-policy", cmd_iam_policy, "print the IAM permissions and trust policies for your settings"),
        ("render-ecs", cmd_render_ecs, "write the ECS task definitions and services of a deployment on AWS"),
    ):
        s = sub.add_parser(name, help=help_)
        s.set_defaults(fn=fn)
        if name in ("demo", "dev"):
            s.add_argument("--seed", type=int, default=7, help="simulator seed")
            s.add_argument("--accounts", type=int, default=200, help="simulated tenant size")
        if name == "demo":
            s.add_argument("--days", type=int, default=7, help="how many days (partitions) to sync")
            s.add_argument("--home", default=os.environ.get("ZUORA_ATHENA_HOME", ".lake"), help="local lake folder")
        if name == "iam-policy":
            s.add_argument(
                "--deployment", action="store_true", help="also the task and execution roles of a deployment on ECS"
            )
        if name == "render-ecs":
            s.add_argument("--out", default="deploy/ecs", help="folder for the JSON documents (default deploy/ecs)")
        if name == "dev":
            s.add_argument("--host", default="127.0.0.1")
            s.add_argument("--port", type=int, default=3000)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
