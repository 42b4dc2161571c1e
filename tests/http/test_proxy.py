"""Proxy rules (pure) and an https request routed by them through a real CONNECT proxy."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from extension.config import ConfigError, from_env
from extension.exporters.factory import build_exporter
from extension.http.client import Origin
from extension.http.proxy import ProxyRules, proxy_rules
from tests.exporters import samples
from tests.http.test_client import WAIT_S, ConnectProxy, read_request

PROXY = Origin("http", "proxy.internal", 3128)


def rules(env: dict[str, str]) -> ProxyRules | None:
    return proxy_rules(from_env(env).proxy)


def test_variables() -> None:
    r = rules(
        {
            "HTTPS_PROXY": "http://proxy.internal:3128",
            "HTTP_PROXY": "proxy.internal:8080",
            "NO_PROXY": "X, ,y",
        }
    )
    assert r is not None and r.https == PROXY and r.http == Origin("http", "proxy.internal", 8080)
    assert r.no_proxy == ("x", "y")
    assert rules({}) is None and rules({"NO_PROXY": "*"}) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PROXY", "https://secure-proxy:443"),
        ("HTTP_PROXY", "http://user:pw@proxy:3128"),
        ("HTTPS_PROXY", "http://proxy:3128/path"),
        ("HTTPS_PROXY", "http://proxy:99999"),
    ],
)
def test_bad_proxy_values_fail_the_configuration_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_env({name: value})
    assert any(p.startswith(f"{name} ") for p in info.value.problems), info.value.problems
    assert all(value not in p and "pw" not in p for p in info.value.problems), "the value is never echoed"


@pytest.mark.parametrize(
    ("no_proxy", "url_host", "port", "bypass"),
    [
        ("", "api.example.com", 443, False),
        ("example.com", "api.example.com", 443, True),
        ("example.com", "example.com", 443, True),
        (".example.com", "api.example.com", 443, True),
        ("*.example.com", "api.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("example.com:8443", "api.example.com", 443, False),
        ("example.com:443", "api.example.com", 443, True),
        ("10.0.0.0/8", "10.1.2.3", 443, True),
        ("10.0.0.0/8", "11.1.2.3", 443, False),
        ("10.0.0.0/8", "api.example.com", 443, False),
        ("[2001:db8::1]:443", "2001:db8::1", 443, True),
        ("*", "anything.example", 443, True),
        ("", "127.0.0.1", 443, True),  # loopback is never proxied
        ("", "localhost", 443, True),
    ],
)
def test_no_proxy_matching(no_proxy: str, url_host: str, port: int, bypass: bool) -> None:
    r = rules({"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": no_proxy})
    assert r is not None
    assert r(Origin("https", url_host, port)) == (None if bypass else PROXY)


def test_scheme_selects_the_proxy() -> None:
    r = rules({"HTTPS_PROXY": "http://proxy.internal:3128"})
    assert r is not None
    assert r(Origin("https", "a.example", 443)) == PROXY
    assert r(Origin("http", "a.example", 80)) is None


def cert_for(name: str, directory: Path) -> tuple[str, str]:
    """A self-signed certificate for DNS name `name`: (certfile, keyfile)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(certfile), str(keyfile)


async def test_otlp_export_goes_through_the_configured_https_proxy(tmp_path: Path) -> None:
    """Configuration -> factory -> exporter -> client -> a real CONNECT proxy. `backend.test` (a
    reserved name that never resolves) is known only to the proxy, which maps it to the loopback
    server: the export can only succeed through the tunnel, TLS verified against the name."""
    cert, key = cert_for("backend.test", tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    heads: list[bytes] = []

    async def collector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            heads.append(head)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
            )
            await writer.drain()

    server = await asyncio.start_server(collector, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ConnectProxy(aliases={"backend.test": "127.0.0.1"}) as proxy:
            env = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://backend.test:{port}",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": cert,
                "HTTPS_PROXY": f"http://127.0.0.1:{proxy.origin.port}",
                "NO_PROXY": "direct.test",
            }
            exporter = build_exporter("otlp", from_env(env), None)
            assert exporter is not None
            await exporter.start()
            try:
                result = await exporter.export(samples.signals(), samples.RESOURCE, WAIT_S)
            finally:
                await exporter.shutdown()
            assert result.ok, result.reason
            assert {h.split(b" ")[1] for h in heads} == {b"/v1/traces", b"/v1/metrics", b"/v1/logs"}
            assert proxy.tunnels and set(proxy.tunnels) == {f"backend.test:{port}".encode()}
    finally:
        server.close()
