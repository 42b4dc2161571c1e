"""Pre-binding of the two cache listeners, done on the fast start-up path before `/register`.

Lambda starts the runtime's init right after the last extension registers; a function that reads a
secret in its init code must then find the port already accepting connections, so the sockets are
bound and put in listening state here (connections queue in the backlog until
`extension.http.server` serves them). Standard library only, and only what binding needs (no
`dataclasses`, no `extension.config`): this module is imported before `/register`, where every
import delays the function's init.
"""

from __future__ import annotations

import errno
import socket

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy honours the name)
if TYPE_CHECKING:
    from typing import Protocol

    class PortSettings(Protocol):
        """What binding reads: `config.CacheSettings`, or the fast path's early reading of it."""

        @property
        def secrets_port_enabled(self) -> bool: ...
        @property
        def secrets_port(self) -> int: ...
        @property
        def appconfig_port_enabled(self) -> bool: ...
        @property
        def appconfig_port(self) -> int: ...


LOOPBACK = "127.0.0.1"
BACKLOG = 128

_CONFLICTS = {
    "secrets": "the AWS Parameters and Secrets Lambda extension layer",
    "appconfig": "the AWS AppConfig Lambda extension layer (AppConfig agent)",
}


class BoundSockets:
    """Listening sockets handed to `CacheService`; None when disabled or the port was taken."""

    def __init__(
        self,
        secrets: socket.socket | None = None,
        appconfig: socket.socket | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.secrets = secrets
        self.appconfig = appconfig
        self.problems: list[str] = [] if problems is None else problems

    def __repr__(self) -> str:
        return (
            f"BoundSockets(secrets={self.secrets!r}, appconfig={self.appconfig!r}, "
            f"problems={self.problems!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoundSockets) and (self.secrets, self.appconfig, self.problems) == (
            other.secrets,
            other.appconfig,
            other.problems,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def close(self) -> None:
        for sock in (self.secrets, self.appconfig):
            if sock is not None:
                sock.close()
        self.secrets = self.appconfig = None


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Lets a restarted extension rebind over TIME_WAIT; does not allow two live listeners on Linux.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_one(kind: str, port: int, problems: list[str]) -> socket.socket | None:
    try:
        return _listen(port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            problems.append(
                f"cache port {port} ({kind}) is already in use on {LOOPBACK}, probably by "
                f"{_CONFLICTS[kind]}; this listener is disabled, the other one keeps running"
            )
        else:
            problems.append(f"cannot listen on {LOOPBACK}:{port} ({kind}): {exc.strerror or exc}")
        return None


def bind_cache_sockets(settings: PortSettings) -> BoundSockets:
    """Bind and listen on both cache ports (loopback only). Never raises: problems are returned."""
    # CACHE_ENABLED=false turns caching off (every request goes to AWS), not the endpoints (as P&S).
    bound = BoundSockets()
    if settings.secrets_port_enabled:
        bound.secrets = _bind_one("secrets", settings.secrets_port, bound.problems)
    if settings.appconfig_port_enabled:
        bound.appconfig = _bind_one("appconfig", settings.appconfig_port, bound.problems)
    return bound
