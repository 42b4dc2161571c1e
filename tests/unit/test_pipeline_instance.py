"""`faas.instance` comes from `platform.initStart`'s `instanceId` (pure: no sockets)."""

from __future__ import annotations

from extension.config import PipelineSettings, RetrySettings
from extension.exporters.destination import Destination
from extension.exporters.file import FileExporter
from extension.lifecycle.invocation_tracker import InvocationTracker
from extension.pipeline import Pipeline
from extension.signals import Resource
from extension.stats import Stats
from tests.unit.processors.helpers import FN, ev, events, processor

INSTANCE = "2026/03/01/[$LATEST]4f1c0e2a9b7d"
INIT_START = ev(
    "platform.initStart",
    "2026-03-01T10:15:29.001Z",
    {"initializationType": "on-demand", "phase": "init", "instanceId": INSTANCE},
)


def _destination(attributes: dict[str, str], stats: Stats) -> Destination:
    return Destination(
        FileExporter("/dev/null", 1 << 20),
        PipelineSettings(),
        RetrySettings(),
        stats,
        "file",
        resource=Resource(attributes),
    )


def test_the_instance_id_of_init_start_becomes_faas_instance() -> None:
    stats = Stats()
    plain = _destination({"service.name": FN}, stats)
    chosen = _destination({"service.name": FN, "faas.instance": "set-by-user"}, stats)
    pipeline = Pipeline(processor(stats), [plain, chosen], InvocationTracker(), stats)
    pipeline.ingest(events([ev("function", "2026-03-01T10:15:29.000Z", "before init")]))
    assert "faas.instance" not in plain.resource.attributes
    pipeline.ingest(events([INIT_START]))
    assert plain.resource.attributes["faas.instance"] == INSTANCE
    assert plain.resource.attributes["service.name"] == FN
    assert chosen.resource.attributes["faas.instance"] == "set-by-user"  # OTEL_RESOURCE_ATTRIBUTES wins
    assert stats.get("internal_errors", "pipeline") == 0
