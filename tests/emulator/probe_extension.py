#!/usr/bin/env python3
"""A third-party style Lambda extension used by the emulator conformance tests (stdlib only).

It is copied into ``<opt>/extensions/<name>`` and talks to the emulator only through the public
Extensions/Telemetry/Logs APIs. Behaviour comes from ``$PROBE_DIR/<name>.config.json``; every
observation (register answer, probes, events, telemetry batches, environment) is written to
``$PROBE_DIR/<name>.json`` after each change, so a test can read it even if the process is
killed. Config keys (all optional):

* ``events``: lifecycle events to register for (default ``["INVOKE", "SHUTDOWN"]``)
* ``before_register``: ``"register"`` | ``"never"`` (sleep forever) | ``"exit"`` (exit 0)
* ``print_before_register``: lines to print before registering
* ``init_error``: call ``/extension/init/error`` after registering, then exit
* ``subscribe``: subscription body without ``destination`` (``null`` = no subscription)
* ``api``: ``"telemetry"`` (default) or ``"logs"``
* ``listener``: ``"ok"`` | ``"none"`` (advertise a closed port) | ``"fail"`` (answer 500)
* ``listener_delay_s``: sleep per received batch (a slow listener)
* ``listener_path``: path part of the destination URI (default ``/telemetry``)
* ``init_probes``: list of ``{"method", "path", "body", "headers", "with_id"}`` requests made
  during init (after registering); answers are recorded under ``probes``
* ``on_invoke``: ``"next"`` | ``"sleep:<s>"`` | ``"crash"`` (exit 3) | ``"exit0"`` | ``"hang"``
  | ``"exit_error"``
* ``on_shutdown``: ``"exit"`` | ``"hang"`` | ``"drain"`` (wait for pending platform.report, then exit)
* ``drain_reports``: with ``"drain"``, the number of platform.report records to wait for (when
  there are no INVOKE events to count them from, as on Managed Instances)
* ``idle_exit_after_s``: exit(0) this long after an INVOKE, while idle in ``next``
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NAME = os.path.basename(sys.argv[0])
PROBE_DIR = os.environ.get("PROBE_DIR", "/tmp")
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
CONFIG: dict[str, Any] = {}
config_path = os.path.join(PROBE_DIR, f"{NAME}.config.json")
if os.path.exists(config_path):
    with open(config_path) as fh:
        CONFIG = json.load(fh)

LOCK = threading.Lock()
RECORD: dict[str, Any] = {
    "name": NAME,
    "pid": os.getpid(),
    "python": sys.executable,
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "env": dict(os.environ),
    "sys_path": list(sys.path),
    "importable": {m: importlib.util.find_spec(m) is not None for m in ("aiohttp", "awslambdaric", "boto3")},
    "register": None,
    "subscribe": None,
    "probes": [],
    "events": [],
    "telemetry": [],
}


def save() -> None:
    with LOCK:
        data = json.dumps(RECORD)
    path = os.path.join(PROBE_DIR, f"{NAME}.json")
    tmp = path + f".{threading.get_ident()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(data)
    os.replace(tmp, path)


def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{API}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            status, hdrs = resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, hdrs = err.read(), err.code, dict(err.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return {"status": status, "headers": hdrs, "body": parsed, "time_ms": time.time() * 1000}


class Listener(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        delay = float(CONFIG.get("listener_delay_s", 0))
        if delay:
            time.sleep(delay)
        with LOCK:
            RECORD["telemetry"].append(
                {
                    "time_ms": time.time() * 1000,
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "body": json.loads(raw),
                }
            )
        save()
        status = 500 if CONFIG.get("listener") == "fail" else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST

    def log_message(self, *args: Any) -> None:  # silence: our own output would loop back
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def telemetry_types_seen() -> list[str]:
    with LOCK:
        return [e["type"] for batch in RECORD["telemetry"] for e in batch["body"]]


def main() -> None:
    for line in CONFIG.get("print_before_register", []):
        print(line, flush=True)
    mode = CONFIG.get("before_register", "register")
    if mode == "never":
        while True:
            time.sleep(60)
    if mode == "exit":
        sys.exit(0)
    events = CONFIG.get("events", ["INVOKE", "SHUTDOWN"])
    reg = call(
        "POST",
        "/2020-01-01/extension/register",
        {"events": events},
        {"Lambda-Extension-Name": NAME, "Lambda-Extension-Accept-Feature": "accountId"},
    )
    RECORD["register"] = reg
    save()
    ext_id = reg["headers"].get("Lambda-Extension-Identifier", "")
    RECORD["id"] = ext_id
    id_header = {"Lambda-Extension-Identifier": ext_id}
    if CONFIG.get("init_error"):
        RECORD["init_error"] = call(
            "POST",
            "/2020-01-01/extension/init/error",
            {"errorMessage": "probe config invalid", "errorType": "Extension.ConfigInvalid"},
            {**id_header, "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"},
        )
        save()
        sys.exit(1)
    for probe in CONFIG.get("init_probes", []):
        headers = dict(probe.get("headers", {}))
        if probe.get("with_id", True):
            headers.update(id_header)
        RECORD["probes"].append(call(probe["method"], probe["path"], probe.get("body"), headers))
    save()
    sub = CONFIG.get("subscribe")
    if sub is not None:
        port = free_port()
        if CONFIG.get("listener", "ok") != "none":
            server = ThreadingHTTPServer(("127.0.0.1", port), Listener)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        body = dict(sub)
        body["destination"] = {
            "protocol": "HTTP",
            "URI": f"http://sandbox.localdomain:{port}{CONFIG.get('listener_path', '/telemetry')}",
        }
        path = "/2020-08-15/logs" if CONFIG.get("api") == "logs" else "/2022-07-01/telemetry"
        RECORD["subscribe"] = call("PUT", path, body, id_header)
        save()
    on_invoke = CONFIG.get("on_invoke", "next")
    while True:
        event = call("GET", "/2020-01-01/extension/event/next", None, id_header)
        with LOCK:
            RECORD["events"].append(event)
        save()
        body = event["body"] if isinstance(event["body"], dict) else {}
        if event["status"] != 200:
            sys.exit(2)
        if body.get("eventType") == "SHUTDOWN":
            shutdown(body)
            return
        if CONFIG.get("idle_exit_after_s") is not None:
            threading.Timer(float(CONFIG["idle_exit_after_s"]), os._exit, args=(0,)).start()
        if on_invoke == "crash":
            os._exit(3)
        if on_invoke == "exit0":
            os._exit(0)
        if on_invoke == "hang":
            time.sleep(3600)
        if on_invoke == "exit_error":
            RECORD["exit_error"] = call(
                "POST",
                "/2020-01-01/extension/exit/error",
                {"errorMessage": "probe gave up", "errorType": "Extension.ProbeFailed"},
                {**id_header, "Lambda-Extension-Function-Error-Type": "Extension.ProbeFailed"},
            )
            save()
            os._exit(1)
        if on_invoke.startswith("sleep:"):
            time.sleep(float(on_invoke.split(":", 1)[1]))


def shutdown(event: dict[str, Any]) -> None:
    mode = CONFIG.get("on_shutdown", "exit")
    if mode == "hang":
        time.sleep(3600)
    if mode == "drain":
        requests = {
            e.get("body", {}).get("requestId")
            for e in RECORD["events"]
            if isinstance(e.get("body"), dict) and e["body"].get("eventType") == "INVOKE"
        }
        stop_at = event["deadlineMs"] / 1000.0 - 0.3
        while time.time() < stop_at:
            with LOCK:
                reported = {
                    e["record"].get("requestId")
                    for batch in RECORD["telemetry"]
                    for e in batch["body"]
                    if e["type"] == "platform.report"
                }
            if requests <= reported and len(reported) >= CONFIG.get("drain_reports", 0):
                break
            time.sleep(0.02)
    RECORD["exited_ms"] = time.time() * 1000
    save()
    sys.exit(0)


if __name__ == "__main__":
    main()
