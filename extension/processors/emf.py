"""CloudWatch Embedded Metric Format lines printed by the function -> OTel measurements.

Powertools for AWS Lambda (Metrics) and the `aws-embedded-metrics` libraries print one JSON object
per flush whose `_aws.CloudWatchMetrics` directives name the metrics, their units and dimension
sets; the values and dimension values are top-level members
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
CloudWatch makes one metric per (namespace, name, dimension set); so do we, with the dimensions
as attributes and the namespace in `aws.cloudwatch.namespace`. `Count` metrics become counters
(CloudWatch sums them), every other unit a histogram (CloudWatch keeps sum, count, min and max of
the values, which an OTel histogram carries too). A value may be a number or a list of numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from extension.signals import AttrValue, Measurement, MetricKind

NAMESPACE_ATTRIBUTE = "aws.cloudwatch.namespace"
#: CloudWatch units -> UCUM, as OTel units are written (https://ucum.org/ucum).
UNITS = {
    "Seconds": "s",
    "Microseconds": "us",
    "Milliseconds": "ms",
    "Bytes": "By",
    "Kilobytes": "kBy",
    "Megabytes": "MBy",
    "Gigabytes": "GBy",
    "Terabytes": "TBy",
    "Bits": "bit",
    "Kilobits": "kbit",
    "Megabits": "Mbit",
    "Gigabits": "Gbit",
    "Terabits": "Tbit",
    "Percent": "%",
    "Count": "1",
    "Bytes/Second": "By/s",
    "Kilobytes/Second": "kBy/s",
    "Megabytes/Second": "MBy/s",
    "Gigabytes/Second": "GBy/s",
    "Terabytes/Second": "TBy/s",
    "Bits/Second": "bit/s",
    "Kilobits/Second": "kbit/s",
    "Megabits/Second": "Mbit/s",
    "Gigabits/Second": "Gbit/s",
    "Terabits/Second": "Tbit/s",
    "Count/Second": "1/s",
    "None": "",
}
#: Values per metric kept from one line (the specification allows 100).
MAX_VALUES = 100


def emf_document(record: object) -> Mapping[str, Any] | None:
    """The EMF object of a function log record (a printed line, or the object Lambda parsed from
    it with the JSON log format), else None. Cheap for ordinary lines: only a line that starts
    with `{` and mentions `_aws` is parsed."""
    if isinstance(record, Mapping):
        doc: object = record
    elif isinstance(record, str):
        text = record.strip()
        if not text.startswith("{") or '"_aws"' not in text:
            return None
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return None
    else:
        return None
    if not isinstance(doc, Mapping):
        return None
    aws = doc.get("_aws")
    if not isinstance(aws, Mapping) or not isinstance(aws.get("CloudWatchMetrics"), list):
        return None
    return doc


def _numbers(value: object) -> list[float]:
    items = value if isinstance(value, list) else [value]
    return [
        float(v)
        for v in items[:MAX_VALUES]
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    ]


def measurements(doc: Mapping[str, Any], fallback_ns: int) -> list[Measurement]:
    """The measurements of one EMF object (malformed directives are skipped, never fatal)."""
    aws = doc["_aws"]
    stamp = aws.get("Timestamp")
    time_ns = int(stamp) * 1_000_000 if isinstance(stamp, int | float) and stamp > 0 else fallback_ns
    out: list[Measurement] = []
    for directive in aws["CloudWatchMetrics"]:
        if not isinstance(directive, Mapping):
            continue
        namespace = directive.get("Namespace")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list):
            continue
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list) or not dimension_sets:
            dimension_sets = [[]]
        for dims in dimension_sets:
            if not isinstance(dims, list):
                continue
            attrs: dict[str, AttrValue] = {}
            if isinstance(namespace, str):
                attrs[NAMESPACE_ATTRIBUTE] = namespace
            for key in dims:
                value = doc.get(key) if isinstance(key, str) else None
                if isinstance(value, str | int | float | bool):
                    attrs[str(key)] = value
            for metric in metrics:
                if not isinstance(metric, Mapping) or not isinstance(metric.get("Name"), str):
                    continue
                name = metric["Name"]
                unit_name = metric.get("Unit", "None")
                unit = UNITS.get(unit_name, str(unit_name)) if isinstance(unit_name, str) else ""
                kind = MetricKind.COUNTER if unit_name == "Count" else MetricKind.HISTOGRAM
                for value in _numbers(doc.get(name)):
                    out.append(Measurement(name, kind, value, unit, time_ns, attrs))
    return out
