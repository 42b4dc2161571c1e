"""The pipeline modules the app imports one at a time (with the loop turning in between) exist:
a wrong name would send the extension to its idle fallback on every cold start."""

from __future__ import annotations

import importlib

from extension import app


def test_every_staged_pipeline_module_imports() -> None:
    for module in app._PIPELINE_MODULES:
        importlib.import_module(module)


def test_the_pipeline_and_otlp_exporter_load_no_protobuf() -> None:
    """OTLP is encoded by extension/exporters/protowire.py: importing protobuf and the
    opentelemetry-proto classes cost every cold start CPU and memory (issue 13)."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        "from extension import app\n"
        "for m in app._PIPELINE_MODULES: importlib.import_module(m)\n"
        "import extension.exporters.otlp\n"
        "import extension.sources.otlp_receiver.server\n"
        "import extension.sources.otlp_receiver.sockets\n"
        "import extension.sources.otlp_receiver.grpc_front\n"
        "from extension.exporters.otlp_encode import encode_logs, encode_metrics, encode_traces\n"
        "from tests.exporters import samples\n"
        "s = samples.signals()\n"
        "encode_logs(s.logs, samples.RESOURCE); encode_traces(s.spans, samples.RESOURCE)\n"
        "encode_metrics(s.metrics, samples.RESOURCE)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('google.protobuf', 'opentelemetry')))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
