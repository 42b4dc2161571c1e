"""The configuration of one emulated function (what Lambda would read from the function's settings).

Frozen and validated once; everything else in the emulator reads it, nothing writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FUNCTION_NAME = "sample-function"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
INIT_TIMEOUT_S = 10.0
"""On-demand init limit (extension + runtime + function init together)."""
SHUTDOWN_BUDGET_S = 2.0
"""Total shutdown budget with at least one external extension."""
RUNTIME_SHUTDOWN_S = 0.3
"""Part of the shutdown budget the runtime gets between SIGTERM and SIGKILL."""
MAX_EXTENSIONS = 10
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
"""Buffered response limit (RIE's constant: 6 MiB + 100 B)."""
DEFAULT_CONCURRENCY = 4
"""Invocations in flight at once per environment in Managed Instances mode (``--concurrency``)."""


@dataclass(frozen=True)
class FunctionConfig:
    """Settings of the emulated function and of the emulator itself."""

    opt_dir: Path
    task_dir: Path
    handler: str
    timeout_s: float = 3.0
    memory_mb: int = 128
    env: dict[str, str] = field(default_factory=dict)
    freeze: bool = False
    telemetry_log: Path | None = None
    function_name: str = DEFAULT_FUNCTION_NAME
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    init_timeout_s: float = INIT_TIMEOUT_S
    subscriber_cap_bytes: int | None = None
    """Pending bytes per subscriber before records are dropped (default: 4 x its maxBytes)."""
    telemetry_api_supported: bool = True
    """False: every Telemetry API subscription is answered 202 ``Telemetry.NotSupported`` (as AWS's
    RIE does), so an extension's behaviour without telemetry can be tested."""
    telemetry_api_refusal: int | None = None
    """An HTTP status (e.g. 400, 403, 500): every Telemetry API subscription is refused with it."""
    extension_events: tuple[str, ...] = ("INVOKE", "SHUTDOWN")
    """Events an external extension may register for; others get 403 ``Extension.InvalidEventType``
    (Lambda Managed Instances allows ``("SHUTDOWN",)`` only)."""
    register_refusals: tuple[int, ...] = ()
    """A test switch: HTTP statuses answered to the first register calls, one per call, in order."""
    managed_instances: bool = False
    """Lambda Managed Instances mode: ``concurrency`` invocations at once in one environment,
    SHUTDOWN-only extensions, Telemetry API schema 2025-01-29 only, no Logs API, no freeze.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances.html"""
    concurrency: int = DEFAULT_CONCURRENCY
    """``AWS_LAMBDA_MAX_CONCURRENCY`` in Managed Instances mode (ignored otherwise)."""
    cpu_share: bool = False
    """Limit the environment's processes to the CPU share of ``memory_mb`` (``memory_mb / 1769`` of
    a CPU, as Lambda allocates it) with a cgroup quota, where this machine allows it."""

    def __post_init__(self) -> None:
        problems = []
        if "." not in self.handler:
            problems.append(f"handler {self.handler!r} must look like MODULE.FUNCTION")
        if not 0 < self.timeout_s <= 900:
            problems.append(f"timeout {self.timeout_s} s is outside 1..900 s")
        if not 128 <= self.memory_mb <= 10240:
            problems.append(f"memory {self.memory_mb} MB is outside 128..10240 MB")
        if not self.task_dir.is_dir():
            problems.append(f"task dir {self.task_dir} does not exist")
        if self.init_timeout_s <= 0:
            problems.append("init timeout must be positive")
        if self.telemetry_log is not None and not self.telemetry_log.parent.is_dir():
            problems.append(f"telemetry log folder {self.telemetry_log.parent} does not exist")
        if self.managed_instances and not 1 <= self.concurrency <= 64:
            problems.append(f"concurrency {self.concurrency} is outside 1..64")
        if self.managed_instances and self.freeze:
            problems.append(
                "Managed Instances do not freeze: --freeze and --managed-instances exclude each other"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def runtime_workers(self) -> int:
        """How many runtime workers poll ``/next`` (one per concurrency slot on Managed Instances)."""
        return self.concurrency if self.managed_instances else 1

    @property
    def initialization_type(self) -> str:
        """``AWS_LAMBDA_INITIALIZATION_TYPE`` and ``initializationType`` of the init events."""
        return "lambda-managed-instances" if self.managed_instances else "on-demand"

    @property
    def log_format_json(self) -> bool:
        """Whether the function uses the JSON log format (``AWS_LAMBDA_LOG_FORMAT=JSON``).

        JSON is the default on Managed Instances; elsewhere the default is text.
        """
        default = "JSON" if self.managed_instances else "Text"
        return self.env.get("AWS_LAMBDA_LOG_FORMAT", default).upper() == "JSON"
