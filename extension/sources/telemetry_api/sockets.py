"""Binding the telemetry listener socket on the fast path (standard library only).

Lambda delivers to `http://sandbox.localdomain:<port>`. Inside a real execution environment that
name maps to an address of the sandbox; we bind the address /etc/hosts gives it (no DNS lookup
on the cold-start path), else 127.0.0.1 (the emulator maps the name to loopback).
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


def listener_address(runtime_api: str) -> str:
    """The address to bind: /etc/hosts' entry for sandbox.localdomain, else loopback; in real
    Lambda without such an entry (runtime API on 127.0.0.1:9001) all interfaces of the sandbox,
    which accepts no inbound traffic from outside."""
    address = _hosts_address(SANDBOX_HOST)
    if address and ":" not in address:
        return address
    if runtime_api == "127.0.0.1:9001":
        return "0.0.0.0"
    return "127.0.0.1"


def bind_listener_socket(port: int, runtime_api: str) -> socket.socket | None:
    """Bind and listen now so Lambda's first POST can queue before the app has started."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listener_address(runtime_api), port))
        sock.listen(128)
        sock.setblocking(False)
        return sock
    except OSError:
        sock.close()
        if port != 0:
            return bind_listener_socket(0, runtime_api)  # a taken port must not cost us telemetry
        return None
