"""The demo's pure parts: OTLP decoding, joining runs with telemetry, the two renderers.

The telemetry here is built as real OTLP protobuf and goes through the same MessageToDict path
the demo uses, so a change in the decoding shape breaks these tests, not the demo at run time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from emulator.demo import report_html, summary, terminal
from emulator.demo.otlp import save_and_parse
from emulator.demo.scenario import (
    MARKER,
    PROBE_SOURCE,
    CacheRead,
    FunctionPlan,
    FunctionRun,
    Invocation,
    Step,
    parse_cache_reads,
)

FN = "orders-api"
T0 = 1_800_000_000_000_000_000  # ns
MS = 1_000_000
INIT_TRACE, INIT_SPAN = "11" * 16, "a1" * 8
TRACE1, SPAN1 = "22" * 16, "b1" * 8
TRACE2, SPAN2 = "33" * 16, "b2" * 8


def _kv(key: str, value: Any) -> common_pb2.KeyValue:
    kv = common_pb2.KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = value
    return kv


def _resource() -> resource_pb2.Resource:
    return resource_pb2.Resource(attributes=[_kv("service.name", FN), _kv("faas.name", FN)])


def _span(
    trace: str,
    span: str,
    parent: str,
    name: str,
    start_ms: float,
    dur_ms: float,
    attrs: dict[str, Any] | None = None,
) -> Any:
    return trace_pb2.Span(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span),
        parent_span_id=bytes.fromhex(parent),
        name=name,
        start_time_unix_nano=T0 + int(start_ms * MS),
        end_time_unix_nano=T0 + int((start_ms + dur_ms) * MS),
        attributes=[_kv(k, v) for k, v in (attrs or {}).items()],
    )


def _traces() -> Any:
    init = _span(INIT_TRACE, INIT_SPAN, "", f"init {FN}", 0, 800.0)
    inv1 = _span(
        TRACE1,
        SPAN1,
        "",
        f"invoke {FN}",
        1000,
        40.0,
        {"faas.coldstart": True, "faas.max_memory": 128 * 1024 * 1024},
    )
    inv1.attributes.extend(
        [
            _kv("faas.invocation_id", "req-1"),
            _kv("aws.lambda.billed_duration_ms", 840),
            _kv("aws.lambda.init_duration_ms", 800.0),
            _kv("aws.lambda.max_memory_used_mb", 60),
        ]
    )
    inv1.links.add(trace_id=bytes.fromhex(INIT_TRACE), span_id=bytes.fromhex(INIT_SPAN))
    children = [
        _span(TRACE1, "c1" * 8, SPAN1, "extensionOverhead", 1020, 20.0),  # out of order on purpose
        _span(TRACE1, "c2" * 8, SPAN1, "responseLatency", 1000, 10.0),
        _span(TRACE1, "c3" * 8, SPAN1, "responseDuration", 1010, 0.1),
    ]
    inv2 = _span(TRACE2, SPAN2, "", f"invoke {FN}", 2000, 10.0, {"faas.coldstart": False})
    inv2.attributes.append(_kv("faas.invocation_id", "req-2"))
    inv2.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    request = trace_service_pb2.ExportTraceServiceRequest()
    rs = request.resource_spans.add(resource=_resource())
    rs.scope_spans.add().spans.extend([init, inv1, *children, inv2])
    return request


def _log(trace: str, body: str, severity: str, invocation: str | None = None) -> Any:
    record = logs_pb2.LogRecord(
        time_unix_nano=T0,
        severity_text=severity,
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex("00" * 8),
    )
    record.body.string_value = body
    if invocation:
        record.attributes.append(_kv("faas.invocation_id", invocation))
    return record


def _logs() -> Any:
    request = logs_service_pb2.ExportLogsServiceRequest()
    rl = request.resource_logs.add(resource=_resource())
    rl.scope_logs.add().log_records.extend(
        [
            _log(INIT_TRACE, "cold start: loaded", "INFO"),
            _log(TRACE1, "handling <script>alert(1)</script>", "INFO", "req-1"),
            _log(TRACE1, f'{MARKER} {{"path": "/secretsmanager/get"}}', "INFO", "req-1"),
            _log(TRACE2, "Traceback (most recent call last):\n  File x\nValueError: boom", "ERROR", "req-2"),
        ]
    )
    return request


def _metrics() -> Any:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    sm = request.resource_metrics.add(resource=_resource()).scope_metrics.add()
    for name, value, attrs in (
        ("faas.invocations", 2.0, {}),
        ("faas.coldstarts", 1.0, {}),
        ("faas.errors", 1.0, {"error.type": "Runtime.Unknown"}),
    ):
        m = sm.metrics.add(name=name)
        m.sum.data_points.add(as_double=value, attributes=[_kv(k, v) for k, v in attrs.items()])
    h = sm.metrics.add(name="aws.lambda.extension_overhead", unit="ms")
    h.histogram.data_points.add(count=2, sum=30.0, max=20.0)
    mem = sm.metrics.add(name="faas.mem_usage", unit="By")
    mem.histogram.data_points.add(count=1, sum=60.0 * 1024 * 1024, max=60.0 * 1024 * 1024)
    return request


def _run() -> FunctionRun:
    plan = FunctionPlan(
        FN, "secrets_urllib", "reads things", (Step("cold start", {}), Step("fails", {}, "error"))
    )
    run = FunctionRun(plan)
    run.invocations = [
        Invocation(FN, 1, "cold start", "req-1", "success", 12.0, None, {"ok": True}, "success"),
        Invocation(
            FN, 2, "fails", "req-2", "error", 3.0, "Runtime.Unknown", {"errorType": "ValueError"}, "error"
        ),
    ]
    run.cache_reads = [
        CacheRead(None, 100, "secret", "demo/db", 200, "miss", "0", 5.0),
        CacheRead("req-1", 100, "secret", "demo/db", 200, "hit", "0", 0.5),
        CacheRead(None, 200, "secret", "demo/db", 200, "hit", "1", 0.4),  # another cold start's init
    ]
    return run


def _summary(tmp_path: Path) -> summary.Summary:
    received = [("traces", _traces()), ("logs", _logs()), ("metrics", _metrics())]
    telemetry = save_and_parse(received, tmp_path / "otlp")
    return summary.build([_run()], telemetry, {"secretsmanager.GetSecretValue": 1})


def test_every_request_is_written_as_otlp_json_and_earlier_files_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "otlp"
    out.mkdir()
    (out / "999-traces.json").write_text("{}")
    telemetry = save_and_parse([("traces", _traces()), ("logs", _logs())], out)
    assert sorted(p.name for p in out.iterdir()) == ["001-traces.json", "002-logs.json"]
    doc = json.loads((out / "001-traces.json").read_text())
    assert doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == f"init {FN}"
    assert {s.span_id for s in telemetry.spans} >= {INIT_SPAN, SPAN1, SPAN2}
    inv1 = next(s for s in telemetry.spans if s.span_id == SPAN1)
    assert inv1.links == ((INIT_TRACE, INIT_SPAN),)
    assert inv1.attributes["aws.lambda.billed_duration_ms"] == 840  # int64 strings decoded
    assert inv1.duration_ms == 40.0


def test_invocation_view_joins_spans_logs_and_cache_reads(tmp_path: Path) -> None:
    result = _summary(tmp_path)
    first, second = result.functions[0].invocations
    assert first.span_found and first.cold and first.trace_id == TRACE1
    assert first.init is not None and first.init.duration_ms == 800.0
    assert [(b.label, b.depth) for b in first.bars] == [
        (f"invoke {FN}", 0),
        ("responseLatency", 1),
        ("responseDuration", 1),
        ("extensionOverhead", 1),
    ]
    assert [b.offset_ms for b in first.bars] == [0.0, 0.0, 10.0, 20.0]
    assert first.billed_ms == 840 and first.memory_used_mb == 60 and first.memory_mb == 128
    assert first.response_ms == 12.0 and first.duration_ms == 40.0
    assert [(log.phase, log.message) for log in first.logs] == [
        ("init", "cold start: loaded"),
        ("invoke", "handling <script>alert(1)</script>"),
    ]
    assert first.hidden_probe_logs == 1
    # the init read of pid 100 precedes req-1's own read; pid 200's init read is not req-1's
    assert [(r.request_id, r.x_cache) for r in first.cache_reads] == [(None, "miss"), ("req-1", "hit")]
    assert not second.cold and second.init is None
    assert second.error_type == "ValueError"  # the function's type, not the platform's Runtime.Unknown
    assert second.bars[0].error
    assert second.logs[0].severity == "ERROR" and second.logs[0].extra_lines == 2
    assert "ValueError: boom" in second.logs[0].rest


def test_missing_spans_are_reported_not_invented(tmp_path: Path) -> None:
    run = _run()
    run.invocations.append(Invocation(FN, 3, "lost", "req-3", "success", 1.0, None, None, "success"))
    telemetry = save_and_parse([("traces", _traces())], tmp_path / "otlp")
    result = summary.build([run], telemetry, {})
    lost = result.functions[0].invocations[2]
    assert not lost.span_found and lost.bars == () and lost.duration_ms == 1.0
    assert any("req-3" in note for note in result.notes)


def test_metric_table_sums_points_per_function_and_overall(tmp_path: Path) -> None:
    rows = {r.label: r.values for r in _summary(tmp_path).metric_rows}
    assert rows["invocations"] == ("2", "2")
    assert rows["cold starts"] == ("1", "1")
    assert rows["errors (by type)"] == ("Runtime.Unknown 1", "Runtime.Unknown 1")
    assert rows["extension overhead avg / max"][0] == "15.0 ms / 20.0 ms"
    assert rows["memory used avg / max"][0] == "60 / 60 MiB"
    assert rows["timeouts"] == ("0", "0")


def test_bar_positions_and_keeps_tiny_spans_visible() -> None:
    assert terminal.bar(0, 100, 100, 10) == "█" * 10
    assert terminal.bar(50, 50, 100, 10) == " " * 5 + "█" * 5
    assert terminal.bar(0, 25, 100, 10) == "██▌" + " " * 7
    tiny = terminal.bar(30, 0.001, 100, 10)
    assert tiny.strip() == "▏" and tiny.index("▏") == 3
    assert len(terminal.bar(99, 50, 100, 10)) == 10  # clipped at the edge
    assert terminal.bar(0, 10, 0, 4) == "    "


def test_terminal_summary_has_every_section_and_colour_only_when_asked(tmp_path: Path) -> None:
    result = _summary(tmp_path)
    plain = terminal.render(result, colour=False, footer=["HTML report: x"])
    assert "\x1b[" not in plain
    for part in ("Invocations", "Traces", "Lambda metrics", "Cache", "responseLatency", "extensionOverhead"):
        assert part in plain
    assert re.search(r"init orders-api +800 ms │█+│", plain)
    assert "ValueError" in plain and "X-Cache miss" in plain and "HTML report: x" in plain
    assert TRACE1[-8:] in plain  # logs show the trace id
    assert "\x1b[" in terminal.render(result, colour=True)


def test_html_report_is_self_contained_and_escapes_function_output(tmp_path: Path) -> None:
    result = _summary(tmp_path)
    page = report_html.render(result, title="t", intro=["i"], report_path=tmp_path / "report.html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"(src|href)=\"https?://", page) and "<link" not in page
    assert 'href="otlp/001-traces.json"' in page
    assert page.count('class="b"') == 1 + 4 + 1  # init, invoke + 3 children, second invoke
    assert "<details>" in page and "ValueError: boom" in page


def test_cache_reads_are_parsed_from_the_probe_lines() -> None:
    lines = [
        (
            "function",
            f'{MARKER} {{"requestId": null, "pid": 7, "path": "/secretsmanager/get", '
            '"query": {"secretId": "demo/db"}, "status": 200, "xCache": "miss", "age": "0", "ms": 3.5}',
        ),
        (
            "function",
            f'{MARKER} {{"requestId": "r1", "pid": 7, "path": "/applications/a/environments/e/'
            'configurations/p", "query": {"flag": "f"}, "status": 200, "xCache": "hit", "age": "2", "ms": 0.4}',
        ),
        (
            "function",
            f'{MARKER} {{"requestId": "r1", "pid": 7, "path": "/systemsmanager/parameters/get", '
            '"query": {"name": "/p"}, "status": 404, "xCache": null, "age": null, "ms": 1}',
        ),
        ("lambda-sidecar", f"{MARKER} not from the function"),
        ("function", f"{MARKER} not json"),
    ]
    reads = parse_cache_reads(lines)
    assert [(r.kind, r.name, r.x_cache, r.request_id) for r in reads] == [
        ("secret", "demo/db", "miss", None),
        ("appconfig", "a/e/p?flag=f", "hit", "r1"),
        ("parameter", "/p", "-", "r1"),
    ]


def test_the_probe_prints_the_marker_the_demo_parses() -> None:
    # The probe is never imported by the demo (it patches http.client): compare the source.
    assert f'MARKER = "{MARKER}"' in PROBE_SOURCE.read_text()
