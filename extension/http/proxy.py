"""Outbound proxy rules from the conventional `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` values.

The same conventions the AWS SDKs, curl and Go's `net/http` follow: `HTTPS_PROXY` for https
origins (reached through a CONNECT tunnel), `HTTP_PROXY` for http origins (absolute-form
requests), upper- or lower-case names, and `NO_PROXY`: a comma-separated list of host names
(matching the name and its subdomains; a leading `.` or `*.` is ignored), `host:port` entries,
IP addresses, CIDR ranges, or `*` for everything. As in Go, loopback destinations are never
proxied. Only `http://` proxies without credentials are supported; anything else is refused
with a clear error rather than silently sent direct.

Pure functions over a mapping: `config.py` reads the environment and hands the values here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from extension.http.client import InvalidRequestError, Origin, split_url

#: Variable names, in order of precedence for each role.
HTTPS_PROXY_NAMES = ("HTTPS_PROXY", "https_proxy")
HTTP_PROXY_NAMES = ("HTTP_PROXY", "http_proxy")
NO_PROXY_NAMES = ("NO_PROXY", "no_proxy")

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def parse_proxy_url(value: str) -> Origin:
    """`http://host[:port]` → the proxy's origin; ValueError for other schemes or credentials."""
    text = value.strip()
    if "://" not in text:
        text = f"http://{text}"  # curl's convention for a bare host:port
    try:
        origin, target = split_url(text)
    except InvalidRequestError as exc:
        raise ValueError(f"not a usable proxy URL ({exc})") from None
    if origin.scheme != "http":
        raise ValueError("only http:// proxies are supported")
    if target not in ("/", ""):
        raise ValueError("a proxy URL has no path")
    return origin


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

    @property
    def active(self) -> bool:
        return self.http is not None or self.https is not None


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def rules_from(env: Mapping[str, str]) -> tuple[ProxyRules, list[str]]:
    """The proxy rules of `env` and the problems found (each naming its variable)."""
    problems: list[str] = []
    proxies: dict[str, Origin | None] = {"http": None, "https": None}
    for role, names in (("https", HTTPS_PROXY_NAMES), ("http", HTTP_PROXY_NAMES)):
        found = _first(env, names)
        if found is None:
            continue
        name, value = found
        try:
            proxies[role] = parse_proxy_url(value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    no_proxy_value = _first(env, NO_PROXY_NAMES)
    entries = tuple(
        e.strip().lower() for e in (no_proxy_value[1] if no_proxy_value else "").split(",") if e.strip()
    )
    return ProxyRules(proxies["http"], proxies["https"], entries), problems
