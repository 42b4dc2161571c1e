"""stdout exporter: CloudWatch EMF validity, limits, our self-marker on every line, one write."""

from __future__ import annotations

import io
import json
from typing import Any

from extension.exporters.stdout import StdoutExporter, cloudwatch_unit, emf_lines
from extension.log import SELF_JSON_KEY, is_self_line
from extension.signals import MetricKind, Signals
from tests.exporters import samples

CW_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def assert_valid_emf(obj: dict[str, Any]) -> None:
    """The CloudWatch EMF specification's structural rules."""
    aws = obj["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 0
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for d in directives:
        assert isinstance(d["Namespace"], str) and 0 < len(d["Namespace"]) <= 1024
        for dim_set in d["Dimensions"]:
            assert isinstance(dim_set, list) and len(dim_set) <= 30
            for key in dim_set:
                assert isinstance(obj[key], str), f"dimension {key} must be a top-level string"
        assert 0 < len(d["Metrics"]) <= 100
        for m in d["Metrics"]:
            assert 0 < len(m["Name"]) <= 255
            assert m.get("Unit", "None") in CW_UNITS
            value = obj[m["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 0 < len(values) <= 100
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def parse(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def values_of(objs: list[dict[str, Any]], name: str) -> list[float]:
    out: list[float] = []
    for o in objs:
        if name in o:
            v = o[name]
            out.extend(v if isinstance(v, list) else [v])
    return out


def test_lines_are_valid_emf_with_function_dimension() -> None:
    m = samples.measurement
    measurements = [
        m("faas.duration", 12.5, MetricKind.HISTOGRAM, "ms", t=1, **{"faas.trigger": "http"}),
        m("faas.duration", 30.0, MetricKind.HISTOGRAM, "ms", t=2, **{"faas.trigger": "http"}),
        m("faas.invocations", 1, MetricKind.COUNTER, "{invocation}", t=2, **{"faas.trigger": "http"}),
        m("faas.mem_usage", 70, MetricKind.GAUGE, "MBy", t=2),
    ]
    objs = parse(emf_lines(measurements, samples.RESOURCE, "LambdaSidecar"))
    for o in objs:
        assert_valid_emf(o)
        assert o[SELF_JSON_KEY]
        assert o["faas.name"] == "my-function"
        assert o["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LambdaSidecar"
        assert ["faas.name"] in o["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert sorted(values_of(objs, "faas.duration")) == [12.5, 30.0]
    assert values_of(objs, "faas.invocations") == [1]
    http = next(o for o in objs if "faas.duration" in o)
    assert http["faas.trigger"] == "http"
    assert ["faas.name", "faas.trigger"] in http["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert http["_aws"]["Timestamp"] == (samples.T0 + 2) // 1_000_000
    units = {m["Name"]: m["Unit"] for o in objs for m in o["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {
        "faas.duration": "Milliseconds",
        "faas.invocations": "Count",
        "faas.mem_usage": "Megabytes",
    }


def test_limits_100_metrics_per_line_and_100_values_per_metric() -> None:
    m = samples.measurement
    many_names = [m(f"metric.{i}", float(i), MetricKind.GAUGE, "1") for i in range(150)]
    many_values = [m("busy", float(i), MetricKind.HISTOGRAM, "ms") for i in range(250)]
    objs = parse(emf_lines(many_names + many_values, samples.RESOURCE, "NS"))
    for o in objs:
        assert_valid_emf(o)
    assert sorted(values_of(objs, "busy")) == [float(i) for i in range(250)]
    for i in range(150):
        assert values_of(objs, f"metric.{i}") == [float(i)]


def test_ids_are_properties_not_dimensions_and_bad_values_skipped() -> None:
    m = samples.measurement
    measurements = [
        m("faas.duration", 5, MetricKind.HISTOGRAM, "ms", **{"faas.invocation_id": "req-1", "cold": True}),
        m("faas.duration", float("nan"), MetricKind.HISTOGRAM, "ms"),
        m("x" * 300, 1.0, MetricKind.GAUGE, "1"),
    ]
    (o,) = parse(emf_lines(measurements, samples.RESOURCE, "NS"))
    assert_valid_emf(o)
    dims = o["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert all("faas.invocation_id" not in d for d in dims)
    assert o["faas.invocation_id"] == "req-1"
    assert ["faas.name", "cold"] in dims and o["cold"] == "true"


def test_units_map_to_cloudwatch() -> None:
    assert cloudwatch_unit("ms") == "Milliseconds"
    assert cloudwatch_unit("By") == "Bytes"
    assert cloudwatch_unit("{invocation}") == "Count"
    assert cloudwatch_unit("furlongs") == "None"


class CountingStream(io.StringIO):
    writes = 0
    flushes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)

    def flush(self) -> None:
        self.flushes += 1


async def test_one_write_per_batch_and_every_line_is_ours() -> None:
    stream = CountingStream()
    exporter = StdoutExporter(("metrics", "spans", "logs"), "NS", stream=stream)
    result = await exporter.export(samples.signals(n_spans=2, n_logs=3, n_metrics=4), samples.RESOURCE, 1.0)
    assert result.ok
    assert stream.writes == 1 and stream.flushes == 1
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 + 2 + 3  # one EMF line (one series, one minute), spans, logs
    for line in lines:
        assert is_self_line(line)
        assert SELF_JSON_KEY in json.loads(line)
    kinds = [json.loads(line).get("signal") for line in lines]
    assert kinds.count("span") == 2 and kinds.count("log") == 3


async def test_default_is_metrics_only_and_empty_batches_write_nothing() -> None:
    stream = CountingStream()
    exporter = StdoutExporter(("metrics",), "NS", stream=stream)
    assert exporter.accepts == frozenset({"metrics"})
    assert (await exporter.export(Signals(), samples.RESOURCE, 1.0)).ok
    assert stream.writes == 0
