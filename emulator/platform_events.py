"""Builders for the ``platform.*`` records, kept apart from the state machine.

Each function takes the measured facts and returns the record dict exactly as the Telemetry
API delivers it (schema 2022-12-13 / 2025-01-29 field names).
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html
"""

from __future__ import annotations

import math
import sys
from typing import Any

from emulator import clock
from emulator.config import FunctionConfig
from emulator.model import Agent, Invocation


def init_start(config: FunctionConfig, phase: str, instance_id: str) -> dict[str, Any]:
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return {
        "initializationType": config.initialization_type,
        "phase": phase,
        "runtimeVersion": f"python:{pyver}.emulator",
        "runtimeVersionArn": f"arn:aws:lambda:{config.region}::runtime:emulator-python{pyver}",
        "functionName": config.function_name,
        "functionVersion": "$LATEST",
        "instanceId": instance_id,
        "instanceMaxMemory": config.memory_mb * 1024 * 1024,
    }


def _status(record: dict[str, Any], status: str, error_type: str | None) -> dict[str, Any]:
    record["status"] = status
    if error_type and status != "success":
        record["errorType"] = error_type
    return record


def init_runtime_done(
    config: FunctionConfig, phase: str, status: str, error_type: str | None
) -> dict[str, Any]:
    return _status({"initializationType": config.initialization_type, "phase": phase}, status, error_type)


def init_report(
    config: FunctionConfig, phase: str, status: str, error_type: str | None, duration_ms: float
) -> dict[str, Any]:
    record = _status({"initializationType": config.initialization_type, "phase": phase}, status, error_type)
    record["metrics"] = {"durationMs": duration_ms}
    return record


def extension(agent: Agent) -> dict[str, Any]:
    record: dict[str, Any] = {"name": agent.name, "state": str(agent.state), "events": list(agent.events)}
    if agent.error_type:
        record["errorType"] = agent.error_type
    return record


def start(invocation: Invocation) -> dict[str, Any]:
    return {
        "requestId": invocation.request_id,
        "version": "$LATEST",
        "tracing": invocation.trace.telemetry_field(),
    }


def _span(name: str, start: tuple[float, float], end_mono: float) -> dict[str, Any]:
    return {"name": name, "start": clock.iso(start[1]), "durationMs": clock.ms(max(0.0, end_mono - start[0]))}


def runtime_done(
    invocation: Invocation, status: str, error_type: str | None, done: tuple[float, float]
) -> dict[str, Any]:
    """``platform.runtimeDone`` with responseLatency/responseDuration/runtimeOverhead spans."""
    dispatched = (
        invocation.dispatched_mono or invocation.start_mono,
        invocation.dispatched_wall or invocation.start_wall,
    )
    record = _status({"requestId": invocation.request_id}, status, error_type)
    record["metrics"] = {
        "durationMs": clock.ms(max(0.0, done[0] - dispatched[0])),
        "producedBytes": invocation.produced_bytes,
    }
    spans = []
    if invocation.response_start is not None and invocation.response_end is not None:
        spans = [
            _span("responseLatency", dispatched, invocation.response_start[0]),
            _span("responseDuration", invocation.response_start, invocation.response_end[0]),
            _span("runtimeOverhead", invocation.response_end, done[0]),
        ]
    record["spans"] = spans
    record["tracing"] = invocation.trace.telemetry_field()
    return record


def report(
    invocation: Invocation,
    config: FunctionConfig,
    *,
    status: str,
    error_type: str | None,
    end_mono: float,
    max_memory_mb: int,
    init_duration_ms: float | None,
    extension_overhead: tuple[tuple[float, float], float] | None,
) -> dict[str, Any]:
    """``platform.report``: whole invoke phase, billed time, memory, extension overhead."""
    duration = clock.ms(max(0.0, end_mono - invocation.start_mono))
    billed = duration + (init_duration_ms or 0.0)
    metrics: dict[str, Any] = {
        "durationMs": duration,
        "billedDurationMs": max(1, math.ceil(billed)),
        "memorySizeMB": config.memory_mb,
        "maxMemoryUsedMB": max_memory_mb,
    }
    if init_duration_ms is not None:
        metrics["initDurationMs"] = init_duration_ms
    record = _status({"requestId": invocation.request_id}, status, error_type)
    record["metrics"] = metrics
    if extension_overhead is not None:
        (start_mono, start_wall), end = extension_overhead
        record["spans"] = [_span("extensionOverhead", (start_mono, start_wall), end)]
    record["tracing"] = invocation.trace.telemetry_field()
    return record


def concurrent_report(
    invocation: Invocation, *, status: str, error_type: str | None, end_mono: float
) -> dict[str, Any]:
    """``platform.report`` on Managed Instances: ``durationMs`` only, with the response spans.

    There is no ``platform.runtimeDone`` there, so ``responseLatency`` and ``responseDuration``
    move to the report; billing and memory metrics are not per invocation any more.
    """
    record = _status({"requestId": invocation.request_id}, status, error_type)
    record["metrics"] = {"durationMs": clock.ms(max(0.0, end_mono - invocation.start_mono))}
    dispatched = (
        invocation.dispatched_mono or invocation.start_mono,
        invocation.dispatched_wall or invocation.start_wall,
    )
    if invocation.response_start is not None and invocation.response_end is not None:
        record["spans"] = [
            _span("responseLatency", dispatched, invocation.response_start[0]),
            _span("responseDuration", invocation.response_start, invocation.response_end[0]),
        ]
    record["tracing"] = invocation.trace.telemetry_field()
    return record
