"""Function code used by the emulator conformance tests (copied into the task dir as app.py).

The event says what to do; the response reports what the function saw (request id, deadline,
trace header, pid) so tests can compare it with what extensions saw.
"""

import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request

logger = logging.getLogger()
logger.setLevel(logging.INFO)

INTERNAL = os.environ.get("PROBE_INTERNAL_EXTENSION")
if INTERNAL:
    req = urllib.request.Request(
        f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2020-01-01/extension/register",
        data=json.dumps({"events": []}).encode(),
        method="POST",
        headers={"Lambda-Extension-Name": INTERNAL},
    )
    try:
        with urllib.request.urlopen(req) as resp:
            result = {"status": resp.status, "body": json.loads(resp.read())}
    except urllib.error.HTTPError as err:
        result = {"status": err.code, "body": json.loads(err.read())}
    with open(os.path.join(os.environ["PROBE_DIR"], "internal.json"), "w") as fh:
        json.dump(result, fh)


def wait_for_peers(barrier):
    """Meet ``count`` invocations in flight at once: drop a file, wait (bounded) for the others.

    Returns how many were seen. Only concurrent invocations can all see ``count``: one running
    alone waits out ``timeout`` and reports fewer.
    """
    folder = barrier["dir"]
    os.makedirs(folder, exist_ok=True)
    mine = os.path.join(folder, f"{os.getpid()}-{time.monotonic_ns()}")
    with open(mine, "w"):
        pass
    stop_at = time.monotonic() + barrier.get("timeout", 20)
    seen = len(os.listdir(folder))
    while seen < barrier["count"] and time.monotonic() < stop_at:
        time.sleep(0.01)
        seen = max(seen, len(os.listdir(folder)))
    if barrier.get("leave"):  # count only those in flight together
        os.remove(mine)
    return seen


def handler(event, context):
    if event.get("split_line"):  # half a line, then the peers meet, then the rest of the line
        first, rest = event["split_line"]
        sys.stdout.write(first)
        sys.stdout.flush()
    peers = wait_for_peers(event["barrier"]) if event.get("barrier") else None
    if event.get("split_line"):
        print(rest, flush=True)
    for line in event.get("print", []):
        print(line)
    for message in event.get("log", []):
        logger.info(message)
    if event.get("lines"):
        chunk = "x" * event.get("line_size", 100)
        sys.stdout.write("".join(f"{i} {chunk}\n" for i in range(event["lines"])))
    if event.get("alloc_mb"):
        blob = bytearray(event["alloc_mb"] * 1024 * 1024)
        blob[::4096] = b"y" * len(blob[::4096])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    burnt = None
    if event.get("burn_cpu_s"):
        started_cpu, started_wall = time.process_time(), time.monotonic()
        while time.process_time() - started_cpu < event["burn_cpu_s"]:
            sum(range(1000))
        burnt = {"cpu_s": time.process_time() - started_cpu, "wall_s": time.monotonic() - started_wall}
    if event.get("exit_later") is not None:
        threading.Timer(event["exit_later"], os._exit, args=(5,)).start()
    if event.get("crash") is not None:
        os._exit(event["crash"])
    if event.get("fail"):
        raise ValueError("probe failure")
    if event.get("return_bytes"):
        return "z" * event["return_bytes"]
    return {
        "requestId": context.aws_request_id,
        "deadlineMs": int(context._epoch_deadline_time_in_ms),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "pid": os.getpid(),
        "peers": peers,
        "burnt": burnt,
        "functionName": context.function_name,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_LAMBDA_", "_HANDLER", "LAMBDA_"))},
    }
