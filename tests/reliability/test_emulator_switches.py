"""The emulator switches this suite added: a Telemetry API that answers 202 "not supported"
(as AWS's RIE does) or refuses every subscription with a given status."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from tests.reliability.support import make_function, quiet

pytestmark = pytest.mark.integration

PROBE = """#!/usr/bin/env python3
import json, os, urllib.request, urllib.error
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
def call(method, path, body=None, headers=None):
    req = urllib.request.Request(api + path, method=method, headers=headers or {},
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
status, headers, _ = call("POST", "/2020-01-01/extension/register", {"events": ["SHUTDOWN"]},
                          {"Lambda-Extension-Name": "probe"})
ident = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
body = {"schemaVersion": "2022-12-13", "types": ["platform"],
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/x"}}
status, _, answer = call("PUT", "/2022-07-01/telemetry", body, ident)
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump({"status": status, "body": json.loads(answer)}, f)
while json.loads(call("GET", "/2020-01-01/extension/event/next", None, ident)[2])["eventType"] != "SHUTDOWN":
    pass
"""


@pytest.mark.parametrize(
    ("supported", "refusal", "status", "error_type"),
    [
        (False, None, 202, "Telemetry.NotSupported"),
        (True, 403, 403, "Telemetry.Refused"),
        (True, 500, 500, "Telemetry.Refused"),
        (True, None, 200, None),
    ],
)
def test_telemetry_api_switches(
    tmp_path: Path, supported: bool, refusal: int | None, status: int, error_type: str | None
) -> None:
    opt = tmp_path / "opt"
    (opt / "extensions").mkdir(parents=True)
    probe = opt / "extensions" / "probe"
    probe.write_text(textwrap.dedent(PROBE))
    probe.chmod(probe.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "probe.json"
    env = {"PROBE_OUT": str(out)}
    with LambdaEnvironment(
        opt,
        make_function(tmp_path),
        "app.handler",
        env=env,
        echo_output=quiet,
        telemetry_api_supported=supported,
        telemetry_api_refusal=refusal,
    ) as lam:
        result = lam.invoke({})
    seen = json.loads(out.read_text())
    assert result.status == "success"
    assert seen["status"] == status
    if error_type:
        assert seen["body"]["errorType"] == error_type
    assert os.environ.get("PROBE_OUT") is None  # the variable went to the extension only


REGISTER_PROBE = """#!/usr/bin/env python3
import json, os, urllib.request, urllib.error
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
def register(events):
    req = urllib.request.Request(api + "/2020-01-01/extension/register", method="POST",
                                 headers={"Lambda-Extension-Name": "probe"},
                                 data=json.dumps({"events": events}).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), {}
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())
seen = []
for events in (["INVOKE", "SHUTDOWN"], ["INVOKE", "SHUTDOWN"], ["SHUTDOWN"]):
    status, headers, body = register(events)
    seen.append([status, body.get("errorType")])
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump(seen, f)
ident = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
req = urllib.request.Request(api + "/2020-01-01/extension/event/next", headers=ident)
while json.loads(urllib.request.urlopen(req).read())["eventType"] != "SHUTDOWN":
    pass
"""


def test_register_switches(tmp_path: Path) -> None:
    """`register_refusals` answers the first register calls; `extension_events` refuses INVOKE
    with 403 Extension.InvalidEventType, as Lambda Managed Instances does."""
    opt = tmp_path / "opt"
    (opt / "extensions").mkdir(parents=True)
    probe = opt / "extensions" / "probe"
    probe.write_text(REGISTER_PROBE)
    probe.chmod(probe.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "probe.json"
    with LambdaEnvironment(
        opt,
        make_function(tmp_path),
        "app.handler",
        env={"PROBE_OUT": str(out)},
        echo_output=quiet,
        extension_events=("SHUTDOWN",),
        register_refusals=(500,),
    ) as lam:
        result = lam.invoke({})
        lam.spindown()
        outcome = lam.extension_outcomes["probe"]
    assert json.loads(out.read_text()) == [
        [500, "Extension.Refused"],
        [403, "Extension.InvalidEventType"],
        [200, None],
    ]
    assert result.status == "success"
    assert outcome.events == ["SHUTDOWN"] and outcome.exit_code == 0
