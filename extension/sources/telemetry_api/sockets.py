"""Binding the telemetry listener socket on the fast path (standard library only).

Lambda delivers to `http://sandbox.localdomain:<port>`. Inside a real execution environment that
name maps to an address of the sandbox; we bind the address /etc/hosts gives it (no DNS lookup
on the cold-start path). Without such an entry we bind the address Lambda's own agent serves the
Runtime API on (`AWS_LAMBDA_RUNTIME_API`, 127.0.0.1:9001 in Lambda): that agent is what posts
telemetry, and it reaches us there. Never all interfaces: only Lambda should reach the listener
(issue 18; the listener also checks a secret path).
"""

from __future__ import annotations

import socket

SANDBOX_HOST = "sandbox.localdomain"


def _hosts_address(name: str, hosts_file: str = "/etc/hosts") -> str | None:
    try:
        with open(hosts_file, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and name in fields[1:]:
                    return fields[0]
    except OSError:
        return None
    return None


def _runtime_api_host(runtime_api: str) -> str | None:
    """The IPv4 literal of `host:port` in AWS_LAMBDA_RUNTIME_API, else None (a name, IPv6)."""
    host = runtime_api.rpartition(":")[0]
    parts = host.split(".")
    if host == "0.0.0.0" or len(parts) != 4:
        return None
    if all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts):
        return host
    return None


def listener_address(runtime_api: str, hosts_file: str = "/etc/hosts") -> str:
    """The address to bind: /etc/hosts' entry for sandbox.localdomain, else the Runtime API's
    address (where Lambda's agent is), else loopback; never 0.0.0.0."""
    address = _hosts_address(SANDBOX_HOST, hosts_file)
    if address and ":" not in address:
        return address
    return _runtime_api_host(runtime_api) or "127.0.0.1"


def _listen(address: str, port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
        return sock
    except OSError:
        sock.close()
        return None


def bind_listener_socket(port: int, runtime_api: str) -> socket.socket | None:
    """Bind and listen now so Lambda's first POST can queue before the app has started. A taken
    port or an address we cannot bind must not cost us telemetry: any free port, then loopback."""
    address = listener_address(runtime_api)
    for host, number in dict.fromkeys(((address, port), (address, 0), ("127.0.0.1", 0))):
        sock = _listen(host, number)
        if sock is not None:
            return sock
    return None
