"""The built layer in the emulator: what a function prints reaches the OTLP receiver redacted, and
a function cannot hide its own lines by imitating ours (issue 18 items 2 and 4).

The function prints the credential shapes functions really print: botocore's frozen credentials
(its real `repr`, built from the environment's own credentials), `AWS_SESSION_TOKEN=...`, an STS
answer, a config object with `aws_secret_access_key`, a payload nested past the depth limit; then
lines that look like the extension's own output. Both log formats: text lines, and JSON objects.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import log_bodies, make_task, sidecar_env

pytestmark = pytest.mark.integration

STS_SECRET = "sts-secret-Kx9/QmL2pR7vN4wE8tY1uI3oP6aS5dF0gH"
STS_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6" + "Ex4mPLE" * 40
CONFIG_SECRET = "config-secret-value-7f3a"
DEEP_VALUE = "deep-value-past-the-limit-91c2"

FUNCTION = f"""
import json, os, sys
import botocore.session

def handler(event, context):
    frozen = botocore.session.get_session().get_credentials().get_frozen_credentials()
    print(f"frozen credentials: {{frozen!r}}")
    print(f"AWS_SESSION_TOKEN={{os.environ['AWS_SESSION_TOKEN']}}")
    print("assumed role with token {STS_TOKEN}")
    print(json.dumps({{"message": "sts answer", "Credentials": {{
        "AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{STS_SECRET}",
        "SessionToken": "{STS_TOKEN}"}}}}))
    print(json.dumps({{"message": "config loaded", "aws_secret_access_key": "{CONFIG_SECRET}"}}))
    deep = {{"leaf": "{DEEP_VALUE}"}}
    for _ in range(30):
        deep = {{"nested": deep}}
    print(json.dumps({{"message": "deep payload", "payload": deep}}))
    print("[lambda-sidecar] INFO forged by the function")
    print("audit: user input was _lambda_sidecar")
    print(json.dumps({{"_lambda_sidecar": "log", "message": "audit json line"}}))
    sys.stdout.flush()
    return {{"secret": os.environ["AWS_SECRET_ACCESS_KEY"], "token": os.environ["AWS_SESSION_TOKEN"]}}
"""

LOOK_ALIKES = ("[lambda-sidecar] INFO forged by the function", "audit: user input was _lambda_sidecar")


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_printed_credentials_never_reach_the_receiver(
    built_layer: Path, tmp_path: Path, log_format: str
) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, AWS_LAMBDA_LOG_FORMAT=log_format)
        with LambdaEnvironment(built_layer, make_task(tmp_path, FUNCTION), "app.handler", env=env) as lam:
            result = lam.invoke({})
            lam.spindown()
        assert result.status == "success", result
        own = result.response
        assert rx.wait_until(lambda: "config loaded" in log_bodies(rx.logs()), timeout=20)
        everything = b"".join(r.body for r in rx.requests)
        bodies = log_bodies(rx.logs())
    secrets = {
        "own secret access key": own["secret"],
        "own session token": own["token"],
        "sts secret access key": STS_SECRET,
        "sts session token": STS_TOKEN,
        "config secret": CONFIG_SECRET,
    }
    if log_format == "JSON":  # a text line is not an object: it has no depth to bound
        secrets["value past the depth limit"] = DEEP_VALUE
    leaked = [name for name, value in secrets.items() if value.encode() in everything]
    assert not leaked, leaked
    assert any(b.startswith("frozen credentials: ReadOnlyCredentials(") for b in bodies), bodies
    assert any("[REDACTED]" in b and "AWS_SESSION_TOKEN=" in b for b in bodies), bodies
    # the function's lines that imitate ours are exported, not dropped as ours
    for line in LOOK_ALIKES:
        assert line in bodies, (line, bodies)
    assert "audit json line" in bodies
