"""Cache latency from function code, against a direct boto3 call to the same moto server.

    python -m bench.cache_latency [--quick]

bench_fn (in the emulator, with lambda-sidecar in its default configuration: two secrets
prefetched from moto, which runs in its own process) measures inside the function:

- in its init (module import): one read of a prefetched secret and one of a secret that is not
  prefetched, with the `X-Cache` header of each (`hit`: the prefetch had finished; `miss` with
  no upstream call of its own: the read waited for the prefetch in flight). The extension's
  AWS calls go through a counting proxy (emulator/backends/fault_proxy.py), which tells the two apart;
- per invoke, N reads of a cached secret with urllib (a new connection per call, as AWS
  documents), N with one `requests.Session` (keep-alive), and N direct boto3
  `get_secret_value` calls to moto (the baseline a cache replaces; an AWS region is further away).

The first read in init is the row "first read in init served by the prefetch, waited X ms": with
a prefetch list set the extension prefetches before it registers (Lambda starts the function's
init only after that), so the read finds `hit` and waits only for the local call. The price is
in launch-to-register (the extension's `ready: registered in X ms` line), measured here with and
without a prefetch list.

The three loops run in the same invoke, one after the other, over several invokes (cold starts
included, so the init reads are sampled several times). Each cold start also records its Init
Duration and the first invoke's `extensionOverhead`: a function that reads the cache in its init
waits there for the extension's start-up, which fast init otherwise moves into the first invoke.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from bench.common import (
    BENCH_FN,
    COLD_SECRET,
    SECRETS,
    Moto,
    Sink,
    ensure_layer,
    extension_overhead_ms,
    log,
    ratio,
    sidecar_env,
    summary,
    write_result,
)

_READY = re.compile(r"ready: registered in ([\d.]+) ms")


def _register_ms(lines: list[tuple[str, str]]) -> float | None:
    """The last launch-to-register time the extension logged in `lines`."""
    found = [float(m.group(1)) for _, line in lines if (m := _READY.search(line))]
    return found[-1] if found else None


def run(
    quick: bool, cold_starts: int | None = None, reads: int | None = None, invokes: int = 3
) -> dict[str, Any]:
    from emulator import LambdaEnvironment

    layer = ensure_layer()
    cold_starts = cold_starts or (3 if quick else 10)
    reads = reads or (100 if quick else 300)
    lat: dict[str, list[float]] = {"urllib": [], "requests_session": [], "boto3_direct": []}
    init_reads: dict[str, list[dict[str, Any]]] = {"prefetched": [], "not_prefetched": []}
    from emulator.backends.fault_proxy import FaultProxy

    upstream_calls: list[dict[str, int]] = []
    init_ms: list[float] = []
    register_ms: dict[str, list[float]] = {"with_prefetch": [], "without_prefetch": []}
    first_overhead_ms: list[float] = []
    with Sink() as sink, Moto() as moto, FaultProxy(moto.url) as proxy:
        env = sidecar_env(
            sink,
            moto,
            AWS_ENDPOINT_URL=proxy.url,  # the extension goes through a counting proxy ...
            BENCH_BOTO3_ENDPOINT=moto.url,  # ... the function's direct boto3 calls do not
            BENCH_INIT_READS="1",
            BENCH_SECRET_PREFETCHED=SECRETS[0],
            BENCH_SECRET_COLD=COLD_SECRET,
        )
        lam = LambdaEnvironment(layer, BENCH_FN, "app.handler", timeout_s=60, env=env, echo_output=False)
        with lam:
            for cold_start in range(cold_starts):
                lam.spindown()
                proxy.counts.clear()
                first = lam.invoke({"cache": 0})  # cold start: the init reads, then nothing
                if first.status != "success":
                    raise RuntimeError(f"cache invoke failed: {first.response}")
                upstream_calls.append(dict(proxy.counts))
                _collect(register_ms["with_prefetch"], lam)
                init_ms.append(
                    float(lam.events_of("platform.initReport")[-1]["record"]["metrics"]["durationMs"])
                )
                first_overhead_ms.append(
                    extension_overhead_ms(lam.events_of("platform.report")[-1]["record"])
                )
                init_reads["prefetched"].append(first.response["init_reads"]["BENCH_SECRET_PREFETCHED"])
                init_reads["not_prefetched"].append(first.response["init_reads"]["BENCH_SECRET_COLD"])
                for _ in range(invokes):
                    res = lam.invoke({"cache": reads, "secret": SECRETS[1]})
                    if res.status != "success":
                        raise RuntimeError(f"cache invoke failed: {res.response}")
                    for key in lat:
                        lat[key].extend(res.response[key])
                log(f"cache latency: cold start {cold_start + 1}/{cold_starts} done")
        no_prefetch = {key: v for key, v in env.items() if key != "SIDECAR_PREFETCH"}
        no_prefetch["BENCH_INIT_READS"] = "0"
        lam = LambdaEnvironment(
            layer, BENCH_FN, "app.handler", timeout_s=60, env=no_prefetch, echo_output=False
        )
        with lam:
            for _ in range(cold_starts):
                lam.spindown()
                if lam.invoke({"cache": 0}).status != "success":
                    raise RuntimeError("cold start without a prefetch list failed")
                _collect(register_ms["without_prefetch"], lam)
        log("cache latency: launch-to-register without a prefetch list done")
    summ = {key: summary(v) for key, v in lat.items()}
    out: dict[str, Any] = {
        "reads_per_loop": reads,
        "cold_starts": cold_starts,
        "samples": lat,
        "summary": summ,
        "init_reads": {
            key: {
                "ms": summary([r["ms"] for r in v]),
                "x_cache": [r["x_cache"] for r in v],
                "n": len(v),
            }
            for key, v in init_reads.items()
        },
        "upstream_calls_per_cold_start": upstream_calls,
        # "first read in init served by the prefetch, waited X ms"
        "first_init_read_served_by_prefetch": {
            "waited_ms": summary([r["ms"] for r in init_reads["prefetched"]]),
            "hit": sum(r["x_cache"] == "hit" for r in init_reads["prefetched"]),
            "n": len(init_reads["prefetched"]),
        },
        "launch_to_register_ms": {key: summary(v) for key, v in register_ms.items() if v},
        "cold_start": {
            "init_ms": summary(init_ms),
            "first_invoke_extension_overhead_ms": summary(first_overhead_ms),
        },
        # the prefetched read joined the prefetch's batch call when no GetSecretValue was made for
        # it: only the not-prefetched secret's single GetSecretValue reaches AWS during init
        "init_read_served_by_prefetch": [
            sum(n for op, n in calls.items() if op.endswith(".GetSecretValue")) <= 1
            and any("BatchGetSecretValue" in op for op in calls)
            for calls in upstream_calls
        ],
        "ratios": {
            "boto3_vs_urllib_hit": ratio(summ["boto3_direct"]["median"], summ["urllib"]["median"]),
            "boto3_vs_session_hit": ratio(summ["boto3_direct"]["median"], summ["requests_session"]["median"]),
        },
    }
    write_result("cache_latency", out, quick)
    return out


def _collect(into: list[float], lam: Any) -> None:
    value = _register_ms(lam.output_lines)
    if value is not None:
        into.append(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cold-starts", type=int)
    parser.add_argument("--reads", type=int)
    args = parser.parse_args()
    data = run(args.quick, args.cold_starts, args.reads)
    for key, stats in data["summary"].items():
        print(f"{key:18} median {stats['median']:6.2f} ms  p90 {stats['p90']:6.2f}  p99 {stats['p99']:6.2f}")
    for key, value in data["init_reads"].items():
        print(key, round(value["ms"]["median"], 2), "ms", value["x_cache"])
    first = data["first_init_read_served_by_prefetch"]
    print(
        f"first read in init served by the prefetch ({first['hit']}/{first['n']} hit), "
        f"waited {first['waited_ms']['median']:.2f} ms (median)"
    )
    for key, value in data["launch_to_register_ms"].items():
        print(f"launch-to-register {key:17} median {value['median']:7.1f} ms  p90 {value['p90']:7.1f}")


if __name__ == "__main__":
    main()
