"""The story the demo tells: which sample functions run, with which events, and how they are set up.

Each function gets its own local Lambda environment with the built layer attached and is
configured only through environment variables, as a user would configure it in AWS:
OTLP to the receiver, AWS endpoints pointing at moto and the AppConfig server (through counting
proxies), prefetch lists for the secret, parameter and feature flags.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import LambdaEnvironment
from emulator.demo import backends

SAMPLES = backends.ROOT / "sample_functions"
#: Stands for the layer's folder in a plan's environment (it is known only when the demo runs).
LAYER_PLACEHOLDER = "{layer}"
PROBE_SOURCE = Path(__file__).with_name("probe.py")
PROBE_MODULE = "demo_cache_probe"
MARKER = "demo-cache-read"  # the line prefix probe.py prints (that module is never imported here)


@dataclass(frozen=True)
class Step:
    what: str  # what this invocation shows, e.g. "warm invoke"
    event: Mapping[str, Any]
    expect: str = "success"  # the status the invoker should get


@dataclass(frozen=True)
class FunctionPlan:
    name: str  # the Lambda function name (and OTel service.name)
    sample: str  # folder under sample_functions/
    story: str
    steps: tuple[Step, ...]
    timeout_s: float = 3.0
    env: Mapping[str, str] = field(default_factory=dict)
    probe: bool = False  # wrap the handler to report cache reads (X-Cache)


@dataclass(frozen=True)
class CacheRead:
    request_id: str | None  # None: read during init (cold start)
    pid: int  # the runtime process: tells which cold start an init-time read belongs to
    kind: str  # "secret" | "parameter" | "appconfig" | other path
    name: str
    status: int
    x_cache: str
    age: str
    ms: float


@dataclass(frozen=True)
class Invocation:
    function: str
    index: int  # 1-based within the function
    what: str
    request_id: str
    status: str  # what the invoker got: success | error | timeout
    duration_ms: float
    error_type: str | None
    response: Any
    expected: str


@dataclass
class FunctionRun:
    plan: FunctionPlan
    invocations: list[Invocation] = field(default_factory=list)
    cache_reads: list[CacheRead] = field(default_factory=list)
    output_lines: list[tuple[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def plans(quick: bool) -> list[FunctionPlan]:
    """Full run: ~4 environments, 10 invokes. Quick (for the test): the same paths, fewer invokes."""
    app, env_name, profile = backends.APPCONFIG
    secrets_env = {
        "SECRET_ID": backends.SECRET_NAME,
        "PARAMETER_NAME": backends.PARAMETER_NAME,
        "APPCONFIG_APPLICATION": app,
        "APPCONFIG_ENVIRONMENT": env_name,
        "APPCONFIG_PROFILE": profile,
        "FEATURE_FLAG": backends.FEATURE_FLAG,
        "SIDECAR_PREFETCH": f"sm:{backends.SECRET_NAME},ssm:{backends.PARAMETER_NAME}",
        "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST": f"{app}:{env_name}:{profile}",
    }
    warm = 1 if quick else 3
    # Re-init after a timeout reset runs inside the next invoke and counts against its timeout
    # (extension + runtime init take ~0.5-1 s here): the full story needs room for it.
    timeout_s = 1.0 if quick else 2.0
    out = [
        FunctionPlan(
            name="orders-api",
            sample="secrets_urllib",
            story="reads a secret, a parameter and a feature flag from the local cache, at init and per call",
            steps=(Step("cold start", {}), *(Step("warm invoke", {}) for _ in range(warm))),
            env=secrets_env,
            probe=True,
        ),
    ]
    if not quick:
        out.append(
            FunctionPlan(
                name="orders-audit",
                sample="logging_text_json",
                story="logs at every level with Lambda's JSON log format, plus print, stderr and a traceback",
                steps=(Step("cold start, JSON logs", {"order_id": "o-1001"}),),
                env={"AWS_LAMBDA_LOG_FORMAT": "JSON"},
            )
        )
    out.append(
        FunctionPlan(
            name="orders-instrumented",
            sample="instrumented",
            story=(
                "instrumented with the OpenTelemetry SDK (a span per step, a counter, a log record), "
                "exporting to the extension's receiver through the layer's wrapper: its spans nest "
                "under the invocation span"
            ),
            steps=(
                Step("cold start", {"order": "o-1"}),
                *(Step("warm invoke", {"order": "o-2"}) for _ in range(warm)),
            ),
            env={
                "AWS_LAMBDA_EXEC_WRAPPER": LAYER_PLACEHOLDER + "/lambda-sidecar/instrument",
                "SIDECAR_RECEIVER_HTTP_PORT": str(backends.free_port()),
            },
        )
    )
    out.append(
        FunctionPlan(
            name="payments",
            sample="errors",
            story="raises: a plain error, then a chained domain error",
            steps=(Step("raises ValueError", {"message": "card declined"}, "error"),)
            + (() if quick else (Step("raises a chained error", {"kind": "chained"}, "error"),)),
        )
    )
    out.append(
        FunctionPlan(
            name="nightly-report",
            sample="timeout",
            story=f"sleeps past its {timeout_s:g} s timeout: the environment is reset, next call cold-starts",
            timeout_s=timeout_s,
            steps=(Step("sleeps past the timeout", {}, "timeout"),)
            + (() if quick else (Step("cold start after the reset", {"sleep_s": 0.05}),)),
        )
    )
    return out


def _task_dir(plan: FunctionPlan, work: Path) -> tuple[Path, str]:
    """The folder the runtime runs: the sample itself, or a copy with the cache probe added."""
    source = SAMPLES / plan.sample
    if not plan.probe:
        return source, "app.handler"
    task = work / "tasks" / plan.name
    if task.exists():
        shutil.rmtree(task)
    shutil.copytree(source, task, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(PROBE_SOURCE, task / f"{PROBE_MODULE}.py")
    return task, f"{PROBE_MODULE}.handler"


def parse_cache_reads(lines: list[tuple[str, str]]) -> list[CacheRead]:
    """The probe's `demo-cache-read {json}` lines from the function's captured output."""
    reads: list[CacheRead] = []
    for source, line in lines:
        if source != "function" or not line.startswith(MARKER + " "):
            continue
        try:
            rec = json.loads(line[len(MARKER) + 1 :])
        except ValueError:
            continue
        path, query = str(rec.get("path", "")), rec.get("query") or {}
        if path.startswith("/secretsmanager/") or path.startswith("/v1/"):
            kind, name = "secret", str(query.get("secretId") or path.removeprefix("/v1/"))
        elif path.startswith("/systemsmanager/"):
            kind, name = "parameter", str(query.get("name", ""))
        elif path.startswith("/applications/"):
            parts = path.strip("/").split("/")
            kind, name = "appconfig", "/".join(parts[1::2])
            if query.get("flag"):
                name += f"?flag={query['flag']}"
        else:
            kind, name = "other", path
        reads.append(
            CacheRead(
                request_id=rec.get("requestId"),
                pid=int(rec.get("pid", 0)),
                kind=kind,
                name=name,
                status=int(rec.get("status", 0)),
                x_cache=str(rec.get("xCache") or "-"),
                age=str(rec.get("age") or "-"),
                ms=float(rec.get("ms", 0.0)),
            )
        )
    return reads


def run_function(
    plan: FunctionPlan,
    *,
    layer: Path,
    work: Path,
    base_env: Mapping[str, str],
    echo: bool | Callable[[str, str], None],
    on_invoke: Callable[[Invocation], None] | None = None,
) -> FunctionRun:
    """Cold start, the plan's invokes, then SHUTDOWN(spindown) so the extension flushes."""
    task, handler = _task_dir(plan, work)
    run = FunctionRun(plan)
    with LambdaEnvironment(
        layer,
        task,
        handler,
        timeout_s=plan.timeout_s,
        env={
            **base_env,
            **{k: v.replace(LAYER_PLACEHOLDER, str(layer.resolve())) for k, v in plan.env.items()},
        },
        freeze=True,
        function_name=plan.name,
        echo_output=echo,
    ) as lam:
        for index, step in enumerate(plan.steps, 1):
            result = lam.invoke(dict(step.event))
            inv = Invocation(
                plan.name,
                index,
                step.what,
                result.request_id,
                result.status,
                result.duration_ms,
                result.error_type,
                result.response,
                step.expect,
            )
            run.invocations.append(inv)
            if on_invoke is not None:
                on_invoke(inv)
        lam.spindown()
        run.output_lines = list(lam.output_lines)
        run.events = list(lam.events)
    run.cache_reads = parse_cache_reads(run.output_lines)
    return run
