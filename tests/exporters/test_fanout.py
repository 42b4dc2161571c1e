"""Fan-out on real backends: a hanging, failing or absent destination neither delays nor drops
data for a healthy one; every destination keeps its own queue, backoff and counters."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.backends.otlp_receivers import OtlpHttpReceiver, unused_port
from extension.config import from_env
from extension.exporters.factory import build_destinations
from extension.stats import Stats
from tests.exporters import samples

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("failure", ["hang", "503", "absent"])
async def test_failing_otlp_does_not_delay_or_drop_http_json_and_file(tmp_path: Path, failure: str) -> None:
    with OtlpHttpReceiver() as otlp_rx, OtlpHttpReceiver() as json_rx:
        endpoint = otlp_rx.endpoint if failure != "absent" else f"http://127.0.0.1:{unused_port()}"
        if failure == "hang":
            otlp_rx.hang()
        elif failure == "503":
            otlp_rx.status(503)
        settings = from_env(
            {
                "AWS_LAMBDA_FUNCTION_NAME": "fn",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_TIMEOUT": "30000",
                "SIDECAR_EXPORTERS": "otlp,http_json,file",
                "SIDECAR_HTTP_JSON_URL": json_rx.url("/ingest"),
                "SIDECAR_HTTP_JSON_FORMAT": "otel",
                "SIDECAR_FILE_PATH": str(tmp_path / "out.jsonl"),
            }
        )
        stats = Stats()
        dests = build_destinations(settings, stats, None, resource=samples.RESOURCE)
        await asyncio.gather(*(d.start() for d in dests))
        loop = asyncio.get_running_loop()
        batch = samples.signals(n_spans=2, n_logs=3, n_metrics=4)
        for d in dests:
            d.offer(batch)
        otlp, http_json, file = dests
        done_at: dict[str, float] = {}

        async def flush(d, deadline: float) -> None:  # type: ignore[no-untyped-def]
            await d.flush(deadline)
            done_at[d.name] = loop.time()

        deadline = loop.time() + 1.5
        await asyncio.wait_for(asyncio.gather(*(flush(d, deadline) for d in dests)), timeout=15)
        assert done_at["http_json"] < deadline and done_at["file"] < deadline
        assert http_json.pending_items() == 0 and file.pending_items() == 0
        assert stats.get("exported", "http_json") == 9 and stats.get("exported", "file") == 9
        assert otlp.pending_items() == 9  # kept for the next lifecycle point, not dropped
        assert stats.get("export_failed", "otlp") >= 1
        assert stats.total("dropped") == 0
        for d in dests:
            await d.shutdown(loop.time() + 0.2)
        assert stats.get("destination_dropped", "otlp:shutdown_deadline") == 9
