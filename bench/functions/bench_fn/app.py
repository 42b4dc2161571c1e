"""The function the benchmarks run (one handler, behaviour chosen by the event).

- `{}`: print two short lines and return (a typical small function; overhead benchmark);
- `{"lines": N, "via": "print"|"logging"}`: N numbered lines `bench-line <request id> <i> ...`
  (throughput; with AWS_LAMBDA_LOG_FORMAT=JSON, `logging` lines are JSON records);
- `{"cache": N}`: N reads of the same secret through port 2773 with urllib (a new connection per
  call, as AWS documents), then with one `requests.Session`, then N direct boto3 calls to the
  endpoint in BENCH_BOTO3_ENDPOINT (else AWS_ENDPOINT_URL); returns the latencies in ms.
  With BENCH_INIT_READS=1 the module
  reads BENCH_SECRET_PREFETCHED and BENCH_SECRET_COLD once at import (the function's init) and
  the first `cache` invoke reports those timings and the X-Cache header of each.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

logger = logging.getLogger("bench")
logger.setLevel(logging.INFO)

PORT = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")
ENDPOINT = f"http://localhost:{PORT}/secretsmanager/get"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _token() -> dict[str, str]:
    return {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")}


def _read_urllib(secret_id: str) -> tuple[float, str]:
    url = f"{ENDPOINT}?{urllib.parse.urlencode({'secretId': secret_id})}"
    start = time.perf_counter()
    with _opener.open(urllib.request.Request(url, headers=_token()), timeout=10) as response:
        response.read()
        cache = response.headers.get("X-Cache", "")
    return (time.perf_counter() - start) * 1000, cache


INIT_READS: dict[str, Any] = {}
if os.environ.get("BENCH_INIT_READS") == "1":
    for key in ("BENCH_SECRET_PREFETCHED", "BENCH_SECRET_COLD"):
        ms, cache = _read_urllib(os.environ[key])
        INIT_READS[key] = {"ms": ms, "x_cache": cache}


def _cache(n: int, secret_id: str) -> dict[str, Any]:
    import boto3
    import requests

    out: dict[str, Any] = {"init_reads": INIT_READS}
    if n <= 0:
        return out
    out["urllib"] = [_read_urllib(secret_id)[0] for _ in range(n)]
    session = requests.Session()
    session.trust_env = False
    lat = []
    for _ in range(n):
        start = time.perf_counter()
        r = session.get(ENDPOINT, params={"secretId": secret_id}, headers=_token(), timeout=10)
        r.content  # noqa: B018  (read the body)
        lat.append((time.perf_counter() - start) * 1000)
    out["requests_session"] = lat
    endpoint = os.environ.get("BENCH_BOTO3_ENDPOINT") or os.environ["AWS_ENDPOINT_URL"]
    client = boto3.client("secretsmanager", endpoint_url=endpoint)
    client.get_secret_value(SecretId=secret_id)  # first call builds the connection pool
    lat = []
    for _ in range(n):
        start = time.perf_counter()
        client.get_secret_value(SecretId=secret_id)
        lat.append((time.perf_counter() - start) * 1000)
    out["boto3_direct"] = lat
    return out


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rid = context.aws_request_id
    if "cache" in event:
        return _cache(int(event["cache"]), event.get("secret", os.environ.get("BENCH_SECRET_PREFETCHED", "")))
    lines = int(event.get("lines", 0))
    if lines:
        width = int(event.get("width", 100))
        pad = "x" * width
        if event.get("via") == "logging":
            for i in range(lines):
                logger.info("bench-line %s %d %s", rid, i, pad)
        else:
            for i in range(lines):
                print(f"bench-line {rid} {i} {pad}")
        sys.stdout.flush()
        return {"lines": lines}
    print(f"processing {rid}")
    logger.info("done %s", rid)
    return {"ok": True}
