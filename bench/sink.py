"""A counting OTLP/HTTP receiver run as a separate process (`python -m bench.sink`).

The receiver of `emulator/backends/otlp_receivers.py` decodes real protobuf; here it runs in its
own process so that decoding never competes for the GIL with the emulator thread that takes the
timings. It keeps counts, not requests (memory stays flat over 10,000 invokes), can answer
slowly (`delay`), and is driven over stdin/stdout, one command per line:

    stats            -> {"requests": n, "spans": n, "logs": n, "metrics": n, "bytes": n, "marked": {...}}
    delay <seconds>  -> {"ok": true}   (answer every request that much later; 0 = healthy)
    reset            -> {"ok": true}   (zero the counts)
    quit

`marked` counts distinct log records per request id whose body reads `<marker> <request id> <n> ...`
(bench/functions/bench_fn writes such lines), so a benchmark can tell exactly what arrived;
`duplicates` counts records that arrived more than once (an export retried after its answer was lost).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from typing import Any

from emulator.backends.otlp_receivers import Behaviour, OtlpHttpReceiver, Received

MARKER = "bench-line"


class CountingReceiver(OtlpHttpReceiver):
    """OtlpHttpReceiver that counts what it accepts instead of keeping it, with an answer delay."""

    def __init__(self) -> None:
        super().__init__()
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.marked: dict[str, set[int]] = {}
        self.duplicates = 0

    def _record(self, received: Received) -> None:
        spans = logs = points = 0
        marked: list[tuple[str, int]] = []
        msg = received.message
        if received.signal == "traces" and msg is not None:
            spans = sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
        elif received.signal == "logs" and msg is not None:
            for rl in msg.resource_logs:
                for sl in rl.scope_logs:
                    logs += len(sl.log_records)
                    for rec in sl.log_records:
                        body = rec.body.string_value
                        if body.startswith(MARKER):
                            parts = body.split(" ", 3)
                            marked.append((parts[1], int(parts[2])))
        elif received.signal == "metrics" and msg is not None:
            points = sum(len(sm.metrics) for rm in msg.resource_metrics for sm in rm.scope_metrics)
        with self._lock:
            self.counts.update(requests=1, spans=spans, logs=logs, metrics=points, bytes=len(received.body))
            for rid, number in marked:
                seen = self.marked.setdefault(rid, set())
                if number in seen:
                    self.duplicates += 1  # an export retried after the answer was lost
                seen.add(number)

    def _next_behaviour(self) -> tuple[Behaviour, threading.Event]:
        if self.delay_s > 0:
            time.sleep(self.delay_s)  # one handler thread per connection: only this request waits
        return super()._next_behaviour()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **{k: self.counts[k] for k in ("requests", "spans", "logs", "metrics", "bytes")},
                "marked": {rid: len(seen) for rid, seen in self.marked.items()},
                "duplicates": self.duplicates,
            }

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.marked.clear()
            self.duplicates = 0


def main() -> int:
    rx = CountingReceiver()
    rx.start()
    if rx._server is not None:  # a client giving up mid-answer (export budget) is expected: no traceback
        rx._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    print(json.dumps({"endpoint": rx.endpoint}), flush=True)
    try:
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "stats":
                out: dict[str, Any] = rx.snapshot()
            elif cmd == "delay":
                rx.delay_s = float(arg or 0)
                out = {"ok": True}
            elif cmd == "reset":
                rx.reset()
                out = {"ok": True}
            elif cmd == "quit":
                break
            else:
                out = {"error": f"unknown command {cmd!r}"}
            print(json.dumps(out), flush=True)
    finally:
        rx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
