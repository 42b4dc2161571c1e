"""Which outbound proxy an origin is reached through (`HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`).

The conventions of the AWS SDKs, curl and Go's `net/http`: the https proxy for https origins
(reached through a CONNECT tunnel), the http proxy for http origins (absolute-form requests),
and `NO_PROXY`: host names (matching the name and its subdomains; a leading `.` or `*.` is
ignored), `host:port` entries, IP addresses, CIDR ranges, or `*` for everything. As in Go,
loopback destinations are never proxied. `config.py` reads and validates the variables.
"""

from __future__ import annotations

from dataclasses import dataclass

from extension.config import ProxySettings
from extension.http.client import Origin

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    return host == "::1" or host.startswith("127.")


def _matches(entry: str, origin: Origin) -> bool:
    host = origin.host.lower()
    if entry == "*":
        return True
    port: int | None = None
    name = entry
    if entry.startswith("["):  # [v6]:port
        name, _, rest = entry[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    elif entry.count(":") == 1:
        name, _, port_text = entry.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    if port is not None and port != origin.port:
        return False
    if "/" in name:
        import ipaddress  # only for CIDR entries

        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False)
        except ValueError:
            return False
    name = name.removeprefix("*").removeprefix(".")
    return bool(name) and (host == name or host.endswith("." + name))


@dataclass(frozen=True, slots=True)
class ProxyRules:
    """Which proxy (if any) an origin is reached through; usable as `HttpClient(proxy_for=...)`."""

    http: Origin | None = None
    https: Origin | None = None
    no_proxy: tuple[str, ...] = ()

    def __call__(self, origin: Origin) -> Origin | None:
        proxy = self.https if origin.scheme == "https" else self.http
        if proxy is None or _is_loopback(origin.host.lower()):
            return None
        if any(_matches(entry, origin) for entry in self.no_proxy):
            return None
        return proxy


def proxy_rules(settings: ProxySettings) -> ProxyRules | None:
    """The rules for `HttpClient(proxy_for=...)`; None when no proxy is configured."""
    https = Origin("http", *settings.https) if settings.https else None
    http = Origin("http", *settings.http) if settings.http else None
    if https is None and http is None:
        return None
    return ProxyRules(http, https, settings.no_proxy)
