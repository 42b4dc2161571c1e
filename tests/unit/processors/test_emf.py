"""CloudWatch EMF lines printed by the function become measurements; the line is kept or dropped."""

from __future__ import annotations

import json

from extension.processors.emf import NAMESPACE_ATTRIBUTE, emf_document, measurements
from extension.signals import MetricKind
from extension.stats import Stats
from tests.unit.processors.helpers import events, processor

#: What Powertools for AWS Lambda (Python) Metrics prints at flush.
POWERTOOLS = {
    "_aws": {
        "Timestamp": 1772360130100,
        "CloudWatchMetrics": [
            {
                "Namespace": "Orders",
                "Dimensions": [["service"], ["service", "region"]],
                "Metrics": [
                    {"Name": "OrdersPlaced", "Unit": "Count", "StorageResolution": 60},
                    {"Name": "Latency", "Unit": "Milliseconds"},
                ],
            }
        ],
    },
    "service": "orders",
    "region": "eu-west-1",
    "OrdersPlaced": [1.0, 2.0],
    "Latency": 12.5,
    "requestId": "not a dimension",
}


def test_emf_objects_become_counters_and_histograms_per_dimension_set() -> None:
    doc = emf_document(json.dumps(POWERTOOLS) + "\n")
    assert doc is not None
    got = measurements(doc, 0)
    placed = [
        (m.kind, m.value, m.unit, dict(m.attributes), m.time_ns) for m in got if m.name == "OrdersPlaced"
    ]
    base = {NAMESPACE_ATTRIBUTE: "Orders", "service": "orders"}
    t = 1772360130100 * 1_000_000
    assert placed == [
        (MetricKind.COUNTER, 1.0, "1", base, t),
        (MetricKind.COUNTER, 2.0, "1", base, t),
        (MetricKind.COUNTER, 1.0, "1", {**base, "region": "eu-west-1"}, t),
        (MetricKind.COUNTER, 2.0, "1", {**base, "region": "eu-west-1"}, t),
    ]
    latency = [(m.kind, m.value, m.unit) for m in got if m.name == "Latency"]
    assert latency == [(MetricKind.HISTOGRAM, 12.5, "ms")] * 2


def test_ordinary_and_malformed_lines_are_not_emf() -> None:
    for line in (
        "hello",
        '{"level": "info"}',
        '{"_aws": 1}',
        '{"_aws": {"CloudWatchMetrics": "x"}}',
        "{broken _aws",
    ):
        assert emf_document(line) is None
    odd = {"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": 3}, "x"], "Dimensions": "y"}, 7]}, "3": 1}
    assert measurements(odd, 5) == []


def _function_line(text: str) -> dict[str, object]:
    return {"time": "2026-03-01T10:15:30.100Z", "type": "function", "record": text}


def test_the_line_is_kept_or_dropped_as_configured() -> None:
    line = json.dumps(POWERTOOLS)
    for setting, logs in (("keep", 1), ("drop", 0)):
        stats = Stats()
        out = processor(stats, SIDECAR_EMF_TO_METRICS=setting).process(events([_function_line(line)]))
        assert len(out.logs) == logs
        assert sum(m.name == "OrdersPlaced" for m in out.metrics) == 4
        assert stats.get("emf_lines") == 1
    out = processor(SIDECAR_EMF_TO_METRICS="off").process(events([_function_line(line)]))
    assert not [m for m in out.metrics if m.name == "OrdersPlaced"]
    assert len(out.logs) == 1
