"""Command line: ``python -m emulator run --opt DIR --task DIR --handler MOD.FUNC [...]``.

Runs init, one invoke per ``--event`` (default one ``{}``), then SHUTDOWN(spindown). stdout
carries only one JSON line per invoke (``requestId``, ``status``, ``response``), in the order of
the events; function and extension output goes to stderr prefixed by its source. With
``--managed-instances`` the events are dispatched concurrently, up to ``--concurrency`` at once.
Exit 0 whenever the environment ran, whatever the invokes returned; argparse reports bad
arguments with exit 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from emulator.config import DEFAULT_CONCURRENCY, DEFAULT_FUNCTION_NAME, DEFAULT_REGION, INIT_TIMEOUT_S
from emulator.environment import LambdaEnvironment


def _json_event(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected K=V, got {text!r}")
    return key, value


def _directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path.resolve()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local AWS Lambda environment.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="init, invoke once per --event, then spin down")
    run.add_argument(
        "--opt", required=True, type=_directory, help="the /opt directory (extensions/, python/)"
    )
    run.add_argument("--task", required=True, type=_directory, help="the function code directory (/var/task)")
    run.add_argument("--handler", required=True, help="handler as MODULE.FUNCTION, e.g. app.handler")
    run.add_argument("--event", action="append", type=_json_event, default=[], help="JSON event (repeatable)")
    run.add_argument("--timeout", type=float, default=3.0, help="function timeout in seconds (default 3)")
    run.add_argument("--memory", type=int, default=128, help="memory size in MB (default 128)")
    run.add_argument("--env", action="append", type=_env_pair, default=[], help="K=V function variable")
    run.add_argument("--freeze", action="store_true", help="SIGSTOP every process between invokes")
    run.add_argument("--telemetry-log", type=Path, help="write every Telemetry API event as JSON lines")
    run.add_argument("--function-name", default=DEFAULT_FUNCTION_NAME)
    run.add_argument("--region", default=DEFAULT_REGION)
    run.add_argument(
        "--init-timeout",
        type=float,
        default=INIT_TIMEOUT_S,
        help=f"init time limit in seconds (default {INIT_TIMEOUT_S:g})",
    )
    run.add_argument("--quiet", action="store_true", help="do not echo function/extension output")
    run.add_argument(
        "--cpu-share",
        action="store_true",
        help="limit the processes to the CPU share of --memory (memory/1769 of a CPU) with a cgroup quota",
    )
    run.add_argument(
        "--managed-instances",
        action="store_true",
        help="Lambda Managed Instances: concurrent invokes in one environment, SHUTDOWN-only extensions",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"invocations in flight at once with --managed-instances (default {DEFAULT_CONCURRENCY})",
    )
    return parser


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM behaves like Ctrl-C, so the environment's processes are cleaned up."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    events = args.event or [{}]
    try:
        env = LambdaEnvironment(
            opt_dir=args.opt,
            task_dir=args.task,
            handler=args.handler,
            timeout_s=args.timeout,
            memory_mb=args.memory,
            env=dict(args.env),
            freeze=args.freeze,
            telemetry_log=args.telemetry_log,
            function_name=args.function_name,
            region=args.region,
            init_timeout_s=args.init_timeout,
            echo_output=not args.quiet,
            managed_instances=args.managed_instances,
            concurrency=args.concurrency,
            cpu_share=args.cpu_share,
        )
    except ValueError as exc:
        parser.error(str(exc))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with env:
            if args.cpu_share and env.cpu_share_problem is not None:
                sys.stderr.write(f"emulator: cannot enforce the CPU share: {env.cpu_share_problem}\n")
            results = env.invoke_all(events) if args.managed_instances else map(env.invoke, events)
            for result in results:
                line = {"requestId": result.request_id, "status": result.status, "response": result.response}
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stderr.write("emulator: interrupted; the environment was shut down\n")
        return 130
    return 0
