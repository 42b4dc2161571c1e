"""The demo's stand-ins for AWS and for a telemetry backend, all on loopback.

- moto (Secrets Manager, SSM) and the AppConfig data-plane server, each behind a counting
  proxy (:mod:`emulator.backends.fault_proxy`), so the demo can say how many AWS calls the
  extension made for all the reads the functions did;
- the OTLP/HTTP receiver (:mod:`emulator.backends.otlp_receivers`) that decodes real protobuf.

The same backends serve the test suite and the benchmarks (:mod:`emulator.backends`).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emulator.backends.appconfig_server import AppConfigDataServer
from emulator.backends.fault_proxy import FaultProxy
from emulator.backends.moto_server import boto3_client, moto_server
from emulator.backends.otlp_receivers import OtlpHttpReceiver

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

SECRET_NAME = "demo/orders-db"
# A recognisable value: the demo test checks it never shows up in the summary, report or OTLP data.
SECRET_VALUE = '{"username": "orders", "password": "demo-S3cr3t-never-printed"}'
PARAMETER_NAME = "/demo/orders/table"
PARAMETER_VALUE = "orders-prod"
APPCONFIG = ("orders", "prod", "features")
FEATURE_FLAG = "new-checkout"
FLAGS_DOCUMENT = {"new-checkout": {"enabled": True}, "dark-mode": {"enabled": False}}


@dataclass
class Backends:
    moto_url: str
    appconfig_url: str
    aws_proxy: FaultProxy  # in front of moto
    appconfig_proxy: FaultProxy  # in front of the AppConfig data plane
    receiver: OtlpHttpReceiver

    def aws_calls(self) -> dict[str, int]:
        """Upstream calls the extension made, by operation (`secretsmanager.GetSecretValue`, ...)."""
        calls: dict[str, int] = {}
        for proxy in (self.aws_proxy, self.appconfig_proxy):
            for operation, count in dict(proxy.counts).items():
                name = _operation_name(operation)
                calls[name] = calls.get(name, 0) + count
        return calls


def _operation_name(operation: str) -> str:
    """`secretsmanager.GetSecretValue` from `X-Amz-Target`, AppConfigData's REST calls by name."""
    if operation.startswith("AmazonSSM."):
        return "ssm." + operation.split(".", 1)[1]
    if operation.startswith("secretsmanager."):
        return operation
    if operation == "POST /configurationsessions":
        return "appconfigdata.StartConfigurationSession"
    if operation == "GET /configuration":
        return "appconfigdata.GetLatestConfiguration"
    return operation


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cache_port(default: int) -> int:
    """The AWS default port when nothing listens on it, else any free port."""
    return default if port_free(default) else free_port()


def _seed_aws(moto_url: str) -> None:
    secrets = boto3_client(moto_url, "secretsmanager", REGION)
    secrets.create_secret(Name=SECRET_NAME, SecretString=SECRET_VALUE)
    ssm = boto3_client(moto_url, "ssm", REGION)
    ssm.put_parameter(Name=PARAMETER_NAME, Value=PARAMETER_VALUE, Type="String")


@contextlib.contextmanager
def running_backends() -> Iterator[Backends]:
    """Start everything, seed the secret, parameter and feature flags; stop it all on exit."""
    with contextlib.ExitStack() as stack:
        moto_url = stack.enter_context(moto_server())
        _seed_aws(moto_url)
        data_plane = stack.enter_context(AppConfigDataServer())
        data_plane.deploy(*APPCONFIG, json.dumps(FLAGS_DOCUMENT), version_label="v1")
        aws_proxy = stack.enter_context(FaultProxy(moto_url))
        appconfig_proxy = stack.enter_context(FaultProxy(data_plane.url))
        receiver = stack.enter_context(OtlpHttpReceiver())
        yield Backends(
            moto_url=moto_url,
            appconfig_url=data_plane.url,
            aws_proxy=aws_proxy,
            appconfig_proxy=appconfig_proxy,
            receiver=receiver,
        )
