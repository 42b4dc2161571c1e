"""Shared pieces of the end-to-end tests: the built layer in the emulator, against real receivers."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emulator.backends.otlp_receivers import attrs, unused_port

HANDLER = """
import json, logging, os, time
logging.getLogger().setLevel(logging.INFO)
log = logging.getLogger("app")

def handler(event, context):
    n = event.get("n", 0)
    print(f"hello {n} from {context.aws_request_id}")
    log.info("structured line %s", json.dumps({"n": n}))
    if event.get("fail"):
        raise ValueError(f"boom {n}")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(3)
    return {"n": n}
"""


def make_task(tmp_path: Path, code: str = HANDLER) -> Path:
    task = tmp_path / "task"
    task.mkdir(exist_ok=True)
    (task / "app.py").write_text(textwrap.dedent(code))
    return task


def sidecar_env(endpoint: str | None, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for the extension: OTLP to the receiver, cache on free ports, end-of-invoke flush."""
    env = {
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(unused_port()),
        "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(unused_port()),
        # tests run side by side: each environment's OTLP receiver on a port of its own
        "SIDECAR_RECEIVER_HTTP_PORT": str(unused_port()),
        "SIDECAR_RECEIVER_GRPC_PORT": str(unused_port()),
        "SIDECAR_FLUSH_POLICY": "end",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
    }
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env.update(extra)
    return env


def span_attrs(span: Any) -> dict[str, Any]:
    return attrs(span.attributes)


def invocation_spans(spans: Iterable[Any]) -> dict[str, Any]:
    """requestId -> invocation span (the SERVER span carrying faas.invocation_id)."""
    out = {}
    for span in spans:
        a = span_attrs(span)
        if span.kind == 2 and "faas.invocation_id" in a:
            out[a["faas.invocation_id"]] = span
    return out


def metric_points(metrics: Iterable[Any], name: str) -> list[Any]:
    points: list[Any] = []
    for m in metrics:
        if m.name != name:
            continue
        for kind in ("sum", "histogram", "gauge"):
            if m.HasField(kind):
                points.extend(getattr(m, kind).data_points)
    return points


def metric_total(metrics: Iterable[Any], name: str) -> float:
    """Sum of counter values (or histogram counts) over every delta export."""
    total = 0.0
    for p in metric_points(metrics, name):
        total += p.count if hasattr(p, "bucket_counts") else (p.as_double or p.as_int)
    return total


def log_bodies(logs: Iterable[Any]) -> list[str]:
    return [r.body.string_value for r in logs if r.body.HasField("string_value")]


def xray_trace_id(header: str) -> str:
    root = dict(part.split("=", 1) for part in header.split(";"))["Root"]
    _, epoch, rest = root.split("-")
    return epoch + rest


def dump(obj: Any) -> str:
    return json.dumps(obj, default=str)[:2000]
