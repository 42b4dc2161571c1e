"""The handler lambda-sidecar's `instrument` wrapper puts in front of the function's own.

It imports the original handler (`SIDECAR_ORIGINAL_HANDLER`, the `_HANDLER` Lambda was given)
at init, as the runtime would, calls it for each invoke and then flushes the OpenTelemetry SDK's
global tracer, meter and logger providers: their batch processors keep records in this process,
where a freeze after the invoke could hold them for hours (or lose them at shutdown). The flush
goes to the extension's OTLP receiver on 127.0.0.1, which answers as soon as the records are
queued. Nothing here may fail the invoke: a flush problem is printed once and ignored.

Runs in the function's process with the function's own packages (standard library only here;
OpenTelemetry is used only when the function itself imported it).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

#: Milliseconds each provider's flush may take (the receiver is local: it normally takes ~1 ms).
FLUSH_TIMEOUT_MS = int(os.environ.get("SIDECAR_FLUSH_TIMEOUT_MS", "1000") or 1000)
_warned = False


def _load(spec: str) -> Any:
    """The function `spec` names, in the runtime's format: `path/to/module.function`."""
    module_path, _, name = spec.rpartition(".")
    if not module_path or not name:
        raise ValueError(f"SIDECAR_ORIGINAL_HANDLER={spec!r} is not module.function")
    module = importlib.import_module(module_path.replace("/", "."))
    return getattr(module, name)


_original = _load(os.environ.get("SIDECAR_ORIGINAL_HANDLER", ""))


def _providers() -> list[Any]:
    """The SDK's global providers, if the function set any (never imports OpenTelemetry itself)."""
    found = []
    trace = sys.modules.get("opentelemetry.trace")
    if trace is not None:
        found.append(trace.get_tracer_provider())
    metrics = sys.modules.get("opentelemetry.metrics")
    if metrics is not None:
        found.append(metrics.get_meter_provider())
    logs = sys.modules.get("opentelemetry._logs")
    if logs is not None:
        found.append(logs.get_logger_provider())
    return found


def flush() -> None:
    global _warned
    for provider in _providers():
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is None:  # the API's no-op providers: the SDK is not set up
            continue
        try:
            force_flush(FLUSH_TIMEOUT_MS)
        except Exception as exc:  # never fail the invoke over telemetry
            if not _warned:
                _warned = True
                print(
                    f"[lambda-sidecar] flushing OpenTelemetry failed: {type(exc).__name__}", file=sys.stderr
                )


def handler(event: Any, context: Any) -> Any:
    try:
        return _original(event, context)
    finally:
        flush()
