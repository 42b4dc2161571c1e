"""Where the telemetry listener binds: the address Lambda posts from, never all interfaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from extension.sources.telemetry_api import sockets


@pytest.mark.parametrize(
    ("hosts", "runtime_api", "expected"),
    [
        ("127.0.0.1 localhost\n", "127.0.0.1:9001", "127.0.0.1"),  # real Lambda without an entry
        ("127.0.0.1 localhost\n", "169.254.100.1:9001", "169.254.100.1"),
        ("127.0.0.1 localhost\n", "0.0.0.0:9001", "127.0.0.1"),
        ("127.0.0.1 localhost\n", "localhost:9001", "127.0.0.1"),
        ("169.254.79.129 sandbox.localdomain sandbox # Lambda\n", "127.0.0.1:9001", "169.254.79.129"),
        ("::1 sandbox.localdomain\n", "127.0.0.1:9001", "127.0.0.1"),
    ],
)
def test_listener_address(tmp_path: Path, hosts: str, runtime_api: str, expected: str) -> None:
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(hosts)
    assert sockets.listener_address(runtime_api, str(hosts_file)) == expected


def test_bound_socket_is_never_on_all_interfaces() -> None:
    sock = sockets.bind_listener_socket(0, "127.0.0.1:9001")
    assert sock is not None
    try:
        assert sock.getsockname()[0] != "0.0.0.0"
    finally:
        sock.close()


def test_an_address_that_cannot_be_bound_falls_back_to_loopback() -> None:
    sock = sockets.bind_listener_socket(0, "192.0.2.1:9001")  # TEST-NET-1: not an address of ours
    assert sock is not None
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
