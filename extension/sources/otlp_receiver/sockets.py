"""Binding the OTLP receiver's socket on the fast path, before `/register` (standard library only).

A function may export during its own init (an SDK set up at import time flushes there), and
Lambda starts that init as soon as the last extension registers: the port must already accept
connections then. Like the cache ports (extension/cache/sockets.py), connections wait in the
backlog until the app serves them. Loopback only: only the function should reach it.
"""

from __future__ import annotations

import errno
import socket

LOOPBACK = "127.0.0.1"
BACKLOG = 128


def bind_receiver_socket(port: int, problems: list[str]) -> socket.socket | None:
    """Bind and listen on 127.0.0.1:`port`; None (and a line in `problems`) when that fails, e.g.
    because another layer (the OpenTelemetry collector layer, ADOT) already listens there."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
        return sock
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            problems.append(
                f"OTLP receiver port {port} is already in use on {LOOPBACK} (another collector layer?); "
                "the receiver is disabled, the function's telemetry goes to whoever listens there"
            )
        else:
            problems.append(f"cannot listen on {LOOPBACK}:{port} (OTLP receiver): {exc.strerror or exc}")
        return None
