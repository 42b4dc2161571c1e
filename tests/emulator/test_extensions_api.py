"""Extensions API conformance: status codes, error types, limits, environment, launch rules."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from conftest import Layout, api_call

from emulator import LambdaEnvironment

pytestmark = pytest.mark.integration

REG = "/2020-01-01/extension/register"
NEXT = "/2020-01-01/extension/event/next"


def test_error_types_after_init(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs()) as env:
        api = env.runtime_api
        ext_id = layout.record("agent")["id"]
        own = {"Lambda-Extension-Identifier": ext_id}
        checks = {
            "empty name": api_call(api, "POST", REG, {"events": []}, {"Lambda-Extension-Name": ""}),
            "twice": api_call(api, "POST", REG, {"events": ["INVOKE"]}, {"Lambda-Extension-Name": "agent"}),
            "late internal": api_call(api, "POST", REG, {"events": []}, {"Lambda-Extension-Name": "late"}),
            "bad event": api_call(api, "POST", REG, {"events": ["FOO"]}, {"Lambda-Extension-Name": "x"}),
            "deprecated": api_call(
                api, "POST", REG, {"configurationKeys": ["a"]}, {"Lambda-Extension-Name": "x"}
            ),
            "not json": api_call(api, "POST", REG, b"{nope", {"Lambda-Extension-Name": "x"}),
            "no id": api_call(api, "GET", NEXT),
            "bad id": api_call(api, "GET", NEXT, None, {"Lambda-Extension-Identifier": "not-a-uuid"}),
            "unknown id": api_call(
                api, "GET", NEXT, None, {"Lambda-Extension-Identifier": str(uuid.uuid4())}
            ),
            "no error type": api_call(api, "POST", "/2020-01-01/extension/init/error", {}, own),
            "init error late": api_call(
                api,
                "POST",
                "/2020-01-01/extension/init/error",
                {},
                {**own, "Lambda-Extension-Function-Error-Type": "Extension.Late"},
            ),
            "subscribe late": api_call(api, "PUT", "/2022-07-01/telemetry", {}, own),
            "logs late": api_call(api, "PUT", "/2020-08-15/logs", {}, own),
            "subscribe unknown": api_call(
                api, "PUT", "/2022-07-01/telemetry", {}, {"Lambda-Extension-Identifier": str(uuid.uuid4())}
            ),
            "stale response": api_call(
                api, "POST", f"/2018-06-01/runtime/invocation/{uuid.uuid4()}/response", {}
            ),
            "runtime init error late": api_call(api, "POST", "/2018-06-01/runtime/init/error", {}),
        }
        assert env.invoke({}).status == "success"  # nothing above disturbed the environment
    got = {name: (status, body["errorType"]) for name, (status, body) in checks.items()}
    assert got == {
        "empty name": (403, "Extension.InvalidExtensionName"),
        "twice": (403, "Extension.InvalidExtensionState"),
        "late internal": (403, "Extension.RegistrationClosed"),
        "bad event": (403, "Extension.InvalidEventType"),
        "deprecated": (403, "InvalidRequestFormat"),
        "not json": (403, "InvalidRequestFormat"),
        "no id": (403, "Extension.MissingExtensionIdentifier"),
        "bad id": (403, "Extension.InvalidExtensionIdentifier"),
        "unknown id": (403, "Extension.UnknownExtensionIdentifier"),
        "no error type": (403, "Extension.MissingHeader"),
        "init error late": (403, "Extension.InvalidExtensionState"),
        "subscribe late": (403, "Telemetry.SubscriptionClosed"),
        "logs late": (403, "Logs.SubscriptionClosed"),
        "subscribe unknown": (403, "Extension.UnknownExtensionIdentifier"),
        "stale response": (400, "InvalidRequestID"),
        "runtime init error late": (403, "InvalidStateTransition"),
    }
    assert checks["bad event"][1]["errorMessage"] == "FOO: ErrorInvalidEventType"


def test_register_response_and_identifier(layout: Layout) -> None:
    layout.add_probe(
        "agent",
        init_probes=[
            {
                "method": "POST",
                "path": REG,
                "body": {"events": []},
                "headers": {"Lambda-Extension-Name": "agent"},
                "with_id": False,
            }
        ],
    )
    with LambdaEnvironment(**layout.kwargs(function_name="orders-api")):
        pass
    record = layout.record("agent")
    reg = record["register"]
    assert reg["status"] == 200
    uuid.UUID(reg["headers"]["Lambda-Extension-Identifier"])
    assert reg["body"] == {
        "functionName": "orders-api",
        "functionVersion": "$LATEST",
        "handler": "app.handler",
        "accountId": "123456789012",
    }
    # registering twice during init is an invalid state transition too
    assert record["probes"][0]["status"] == 403
    assert record["probes"][0]["body"]["errorType"] == "Extension.InvalidExtensionState"


def test_extension_and_runtime_environments(layout: Layout) -> None:
    layout.add_probe("agent")
    user_env = layout.env(CUSTOM_SETTING="on", AWS_REGION="eu-west-1")
    with LambdaEnvironment(**layout.kwargs(env=user_env, memory_mb=256)) as env:
        runtime_view = env.invoke({}).response["env"]
    record = layout.record("agent")
    ext_env = record["env"]
    for hidden in (
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_EXECUTION_ENV",
        "AWS_XRAY_DAEMON_ADDRESS",
        "PYTHONPATH",
    ):
        assert hidden not in ext_env, hidden
    assert not [k for k in ext_env if k.startswith("_")]
    assert ext_env["AWS_LAMBDA_RUNTIME_API"] == env.runtime_api
    assert ext_env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert ext_env["AWS_REGION"] == "eu-west-1" and ext_env["CUSTOM_SETTING"] == "on"
    assert ext_env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "TZ", "LANG"):
        assert ext_env[key]
    # extensions run a python3 found first on PATH (like /var/lang/bin) that sees only the
    # standard library: not the emulator's venv, not packages of the host interpreter
    lang_bin = ext_env["PATH"].split(os.pathsep)[0]
    assert lang_bin.endswith("lang/bin") and record["python"].startswith(lang_bin)
    assert record["importable"] == {"aiohttp": False, "awslambdaric": False, "boto3": False}
    assert not [p for p in record["sys_path"] if p.startswith(sys.prefix) and sys.prefix != sys.base_prefix]
    assert runtime_view["_HANDLER"] == "app.handler"
    assert runtime_view["LAMBDA_TASK_ROOT"] == str(layout.task)
    assert runtime_view["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/sample-function"
    assert runtime_view["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"


def test_launch_rules_order_groups_and_subdirectories(layout: Layout) -> None:
    for name in ("zeta", "alpha", "mid"):
        layout.add_probe(name)
    (layout.opt / "extensions" / "subdir").mkdir()
    (layout.opt / "extensions" / "subdir" / "ignored").write_text("#!/bin/sh\nexit 1\n")
    with LambdaEnvironment(**layout.kwargs()) as env:
        pids = env.pids
        groups = {name: os.getpgid(pid) for name, pid in pids.items()}
    assert groups == pids  # every process leads its own process group
    names = [e["record"]["name"] for e in env.events if e["type"] == "platform.extension"]
    assert names == ["alpha", "mid", "zeta"]
    assert all(e["record"]["state"] == "Ready" for e in env.events if e["type"] == "platform.extension")


def test_non_executable_extension_is_a_launch_error(layout: Layout) -> None:
    layout.add_probe("agent")
    (layout.opt / "extensions" / "broken").write_text("not a program\n")
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({})
    assert result.status == "error" and result.response["errorType"] == "Extension.LaunchError"
    ext = [
        e["record"]
        for e in env.events
        if e["type"] == "platform.extension" and e["record"]["name"] == "broken"
    ]
    assert ext[0]["state"] == "LaunchError"


def test_more_than_ten_extensions_fail_init(layout: Layout) -> None:
    for i in range(11):
        layout.add_probe(f"ext{i:02d}")
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({})
    assert result.status == "error" and result.response["errorType"] == "Extension.TooManyExtensions"


def test_internal_registration_beyond_ten_is_rejected(layout: Layout) -> None:
    for i in range(10):
        layout.add_probe(f"ext{i:02d}", events=["SHUTDOWN"])
    env_vars = layout.env(PROBE_INTERNAL_EXTENSION="in-process")
    with LambdaEnvironment(**layout.kwargs(env=env_vars)) as env:
        assert env.invoke({}).status == "success"
    import json

    internal = json.loads(Path(layout.probe_dir / "internal.json").read_text())
    assert internal["status"] == 403 and internal["body"]["errorType"] == "Extension.TooManyExtensions"
