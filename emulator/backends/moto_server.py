"""A real moto server on 127.0.0.1 (random port) for Secrets Manager and SSM integration tests.

`with moto_server() as url:` runs `moto.server.ThreadedMotoServer` in a background thread of the
test process (moto's own server, the same HTTP surface botocore talks to) and yields its URL.
Point the extension at it with `AWS_ENDPOINT_URL=<url>` (or the per-service variables) and any
fake credentials. `boto3_client(url, service)` gives a client for arranging test data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

TEST_REGION = "us-east-1"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its backends in process-wide state: start every server empty.
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).read()
    try:
        yield url
    finally:
        server.stop()


def boto3_client(url: str, service: str, region: str = TEST_REGION) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def reset(url: str) -> None:
    """Forget every resource (moto's reset API), so tests sharing one server stay independent."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5).read()
