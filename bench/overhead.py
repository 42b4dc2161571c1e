"""Per-invoke overhead at steady state, per flush policy, with a healthy and a 200 ms-slow OTLP receiver.

    python -m bench.overhead [--quick]

Every configuration has its own frozen (`freeze=True`, as Lambda) warm environment running
bench/functions/bench_fn (prints two lines per invoke). Per round, each configuration runs a block
of back-to-back invokes, in rotating order. Reported per configuration:

- `extension_overhead_ms`: the `extensionOverhead` span of `platform.report` (runtime done ->
  last extension back in /next; 0 when no extension is subscribed to INVOKE);
- `billed_duration_ms` / `duration_ms`: `platform.report` metrics (what the customer pays);
- `caller_latency_ms`: `InvokeResult.duration_ms`, time until the invoker had the response.

Baselines: no extension and the null extension. Back-to-back invokes are "frequent" for the
adaptive policy (>= 6/min), so after its first invokes it behaves like `periodic`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import (
    BENCH_FN,
    NULL_LAYER,
    Sink,
    baseline_env,
    empty_opt,
    ensure_layer,
    extension_overhead_ms,
    log,
    ratio,
    rotated,
    sidecar_env,
    summary,
    write_result,
)

POLICIES = ("adaptive", "end", "periodic", "shutdown")
SLOW_S = 0.2


def run(quick: bool, rounds: int | None = None, block: int | None = None, warmup: int = 10) -> dict[str, Any]:
    from emulator import LambdaEnvironment

    layer = ensure_layer()
    rounds = rounds or (5 if quick else 20)
    block = block or (30 if quick else 50)
    configs = ["none", "null"] + [f"{p}/{rx}" for p in POLICIES for rx in ("healthy", "slow")]
    metrics = ("extension_overhead_ms", "billed_duration_ms", "duration_ms", "caller_latency_ms")
    samples: dict[str, dict[str, list[float]]] = {config: {m: [] for m in metrics} for config in configs}
    errors: dict[str, int] = {config: 0 for config in configs}
    # Which samples opened their configuration's block (after ~one round idle: that is when a
    # periodic export falls due), and how long each round took (the idle time between blocks).
    block_starts: dict[str, list[int]] = {config: [] for config in configs}
    round_seconds: list[float] = []
    with Sink() as healthy, Sink() as slow, empty_opt() as none_opt:
        slow.delay(SLOW_S)
        lams: dict[str, Any] = {}
        try:
            for config in configs:
                if config == "none":
                    opt, env = none_opt, baseline_env()
                elif config == "null":
                    opt, env = NULL_LAYER, baseline_env()
                else:
                    policy, rx = config.split("/")
                    opt, env = layer, sidecar_env(healthy if rx == "healthy" else slow, None, policy=policy)
                lams[config] = LambdaEnvironment(
                    opt, BENCH_FN, "app.handler", env=env, freeze=True, echo_output=False
                )
                lams[config].start()
                for _ in range(warmup):
                    lams[config].invoke({})
            for round_index in range(rounds):
                round_started = time.monotonic()
                for config in rotated(configs, round_index):
                    lam = lams[config]
                    block_starts[config].append(len(samples[config]["extension_overhead_ms"]))
                    for _ in range(block):
                        res = lam.invoke({})
                        if res.status != "success":
                            errors[config] += 1
                            continue
                        report = lam.events_of("platform.report")[-1]["record"]
                        series = samples[config]
                        series["extension_overhead_ms"].append(extension_overhead_ms(report))
                        series["billed_duration_ms"].append(float(report["metrics"]["billedDurationMs"]))
                        series["duration_ms"].append(float(report["metrics"]["durationMs"]))
                        series["caller_latency_ms"].append(float(res.duration_ms))
                round_seconds.append(time.monotonic() - round_started)
                log(f"overhead round {round_index + 1}/{rounds} done")
        finally:
            for lam in lams.values():
                lam.close()
    summ = {config: {m: summary(v) for m, v in samples[config].items()} for config in configs}
    base_latency = summ["none"]["caller_latency_ms"]["median"]
    comparisons = {
        config: {
            "caller_latency_vs_none": ratio(summ[config]["caller_latency_ms"]["median"], base_latency),
            "caller_latency_delta_ms": summ[config]["caller_latency_ms"]["median"] - base_latency,
            "duration_delta_vs_null_ms": (
                summ[config]["duration_ms"]["median"] - summ["null"]["duration_ms"]["median"]
            ),
        }
        for config in configs
    }
    data = {
        "rounds": rounds,
        "block": block,
        "slow_receiver_s": SLOW_S,
        "samples": samples,
        "summary": summ,
        "comparisons": comparisons,
        "errors": errors,
        "block_starts": block_starts,
        "round_seconds": round_seconds,
    }
    write_result("overhead", data, quick)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--block", type=int)
    args = parser.parse_args()
    data = run(args.quick, args.rounds, args.block)
    for config, stats in data["summary"].items():
        overhead, lat = stats["extension_overhead_ms"], stats["caller_latency_ms"]
        billed = stats["billed_duration_ms"]["median"]
        print(
            f"{config:18} overhead median {overhead['median']:7.2f} p99 {overhead['p99']:7.2f}"
            f" | billed median {billed:6.1f}"
            f" | caller median {lat['median']:6.2f} p99 {lat['p99']:6.2f}"
        )


if __name__ == "__main__":
    main()
