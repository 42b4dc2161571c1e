"""Security: loopback-only listeners, a token check that cannot be bypassed, a canary secret that
never leaks, and redaction applied to log records before export."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.moto_server import TEST_CREDENTIALS, boto3_client, moto_server
from emulator.backends.otlp_receivers import OtlpHttpReceiver, unused_port
from tests.integration.helpers import invocation_spans, sidecar_env
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    EXTENSION,
    body_text,
    http_request,
    listener_path,
    listener_port,
    make_function,
    quiet,
    shutdown_summaries,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SESSION_TOKEN = "session-token-Value-42"
CANARY = f"CANARY-{uuid.uuid4().hex}"
SECRET = "reliability/canary"
JSON_SECRET = "reliability/canary-json"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        sm = boto3_client(url, "secretsmanager")
        sm.create_secret(Name=SECRET, SecretString=CANARY)
        sm.create_secret(Name=JSON_SECRET, SecretString=json.dumps({"password": CANARY}))
        yield url


def _other_addresses() -> list[tuple[int, str]]:
    """Addresses of this machine other than 127.0.0.1 (family, address)."""
    out: list[tuple[int, str]] = [(socket.AF_INET, "127.0.0.2")]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
            address = s.getsockname()[0]
        if not address.startswith("127.") and _is_local(address):
            out.append((socket.AF_INET, address))
    except OSError:
        pass
    if socket.has_ipv6:
        out.append((socket.AF_INET6, "::1"))
    return out


def _is_local(address: str) -> bool:
    """Only an address this machine owns can be bound: never send a connection anywhere else."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
            return True
        except OSError:
            return False


def _connects(family: int, address: str, port: int) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect((address, port))
            return True
        except OSError:
            return False


def _env(
    tmp_path: Path, rx: OtlpHttpReceiver, moto_url: str, secrets_port: int, appconfig_port: int
) -> dict[str, str]:
    return sidecar_env(
        rx.endpoint,
        tmp_path,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(secrets_port),
        AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(appconfig_port),
        AWS_ENDPOINT_URL=moto_url,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
        SIDECAR_EXPORTERS="otlp,file,stdout",
        SIDECAR_STDOUT_SIGNALS="metrics,spans,logs",
        SIDECAR_FILE_PATH=str(tmp_path / "export.jsonl"),  # under /tmp: searched for the canary
        SIDECAR_LOG_LEVEL="debug",
        **TEST_CREDENTIALS,
    )


def test_ports_and_token(built_layer: Path, tmp_path: Path, case: CaseRecord, moto: str) -> None:
    secrets_port, appconfig_port = unused_port(), unused_port()
    url = f"/secretsmanager/get?secretId={SECRET}"
    tok = "X-Aws-Parameters-Secrets-Token"
    attempts: dict[str, tuple[dict[str, str], str, int]] = {
        "no token": ({}, url, 403),
        "wrong token": ({tok: "not-the-token"}, url, 403),
        "empty token": ({tok: ""}, url, 403),
        "token value in other case": ({tok: SESSION_TOKEN.upper()}, url, 403),
        "token value with a prefix": ({tok: "x" + SESSION_TOKEN}, url, 403),
        "token as a prefix of the value": ({tok: SESSION_TOKEN + "x"}, url, 403),
        "token in the query string": ({}, f"{url}&{tok}={SESSION_TOKEN}", 403),
        "token in another header": ({"Authorization": SESSION_TOKEN}, url, 403),
        "right token + X-Forwarded-For": ({tok: SESSION_TOKEN, "X-Forwarded-For": "10.0.0.1"}, url, 400),
        "right token + x-forwarded-for": ({tok: SESSION_TOKEN, "x-forwarded-for": "127.0.0.1"}, url, 400),
        "header name lower case": ({tok.lower(): SESSION_TOKEN}, url, 200),
        "header name upper case": ({tok.upper(): SESSION_TOKEN}, url, 200),
        "right token": ({tok: SESSION_TOKEN}, url, 200),
    }
    with OtlpHttpReceiver() as rx:
        env = _env(tmp_path, rx, moto, secrets_port, appconfig_port)
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
        ) as lam:
            lam.invoke({"tag": "sec"})
            ports = {"2773": secrets_port, "2772": appconfig_port, "telemetry": listener_port(lam)}
            reachable = {
                f"{name} on {address}": _connects(family, address, port)
                for name, port in ports.items()
                for family, address in [(socket.AF_INET, "127.0.0.1"), *_other_addresses()]
            }
            answers = {
                what: http_request(secrets_port, "GET", path, hdrs)
                for what, (hdrs, path, _) in attempts.items()
            }
            lam.spindown()
            summary = shutdown_summaries(lam)[-1]
    statuses = {what: status for what, (status, _) in answers.items()}
    others = {k: v for k, v in reachable.items() if "127.0.0.1" not in k}
    case.set(
        "Security",
        "listeners on 127.0.0.1 only; token check",
        load="1 invoke; connection attempts to every other local address; 13 token variants",
        bad_inputs="; ".join(attempts),
        lost="n/a",
    )
    case.figure(
        addresses_tried=sorted({k.split(" on ")[1] for k in reachable}),
        reachable_elsewhere=[k for k, v in others.items() if v],
        statuses=statuses,
        rejected_token=summary.get("cache_rejected{token}", 0),
    )
    assert all(v for k, v in reachable.items() if "127.0.0.1" in k), reachable
    assert not any(others.values()), others
    for what, (_, _, want) in attempts.items():
        assert statuses[what] == want, (what, answers[what][1][-300:])
    for status, body in answers.values():
        assert SESSION_TOKEN.encode() not in body.split(b"\r\n\r\n", 1)[-1]  # never echoed
        if status != 200:
            assert CANARY.encode() not in body
    assert summary.get("cache_rejected{token}", 0) == sum(1 for *_, want in attempts.values() if want == 403)


def _files_containing(needle: bytes, root: Path, since: float) -> list[str]:
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
                if (
                    not path.is_file()
                    or path.is_symlink()
                    or st.st_mtime < since
                    or st.st_size > 64 * 1024 * 1024
                ):
                    continue
                if needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                continue
    return hits


def test_canary_secret_never_leaks(built_layer: Path, tmp_path: Path, case: CaseRecord, moto: str) -> None:
    started = time.time() - 1
    secrets_port, appconfig_port = unused_port(), unused_port()
    base = f"http://127.0.0.1:{secrets_port}"
    with OtlpHttpReceiver() as rx:
        env = _env(tmp_path, rx, moto, secrets_port, appconfig_port)
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, freeze=True, echo_output=quiet
        ) as lam:
            results = [
                lam.invoke(
                    {"tag": "canary", "n": n, "secret_url": f"{base}/secretsmanager/get?secretId={SECRET}"}
                )
                for n in range(3)
            ]
            results.append(
                lam.invoke(
                    {"tag": "canary", "n": 9, "secret_url": f"{base}/secretsmanager/get?secretId=missing"}
                )
            )
            lam.spindown()
            lam_bodies = [json.dumps(lam.events), "\n".join(line for _, line in lam.output_lines)]
            lam_bodies += [json.dumps(r.response) for r in results]
        # error bodies of the endpoint for requests around the secret (served by a fresh run)
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
        ) as lam2:
            lam2.invoke({"tag": "canary", "n": 10})
            tok = {"X-Aws-Parameters-Secrets-Token": SESSION_TOKEN}
            errors = [
                http_request(
                    secrets_port, "GET", f"/secretsmanager/get?secretId={SECRET}&jsonKey=password", tok
                ),
                http_request(
                    secrets_port, "GET", f"/secretsmanager/get?secretId={JSON_SECRET}&jsonKey=nope", tok
                ),
                http_request(
                    secrets_port, "GET", f"/secretsmanager/get?secretId={JSON_SECRET}&versionId=bad", tok
                ),
                http_request(
                    secrets_port, "GET", f"/secretsmanager/get?secretId={SECRET}&refreshNow=maybe", tok
                ),
                http_request(secrets_port, "GET", f"/secretsmanager/get?secretId={SECRET}", {}),
                http_request(
                    secrets_port,
                    "POST",
                    "/sidecar/v1/batch",
                    {**tok, "Content-Type": "application/json"},
                    json.dumps({"secrets": [SECRET, {"secretId": JSON_SECRET, "versionStage": 5}]}).encode(),
                ),
            ]
            lam2.spindown()
            lam_bodies.append("\n".join(line for _, line in lam2.output_lines))
        exported = [r.body for r in rx.requests]
    needle = CANARY.encode()
    probe = tmp_path / "probe.bin"
    probe.write_bytes(b"x" + needle[::-1])
    assert _files_containing(needle[::-1], Path("/tmp"), started) == [str(probe)]  # the search works
    assert (tmp_path / "export.jsonl").stat().st_size > 0  # the file exporter wrote under /tmp
    error_bodies = [body for status, body in errors if status != 200]
    leaks = {
        "logs and telemetry": any(CANARY in b for b in lam_bodies),
        "exports": any(needle in b for b in exported),
        "error bodies": any(needle in b for b in error_bodies),
        "files under /tmp": _files_containing(needle, Path("/tmp"), started),
    }
    case.set(
        "Security",
        "canary secret read by the function through 2773",
        load="4 invokes reading the secret (freeze), 6 error requests around it, debug logging, "
        "otlp + file + stdout exporters",
        bad_inputs="jsonKey on a non-JSON secret, unknown jsonKey, bad versionId, bad refreshNow, no token, batch",
        lost="n/a; canary found in: " + (", ".join(k for k, v in leaks.items() if v) or "nowhere"),
    )
    case.figure(
        exports_searched=len(exported),
        error_bodies_searched=len(error_bodies),
        telemetry_events_searched=len(json.loads(lam_bodies[0])),
        leaks={k: bool(v) for k, v in leaks.items()},
    )
    assert [r.status for r in results[:3]] == ["success"] * 3
    assert results[0].response == {"secret_length": len(CANARY)}  # the function did read it
    assert len(error_bodies) >= 5
    assert not any(leaks.values()), leaks


REDACT_LINES = {
    "aws key id": ("key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    "secret access key": (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY done",
        "wJalrXUtnFEMI/K7MDENG",
    ),
    "bearer token": ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    "basic auth": ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    "custom pattern": ("order-secret-12345 shipped", "order-secret-12345"),
}


def test_redaction_applied_to_log_records(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_REDACT_PATTERNS=r"order-secret-\d+")
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
        ) as lam:
            for what, (line, _) in REDACT_LINES.items():
                lam.invoke({"tag": "redact", "lines": 0, "say": f"rel-redact {what}: {line}"})
                lam.invoke(
                    {
                        "tag": "redact",
                        "lines": 0,
                        "say": json.dumps({"message": f"rel-redact-json {what}: {line}"}),
                    }
                )
            lam.spindown()
        bodies = [body_text(r) for r in rx.logs()]
        raw = b"".join(r.body for r in rx.requests)
    ours = [b for b in bodies if b.startswith("rel-redact")]
    case.set(
        "Security",
        "redaction of log records",
        load=f"{2 * len(REDACT_LINES)} log records (text and JSON)",
        bad_inputs=", ".join(REDACT_LINES),
        lost="n/a; secrets replaced by [REDACTED] before export",
    )
    case.figure(records=len(ours), redacted=sum("[REDACTED]" in b for b in ours))
    assert len(ours) == 2 * len(REDACT_LINES), bodies
    assert all("[REDACTED]" in b for b in ours), ours
    for _, secret in REDACT_LINES.values():
        assert secret.encode() not in raw, secret
    assert EXTENSION  # the extension name is shared with the other cases


def test_only_lambda_can_post_telemetry(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    """A process in the environment that finds the listener's port cannot forge platform events:
    only the secret path Lambda was given is served, every other one is 404 with an empty body."""
    forged_id = f"forged-{uuid.uuid4()}"
    t = "2026-01-01T00:00:00.000Z"
    metrics = {"durationMs": 1.0, "billedDurationMs": 1, "memorySizeMB": 128, "maxMemoryUsedMB": 1}
    forged = json.dumps(
        [
            {"time": t, "type": "platform.start", "record": {"requestId": forged_id, "version": "$LATEST"}},
            {
                "time": t,
                "type": "platform.report",
                "record": {"requestId": forged_id, "status": "error", "metrics": metrics},
            },
        ]
    ).encode()
    guesses = ["/", "/telemetry", "/2022-07-01/telemetry", "/" + "0" * 32]
    with OtlpHttpReceiver() as rx:
        with LambdaEnvironment(
            built_layer,
            make_function(tmp_path),
            "app.handler",
            env=sidecar_env(rx.endpoint, tmp_path),
            echo_output=quiet,
        ) as lam:
            first = lam.invoke({"tag": "forge", "n": 0})
            port, secret = listener_port(lam), listener_path(lam)
            answers = {
                p: http_request(port, "POST", p, {"Content-Type": "application/json"}, forged)
                for p in guesses
            }
            second = lam.invoke({"tag": "forge", "n": 1})
            lam.spindown()
            summary = shutdown_summaries(lam)[-1]
            output = "\n".join(line for _, line in lam.output_lines)
        spans = invocation_spans(rx.spans())
    case.set(
        "Security",
        "forged Telemetry API posts from inside the environment",
        load="2 invokes around the forged posts",
        bad_inputs="platform.start/report for a made-up request id posted to " + ", ".join(guesses),
        lost="n/a",
    )
    case.figure(
        statuses={p: s for p, (s, _) in answers.items()},
        rejected_path=summary.get("telemetry_rejected{path}", 0),
    )
    assert first.status == second.status == "success"
    for path, (status, raw) in answers.items():
        assert status == 404 and raw.split(b"\r\n\r\n", 1)[1] == b"", (path, raw[:300])
    assert summary.get("telemetry_rejected{path}", 0) == len(guesses)
    assert forged_id not in spans and {first.request_id, second.request_id} <= set(spans)
    assert len(secret) == 33 and secret not in output  # never logged


def test_slow_clients_cannot_hold_connections(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    """A client that never finishes its headers (or its body) is disconnected by every listener."""
    from extension.http.server import READ_TIMEOUT_S

    secrets_port, appconfig_port = unused_port(), unused_port()
    env = sidecar_env(
        None,
        tmp_path,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(secrets_port),
        AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(appconfig_port),
        SIDECAR_EXPORTERS="file",
        SIDECAR_FILE_PATH=str(tmp_path / "out.jsonl"),
    )
    partial = {
        "headers": b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        "body": b"POST /sidecar/v1/batch HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
    }
    with LambdaEnvironment(
        built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
    ) as lam:
        first = lam.invoke({"tag": "slow", "n": 0})
        ports = {"2773": secrets_port, "2772": appconfig_port, "telemetry": listener_port(lam)}
        conns = {}  # all at once: each listener times them out on its own clock
        for name, port in ports.items():
            for what, raw in partial.items():
                s = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S * 6)
                s.sendall(raw)
                conns[f"{name} {what}"] = s
        closed: dict[str, bytes | None] = {}
        for key, s in conns.items():
            with s:
                try:
                    closed[key] = s.recv(65536)  # b"": the server closed it
                except TimeoutError:
                    closed[key] = None  # still held open: the failure
        second = lam.invoke({"tag": "slow", "n": 1})
        lam.spindown()
        summary = shutdown_summaries(lam)[-1]
    case.set(
        "Security",
        "slow clients (headers or body never finished) on every listener",
        load="1 connection per listener and kind, 2 invokes around them",
        bad_inputs="; ".join(partial),
        lost="n/a",
    )
    case.figure(closed={k: v == b"" for k, v in closed.items()})
    assert first.status == second.status == "success"
    assert closed == {k: b"" for k in closed}, closed
    assert summary.get("cache_rejected{read_timeout}", 0) == 4
    assert summary.get("telemetry_rejected{read_timeout}", 0) == 2
