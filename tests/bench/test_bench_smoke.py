"""Smoke test of the benchmark scripts: the quickest pieces, with minimal sizes, still run.

No timing is asserted (benchmarks are not tests); this only proves the code paths work against the
built layer: launch-to-register with a fake Extensions API, the counting receiver process, and
import-time parsing. Nothing is written to bench/results/.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from bench import common
from bench.cold_start import launch_to_register
from bench.layer_size import import_times

pytestmark = pytest.mark.integration


def test_statistics_helpers() -> None:
    s = common.summary([1.0, 2.0, 3.0, 4.0])
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 4.0 and s["n"] == 4
    orders = [common.rotated(["a", "b", "c"], r) for r in range(6)]
    assert all(sorted(o) == ["a", "b", "c"] for o in orders)
    assert {o[0] for o in orders} == {"a", "b", "c"}  # no configuration is always measured first


def test_launch_to_register_runs_every_configuration(built_layer: Path) -> None:
    out = launch_to_register(rounds=1)
    assert set(out["summary"]) == {
        "python3 -c pass",
        "python3 -E -S -B -c pass",
        "null extension",
        "lambda-sidecar",
    }
    assert all(len(v) == 1 and v[0] > 0 for v in out["samples"].values())


def test_counting_sink_counts_and_resets() -> None:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    req = logs_service_pb2.ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    for i in (0, 1, 1):  # line 1 twice: a duplicate
        records.add().body.string_value = f"bench-line rid-1 {i} xxx"
    records.add().body.string_value = "something else"
    with common.Sink() as sink:
        post = urllib.request.Request(
            f"{sink.endpoint}/v1/logs",
            data=req.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        urllib.request.urlopen(post, timeout=10).read()
        stats = sink.stats()
        assert stats["logs"] == 4 and stats["marked"] == {"rid-1": 2} and stats["duplicates"] == 1
        sink.delay(0.01)
        sink.reset()
        assert sink.stats()["logs"] == 0


def test_import_times_parse_the_fast_path(built_layer: Path) -> None:
    out = import_times(runs=1)
    fast = out["fast path (boot script --version)"]
    assert fast["modules"] > 0 and fast["total_ms"]["n"] == 1
    assert fast["top_cumulative_ms"] and all(m["cumulative_ms"] >= 0 for m in fast["top_cumulative_ms"])


def test_managed_instances_pieces_run(built_layer: Path) -> None:
    """bench/managed.py with minimal sizes: concurrent invokes in the real mode, every
    configuration measured; nothing is asserted about speed or about records lost to a flood."""
    from bench.managed import memory, throughput

    mem = memory(quick=True, invokes=6, concurrency=2)
    assert mem["errors"] == 0 and mem["invokes"] == 6 and mem["rss_final_mb"] > 0
    assert mem["extension_exit"] == {"code": 0, "before_deadline": True}
    tp = throughput(quick=True, sustained=2, concurrency=2)
    rows = {(r["who"], r["kind"]) for r in tp["sustained"]}
    assert rows == {(who, kind) for who in ("sidecar", "none") for kind in ("text", "json")}
    assert all(r["statuses"] == ["success"] for r in tp["sustained"])
    # Whatever a flood costs, it is the platform's drop (announced), never the extension's.
    assert all(r["lost"] <= r["logs_dropped_records"] for r in tp["sustained"])
