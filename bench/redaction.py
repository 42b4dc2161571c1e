"""The redactor alone: log records per second through `Redactor.value` (one core, no I/O).

    python -m bench.redaction [--records N] [--rounds R]

The log path must carry at least 20,000 records/s end to end (docs/benchmarks.md), and the
redactor runs on every `function`/`extension` record before anything else, so its share of that
budget is measured on its own here. Records are shaped as the Telemetry API delivers them: text
lines in the Python runtime format (text log format) and objects (JSON log format), 1 in 100
holding a credential. Reported per shape: records per CPU-second of this process (CPU time, so
other processes on a shared machine distort it less than wall time would), median and best of
the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from extension.processors.redaction import Redactor

_RID = "0f3c9a62-8b1e-4f0e-9c55-3d2a8e7b41c9"
_TS = "2026-03-01T10:15:30.200Z"
_SECRET_LINE = "creds ReadOnlyCredentials(access_key='ASIAIOSFODNN7EXAMPLE', secret_key='x', token='y')"


def text_records(count: int) -> list[Any]:
    out: list[Any] = []
    for i in range(count):
        msg = _SECRET_LINE if i % 100 == 0 else f"processed order {i} for customer c-{i % 977} in 12 ms"
        out.append(f"[INFO]\t{_TS}\t{_RID}\t{msg}\n")
    return out


def json_records(count: int) -> list[Any]:
    out: list[Any] = []
    for i in range(count):
        rec: dict[str, Any] = {
            "timestamp": _TS,
            "level": "INFO",
            "requestId": _RID,
            "message": f"processed order {i}",
            "order": {"id": i, "items": 3, "customer": f"c-{i % 977}"},
        }
        if i % 100 == 0:
            rec["credentials"] = {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "x" * 40}
        out.append(rec)
    return out


def measure(records: list[Any], rounds: int) -> dict[str, float]:
    rates = []
    for _ in range(rounds):
        redactor = Redactor.from_settings(True, ())
        value = redactor.value
        start = time.process_time()
        for rec in records:
            value(rec)
        rates.append(len(records) / max(time.process_time() - start, 1e-9))
    return {"median": statistics.median(rates), "best": max(rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for name, make in (("text", text_records), ("json", json_records)):
        result = measure(make(args.records), args.rounds)
        print(f"{name}: median {result['median']:,.0f} records per CPU-second (best {result['best']:,.0f})")


if __name__ == "__main__":
    main()
