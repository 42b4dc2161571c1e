"""Entry point: the stdlib-only fast path, then the application. The only place that exits.

Every millisecond before `register` is added to the customer's cold start (Lambda starts the
runtime only once every extension has registered), so before `/register` this module imports
only `socket` and our two socket helpers, reads the handful of variables that decide what to bind
and which events to register for (`early_settings`), binds the local sockets, and registers on
a raw socket. Everything else -- the full configuration (`extension.config`: dataclasses, enum,
re, json), logging, aiohttp, protobuf -- loads afterwards, while the runtime and the function
initialise in parallel. docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import os
import sys
import time

_T0 = time.monotonic()

from extension.cache.sockets import BoundSockets, bind_cache_sockets  # noqa: E402  (timestamp first)
from extension.lifecycle.registration import ExtensionsApiError, register, report_error  # noqa: E402
from extension.sources.telemetry_api.sockets import bind_listener_socket  # noqa: E402

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy honours the name)
if TYPE_CHECKING:
    import logging
    import socket
    from collections.abc import Mapping

    from extension import config

VERSION = "0.1.0"
DEFAULT_NAME = "lambda-sidecar"

# The variables read before /register. Names and meanings are those of extension/config.py (the
# one place that documents them); `early_settings` accepts only values it reads exactly as
# `config.from_env` does and otherwise returns None, so the full configuration is then parsed
# before /register as it always was.
_DISABLED = "SIDECAR_DISABLED"
_TELEMETRY_ENABLED = "SIDECAR_TELEMETRY_ENABLED"
_TELEMETRY_PORT = "SIDECAR_TELEMETRY_PORT"
_SECRETS_PORT_ENABLED = "SIDECAR_SECRETS_PORT_ENABLED"
_APPCONFIG_PORT_ENABLED = "SIDECAR_APPCONFIG_PORT_ENABLED"
_SECRETS_PORTS = ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT")
_APPCONFIG_PORT = "AWS_APPCONFIG_EXTENSION_HTTP_PORT"
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


class _Unusual(Exception):
    """A value `early_settings` does not read itself: leave it to the full configuration."""


class EarlyCache:
    """The cache settings binding needs (attribute names as in `config.CacheSettings`)."""

    def __init__(
        self, secrets_port_enabled: bool, secrets_port: int, appconfig_port_enabled: bool, appconfig_port: int
    ) -> None:
        self.secrets_port_enabled = secrets_port_enabled
        self.secrets_port = secrets_port
        self.appconfig_port_enabled = appconfig_port_enabled
        self.appconfig_port = appconfig_port


class EarlyTelemetry:
    """The telemetry settings binding needs (attribute names as in `config.TelemetrySettings`)."""

    def __init__(self, enabled: bool, port: int) -> None:
        self.enabled = enabled
        self.port = port


class EarlySettings:
    """What must be known before /register (attribute names as in `config.Settings`)."""

    def __init__(self, disabled: bool, telemetry: EarlyTelemetry, cache: EarlyCache) -> None:
        self.disabled = disabled
        self.telemetry = telemetry
        self.cache = cache


def _raw(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:  # the first one set and not blank, as config's reader does
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _Unusual(name)


def _port(env: Mapping[str, str], names: tuple[str, ...], default: int, lo: int) -> int:
    value = _raw(env, *names)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not lo <= int(value) <= 65535:
        raise _Unusual(names[0])
    return int(value)


def early_settings(env: Mapping[str, str]) -> EarlySettings | None:
    """The pre-register settings read without `extension.config`; None when a value is unusual.

    For every value it accepts, the result equals what `config.from_env` gives (a test checks
    this over generated environments); after /register, `main` compares both anyway."""
    try:
        return EarlySettings(
            disabled=_bool(env, _DISABLED, False),
            telemetry=EarlyTelemetry(
                _bool(env, _TELEMETRY_ENABLED, True), _port(env, (_TELEMETRY_PORT,), 0, 0)
            ),
            cache=EarlyCache(
                secrets_port_enabled=_bool(env, _SECRETS_PORT_ENABLED, True),
                secrets_port=_port(env, _SECRETS_PORTS, 2773, 1),
                appconfig_port_enabled=_bool(env, _APPCONFIG_PORT_ENABLED, True),
                appconfig_port=_port(env, (_APPCONFIG_PORT,), 2772, 1),
            ),
        )
    except _Unusual:
        return None


def _name_from_argv(argv: list[str]) -> str:
    if "--name" in argv:
        idx = argv.index("--name")
        if idx + 1 < len(argv):
            return argv[idx + 1]
    return DEFAULT_NAME


def _logger() -> logging.Logger:
    from extension.log import setup_logging

    return setup_logging(os.environ.get("SIDECAR_LOG_LEVEL", "info"))


def _full_settings() -> tuple[config.Settings | None, config.ConfigError | None]:
    from extension import config

    try:
        return config.from_env(os.environ), None
    except config.ConfigError as exc:
        return None, exc


def _reconcile(
    early: EarlySettings,
    settings: config.Settings,
    cache_sockets: BoundSockets,
    telemetry_sock: socket.socket | None,
    runtime_api: str,
    log: logging.Logger,
) -> tuple[config.Settings, BoundSockets, socket.socket | None]:
    """Make what was bound before /register match the full configuration (a safety net: they
    agree unless `early_settings` and `config` have drifted apart, which a test guards)."""
    import dataclasses

    if early.disabled and not settings.disabled:
        log.warning("start-up settings differ from the configuration (SIDECAR_DISABLED); staying idle")
        return dataclasses.replace(settings, disabled=True), cache_sockets, telemetry_sock
    if settings.disabled:
        cache_sockets.close()
        if telemetry_sock is not None:
            telemetry_sock.close()
        return settings, BoundSockets(), None
    c, e = settings.cache, early.cache
    if (c.secrets_port_enabled, c.secrets_port, c.appconfig_port_enabled, c.appconfig_port) != (
        e.secrets_port_enabled,
        e.secrets_port,
        e.appconfig_port_enabled,
        e.appconfig_port,
    ):
        log.warning("start-up settings differ from the configuration (cache ports); rebinding")
        cache_sockets.close()
        cache_sockets = bind_cache_sockets(c)
    t = settings.telemetry
    if (t.enabled, t.port) != (early.telemetry.enabled, early.telemetry.port):
        log.warning("start-up settings differ from the configuration (telemetry listener); rebinding")
        if telemetry_sock is not None:
            telemetry_sock.close()
        telemetry_sock = bind_listener_socket(t.port, runtime_api) if t.enabled else None
    return settings, cache_sockets, telemetry_sock


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print(f"lambda-sidecar {VERSION}")
        return 0
    runtime_api = os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
    if not runtime_api:
        _logger().error("AWS_LAMBDA_RUNTIME_API is not set: not running inside Lambda (or the emulator)")
        return 2
    name = _name_from_argv(argv)
    settings: config.Settings | None = None
    config_error: config.ConfigError | None = None
    early = early_settings(os.environ)
    if early is None:  # an unusual value: parse everything now, as before (slower start, same outcome)
        settings, config_error = _full_settings()
    pre: EarlySettings | config.Settings | None = early if early is not None else settings

    cache_sockets = BoundSockets()
    telemetry_sock = None
    if pre is not None and not pre.disabled:
        # Bound even with CACHE_ENABLED=false: like AWS's layer, the endpoint then answers uncached.
        cache_sockets = bind_cache_sockets(pre.cache)
        if pre.telemetry.enabled:
            telemetry_sock = bind_listener_socket(pre.telemetry.port, runtime_api)

    events = ["SHUTDOWN"] if (pre is None or pre.disabled) else ["INVOKE", "SHUTDOWN"]
    try:
        registration = register(runtime_api, name, events)
    except (ExtensionsApiError, OSError) as exc:
        _logger().error("register failed: %s", exc)
        return 1
    register_ms = (time.monotonic() - _T0) * 1000

    log = _logger()  # from here on, imports overlap the runtime's init
    if early is not None:
        settings, config_error = _full_settings()
    if config_error is not None or settings is None:
        message = str(config_error)
        log.error("%s", message)
        try:
            report_error(runtime_api, registration.extension_id, "init", "Extension.ConfigInvalid", message)
        except OSError as exc:
            log.error("could not report the init error: %s", exc)
        return 1
    if early is not None:
        settings, cache_sockets, telemetry_sock = _reconcile(
            early, settings, cache_sockets, telemetry_sock, runtime_api, log
        )

    subscription, telemetry_path, pending_next = _subscribe_and_signal_ready(
        settings, registration.extension_id, runtime_api, telemetry_sock
    )

    from extension.app import Boot, run  # heavy imports happen here, while init may already be over

    boot = Boot(
        settings=settings,
        registration=registration,
        runtime_api=runtime_api,
        telemetry_sock=telemetry_sock,
        cache_sockets=cache_sockets,
        started_monotonic=_T0,
        register_ms=register_ms,
        subscription=subscription,
        telemetry_path=telemetry_path,
        pending_next=pending_next,
    )
    return run(boot)


def _subscribe_and_signal_ready(
    settings: config.Settings, extension_id: str, runtime_api: str, telemetry_sock: socket.socket | None
) -> tuple[str, str, socket.socket | None]:
    """Subscribe (only possible during init) with a fresh secret listener path, then send the
    first /event/next without waiting for its answer, so init need not wait for our heavy imports
    (see lifecycle/early_next.py). Returns (subscription state, listener path, pending /next)."""
    from extension.sources.telemetry_api.subscription import FAILED, destination_path, subscribe

    path = destination_path()
    if settings.disabled:
        return FAILED, path, None
    state = FAILED
    if telemetry_sock is not None:
        port = telemetry_sock.getsockname()[1]
        state, _ = subscribe(runtime_api, extension_id, settings.telemetry, port, path)
    from extension.lifecycle.early_next import send_next

    try:
        return state, path, send_next(runtime_api, extension_id)
    except OSError as exc:
        _logger().warning("could not send the first /event/next early (%s); sending it later", exc)
        return state, path, None


def _exit_now(code: int) -> None:
    """Exit without interpreter finalisation: tearing down aiohttp, protobuf and the heap can take
    100+ ms on a busy host, past the SHUTDOWN deadline, and Lambda then SIGKILLs us (found by the
    reliability suite). Everything of ours is closed by now; only the standard streams need flushing."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe must not stop the exit
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main(sys.argv[1:]))
