"""`python -m emulator.demo [--quick] [--verbose] [--layer DIR] [--out DIR] [--no-color]`

Run by `./build.sh demo` after it built `build/layer/`. Exit code 0 when every invocation got
the status the story expects and its span reached the receiver, 1 otherwise (the summary is
printed either way), 2 when the layer is missing.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from emulator.demo import backends, report_html, summary, terminal
from emulator.demo.otlp import save_and_parse
from emulator.demo.scenario import FunctionRun, Invocation, plans, run_function

DEFAULT_LAYER = backends.ROOT / "build" / "layer"
DEFAULT_OUT = backends.ROOT / "build" / "demo"
TITLE = "lambda-sidecar demo"
SPAN_WAIT_S = 10.0


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer functions and invokes (for tests)")
    parser.add_argument("--verbose", action="store_true", help="echo function and extension output to stderr")
    parser.add_argument(
        "--layer", type=Path, default=DEFAULT_LAYER, help="the unpacked layer (default build/layer)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/demo)")
    parser.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    return parser.parse_args(argv)


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _progress(inv: Invocation) -> None:
    mark = "✔" if inv.status == inv.expected else "✖"
    error = summary.error_type_of(inv.error_type, inv.response)
    detail = f" ({error})" if error else ""
    took = summary.fmt_ms(inv.duration_ms)
    print(f"  {mark} {inv.function} #{inv.index} {inv.what}: {inv.status}{detail} in {took}", flush=True)


def _received(backs: backends.Backends) -> list[tuple[str, object]]:
    return [
        (r.signal, r.message)
        for r in backs.receiver.requests
        if r.accepted and r.message is not None and r.signal in ("traces", "metrics", "logs")
    ]


def _span_ids(backs: backends.Backends) -> set[str]:
    ids: set[str] = set()
    for signal, message in _received(backs):
        if signal != "traces":
            continue
        for group in getattr(message, "resource_spans", []):
            for scope in group.scope_spans:
                for span in scope.spans:
                    for kv in span.attributes:
                        if kv.key == "faas.invocation_id":
                            ids.add(kv.value.string_value)
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    args = _args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper) and (sys.stdout.encoding or "").lower() != "utf-8":
        sys.stdout.reconfigure(errors="replace")  # bars and marks are Unicode; never crash on a C locale
    layer: Path = args.layer
    if not (layer / "extensions").is_dir():
        print(f"demo: no built layer at {layer} (./build.sh demo builds it first)", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"{TITLE}: the built layer ({_show(layer)}) in the local Lambda environment", flush=True)
    print(
        "  starting moto (Secrets Manager, SSM), the AppConfig data plane and an OTLP/HTTP receiver",
        flush=True,
    )
    runs: list[FunctionRun] = []
    with backends.running_backends() as backs:
        base_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": backs.receiver.endpoint,
            "AWS_ENDPOINT_URL": backs.aws_proxy.url,
            "AWS_ENDPOINT_URL_APPCONFIGDATA": backs.appconfig_proxy.url,
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(backends.cache_port(2773)),
            "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(backends.cache_port(2772)),
        }
        for plan in plans(args.quick):
            print(f"  ▶ {plan.name} (sample_functions/{plan.sample})", flush=True)
            runs.append(
                run_function(
                    plan,
                    layer=layer,
                    work=out,
                    base_env=base_env,
                    echo=bool(args.verbose),
                    on_invoke=_progress,
                )
            )
        wanted = {inv.request_id for run in runs for inv in run.invocations}
        backs.receiver.wait_until(lambda: wanted <= _span_ids(backs), timeout=SPAN_WAIT_S)
        telemetry = save_and_parse(_received(backs), out / "otlp")
        aws_calls = backs.aws_calls()
    elapsed = time.monotonic() - started
    result = summary.build(runs, telemetry, aws_calls)
    report = out / "report.html"
    n_inv = sum(len(r.invocations) for r in runs)
    intro = [
        f"{len(runs)} functions, {n_inv} invocations in {elapsed:.1f} s; the layer from {_show(layer)}, "
        "exporting OTLP/HTTP to a local receiver; AWS is moto and a local AppConfig data plane.",
    ]
    footer = [
        f"Raw OTLP data: {len(telemetry.files)} requests decoded to JSON in {_show(out / 'otlp')}/",
        f"HTML report:   {_show(report)}",
    ]
    report.write_text(report_html.render(result, title=TITLE, intro=intro, report_path=report), "utf-8")
    colour = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    print(terminal.render(result, colour=colour, header=["", *intro], footer=footer), end="")
    summary_text = terminal.render(result, colour=False, header=intro, footer=footer)
    (out / "summary.txt").write_text(summary_text, "utf-8")
    ok = all(v.span_found for f in result.functions for v in f.invocations) and all(
        inv.status == inv.expected for run in runs for inv in run.invocations
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
