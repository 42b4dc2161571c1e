"""The null extension: register for INVOKE and SHUTDOWN, then wait on /event/next until SHUTDOWN.

Standard library only (http.client + json, the straightforward way to write a Python extension);
it does no work per event, so it is the floor any Python extension pays: interpreter start-up,
one register call and one long-poll per invoke.
"""

import http.client
import json
import os
import sys

NAME = "null-extension"
PREFIX = "/2020-01-01/extension"


def main() -> int:
    conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    conn.request(
        "POST",
        PREFIX + "/register",
        json.dumps({"events": ["INVOKE", "SHUTDOWN"]}),
        {"Lambda-Extension-Name": NAME, "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    resp.read()
    ext_id = resp.getheader("Lambda-Extension-Identifier") or ""
    if resp.status != 200:
        return 1
    while True:
        conn.request("GET", PREFIX + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or json.loads(body).get("eventType") == "SHUTDOWN":
            return 0


if __name__ == "__main__":
    sys.exit(main())
