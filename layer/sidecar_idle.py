"""Registered-but-idle mode for interpreters our code cannot run on (see sidecar_boot).

Lambda fails the function's init when an extension exits (Extension.Crash), even with exit code
0, and stalls it when an extension never registers. So on an unsupported Python we register for
SHUTDOWN only, wait in /event/next, and exit 0 when the SHUTDOWN event arrives: the function runs
as if the layer were absent. Standard library only, valid on Python 3.7+.
"""

from __future__ import annotations

import http.client
import json
import os
import sys

API_PREFIX = "/2020-01-01/extension"


def main(name: str, runtime_api: str | None = None) -> int:
    """Register as `name` (must equal the launcher's file name); return the exit code."""
    api = runtime_api or os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
    if not api:
        sys.stderr.write(f"[{name}] ERROR AWS_LAMBDA_RUNTIME_API is not set; not running in Lambda\n")
        return 1
    conn = http.client.HTTPConnection(api)
    try:
        conn.request(
            "POST",
            API_PREFIX + "/register",
            json.dumps({"events": ["SHUTDOWN"]}),
            {"Lambda-Extension-Name": name, "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        resp.read()
        ext_id = resp.getheader("Lambda-Extension-Identifier") or ""
        if resp.status != 200 or not ext_id:
            sys.stderr.write(f"[{name}] ERROR register failed: HTTP {resp.status}\n")
            return 1
        while True:
            conn.request("GET", API_PREFIX + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                sys.stderr.write(f"[{name}] ERROR event/next failed: HTTP {resp.status}\n")
                return 1
            if json.loads(body or b"{}").get("eventType") == "SHUTDOWN":
                return 0
    except (OSError, http.client.HTTPException, ValueError) as exc:
        sys.stderr.write(f"[{name}] ERROR Extensions API: {exc.__class__.__name__}\n")
        return 1
    finally:
        conn.close()
