"""Proxy rules (pure) and an https request routed by them through a real CONNECT proxy."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from extension.http.client import HttpClient, Origin
from extension.http.proxy import ProxyRules, parse_proxy_url, rules_from
from tests.http.test_client import WAIT_S, ConnectProxy, read_request

PROXY = Origin("http", "proxy.internal", 3128)


def test_variables_and_precedence() -> None:
    rules, problems = rules_from(
        {"HTTPS_PROXY": "http://proxy.internal:3128", "http_proxy": "proxy.internal:8080", "no_proxy": "x"}
    )
    assert problems == []
    assert rules.https == PROXY and rules.http == Origin("http", "proxy.internal", 8080)
    assert rules.no_proxy == ("x",)
    upper_wins, _ = rules_from({"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"})
    assert upper_wins.https == Origin("http", "a", 1)
    assert rules_from({})[0] == ProxyRules() and not ProxyRules().active


def test_bad_proxy_values_are_reported_with_their_variable() -> None:
    rules, problems = rules_from({"HTTPS_PROXY": "https://secure-proxy:443", "HTTP_PROXY": "http://u:p@h:1"})
    assert rules.https is None and rules.http is None
    assert [p.split(":")[0] for p in problems] == ["HTTPS_PROXY", "HTTP_PROXY"]
    with pytest.raises(ValueError):
        parse_proxy_url("http://proxy:3128/path")


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
    rules, _ = rules_from({"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": no_proxy})
    assert rules(Origin("https", url_host, port)) == (None if bypass else PROXY)


def test_scheme_selects_the_proxy() -> None:
    rules, _ = rules_from({"HTTPS_PROXY": "http://proxy.internal:3128"})
    assert rules(Origin("https", "a.example", 443)) == PROXY
    assert rules(Origin("http", "a.example", 80)) is None


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


async def test_https_request_follows_the_rules_through_a_connect_proxy(tmp_path: Path) -> None:
    """`backend.test` (a reserved name that never resolves) is known only to the proxy, which
    maps it to the loopback server: the request can only succeed through the CONNECT tunnel,
    with TLS verified end to end against the name."""
    cert, key = cert_for("backend.test", tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(head) + head)
        await writer.drain()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ConnectProxy(aliases={"backend.test": "127.0.0.1"}) as proxy:
            env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.origin.port}", "NO_PROXY": "direct.test"}
            rules, problems = rules_from(env)
            assert problems == []
            client = HttpClient(proxy_for=rules)
            resp = await client.request(
                "POST", f"https://backend.test:{port}/t", cafile=cert, timeout_s=WAIT_S
            )
            assert resp.body.startswith(b"POST /t HTTP/1.1\r\nHost: backend.test:")
            assert proxy.tunnels == [f"backend.test:{port}".encode()]
            assert rules(Origin("https", "direct.test", port)) is None  # NO_PROXY: direct
            await client.close()
    finally:
        server.close()
