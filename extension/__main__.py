"""Entry point: the stdlib-only fast path, then the application. The only place that exits.

Every millisecond before `register` is added to the customer's cold start (Lambda starts the
runtime only once every extension has registered), so before `/register` this module imports
only `socket`, our two socket helpers and the variable declarations (`extension.variables`),
reads the handful of variables that decide what to bind and which events to register for
(`early_settings`), binds the local sockets, and registers on a raw socket. Everything else --
the full configuration (`extension.config`: enum, urllib.parse), logging, aiohttp, protobuf --
loads afterwards, while the runtime and the function initialise in parallel. Both readings use
the same declarations, so what was bound before `/register` is what the full configuration says.
docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import os
import sys
import time

_T0 = time.monotonic()

from extension import variables  # noqa: E402  (timestamp first)
from extension.cache.sockets import BoundSockets, bind_cache_sockets  # noqa: E402
from extension.lifecycle.registration import (  # noqa: E402
    ExtensionsApiError,
    register_with_fallback,
    report_error,
)
from extension.sources.otlp_receiver.sockets import bind_receiver_socket  # noqa: E402
from extension.sources.telemetry_api.sockets import bind_listener_socket  # noqa: E402

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy honours the name)
if TYPE_CHECKING:
    import logging
    import socket
    from collections.abc import Mapping

    from extension import app, config

VERSION = "0.1.0"
DEFAULT_NAME = "lambda-sidecar"

#: AWS_LAMBDA_INITIALIZATION_TYPE on Lambda Managed Instances, where external extensions may
#: register only for SHUTDOWN (https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances.html).
MANAGED_INSTANCES = "lambda-managed-instances"


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


class EarlyReceiver:
    """The receiver settings binding needs (attribute names as in `config.ReceiverSettings`)."""

    def __init__(self, enabled: bool, http_port: int, grpc_port: int) -> None:
        self.enabled = enabled
        self.http_port = http_port
        self.grpc_port = grpc_port


class EarlySettings:
    """What must be known before /register (attribute names as in `config.Settings`)."""

    def __init__(
        self,
        disabled: bool,
        telemetry: EarlyTelemetry,
        cache: EarlyCache,
        receiver: EarlyReceiver,
        ready_before_next: bool = False,
    ) -> None:
        self.disabled = disabled
        #: SIDECAR_READY_BEFORE_NEXT: start up fully before the first /event/next (no early /next).
        self.ready_before_next = ready_before_next
        self.telemetry = telemetry
        self.cache = cache
        self.receiver = receiver


def early_settings(env: Mapping[str, str]) -> EarlySettings | None:
    """The pre-register settings, read through the same declarations `config.from_env` reads
    (so every value equals the one the full configuration resolves); None when one of them is
    invalid, and the full configuration then reports it."""
    try:
        return EarlySettings(
            disabled=variables.SIDECAR_DISABLED.get(env),
            telemetry=EarlyTelemetry(
                variables.SIDECAR_TELEMETRY_ENABLED.get(env), variables.SIDECAR_TELEMETRY_PORT.get(env)
            ),
            cache=EarlyCache(
                secrets_port_enabled=variables.SIDECAR_SECRETS_PORT_ENABLED.get(env),
                secrets_port=variables.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT.get(env),
                appconfig_port_enabled=variables.SIDECAR_APPCONFIG_PORT_ENABLED.get(env),
                appconfig_port=variables.AWS_APPCONFIG_EXTENSION_HTTP_PORT.get(env),
            ),
            ready_before_next=variables.SIDECAR_READY_BEFORE_NEXT.get(env),
            receiver=EarlyReceiver(
                variables.SIDECAR_RECEIVER_ENABLED.get(env),
                variables.SIDECAR_RECEIVER_HTTP_PORT.get(env),
                variables.SIDECAR_RECEIVER_GRPC_PORT.get(env),
            ),
        )
    except variables.BadValue:
        return None


def _name_from_argv(argv: list[str]) -> str:
    if "--name" in argv:
        idx = argv.index("--name")
        if idx + 1 < len(argv):
            return argv[idx + 1]
    return DEFAULT_NAME


def _logger() -> logging.Logger:
    """Our logger at SIDECAR_LOG_LEVEL (its default while the value is invalid: the full
    configuration reports that)."""
    from extension.log import setup_logging

    try:
        return setup_logging(variables.SIDECAR_LOG_LEVEL.get(os.environ))
    except variables.BadValue:
        return setup_logging(variables.SIDECAR_LOG_LEVEL.default)


def _full_settings() -> tuple[config.Settings | None, config.ConfigError | None]:
    from extension import config

    try:
        return config.from_env(os.environ), None
    except config.ConfigError as exc:
        return None, exc


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print(f"lambda-sidecar {VERSION}")
        return 0
    runtime_api = variables.AWS_LAMBDA_RUNTIME_API.get(os.environ)
    if not runtime_api:
        _logger().error("AWS_LAMBDA_RUNTIME_API is not set: not running inside Lambda (or the emulator)")
        return 2
    name = _name_from_argv(argv)
    # None when a value read here is invalid: the full configuration, which reads the same
    # declarations, then fails too and reports it (we register for SHUTDOWN only, bind nothing).
    early = early_settings(os.environ)
    active = early is not None and not early.disabled

    cache_sockets = BoundSockets()
    telemetry_sock = None
    receiver_sock = receiver_grpc_sock = None
    receiver_problems: list[str] = []
    if early is not None and active:
        # Bound even with CACHE_ENABLED=false: like AWS's layer, the endpoint then answers uncached.
        cache_sockets = bind_cache_sockets(early.cache)
        if early.telemetry.enabled:
            telemetry_sock = bind_listener_socket(early.telemetry.port, runtime_api)
        if early.receiver.enabled:
            receiver_sock = bind_receiver_socket(early.receiver.http_port, receiver_problems)
            if early.receiver.grpc_port and receiver_sock is not None:
                receiver_grpc_sock = bind_receiver_socket(early.receiver.grpc_port, receiver_problems)

    # A prefetch list set: the cache starts and prefetches now, so the function's init (which
    # Lambda starts once every extension has registered) finds the values cached (app.start_cache).
    started_cache = None
    if (cache_sockets.secrets or cache_sockets.appconfig) and (
        variables.SIDECAR_PREFETCH.is_set(os.environ)
        or variables.AWS_APPCONFIG_EXTENSION_PREFETCH_LIST.is_set(os.environ)
    ):
        started_cache = _prefetch_before_register(cache_sockets)

    managed = variables.AWS_LAMBDA_INITIALIZATION_TYPE.get(os.environ) == MANAGED_INSTANCES
    try:
        registration, events, notes = register_with_fallback(
            runtime_api, name, ["INVOKE", "SHUTDOWN"] if active and not managed else ["SHUTDOWN"]
        )
    except (ExtensionsApiError, OSError) as exc:
        # Not registered: Lambda fails this init whatever we do (an exit is Extension.Crash, with
        # code 0 too; staying alive unregistered holds init until its timeout), so fail it now.
        _logger().error("could not register with the Extensions API, exiting: %s", exc)
        return 1
    register_ms = (time.monotonic() - _T0) * 1000

    log = _logger()  # from here on, imports overlap the runtime's init
    for note in notes:
        log.warning("%s", note)
    settings, config_error = _full_settings()
    if config_error is not None or settings is None:
        message = str(config_error)
        log.error("%s", message)
        try:
            report_error(runtime_api, registration.extension_id, "init", "Extension.ConfigInvalid", message)
        except OSError as exc:
            log.error("could not report the init error: %s", exc)
        return 1

    timed = "INVOKE" not in events  # Managed Instances: no INVOKE events and no freeze
    if not events and not settings.disabled:
        log.warning("registered for no lifecycle events: idle (no telemetry, no cache) until Lambda stops us")
        settings = settings._replace(disabled=True)
        if started_cache is not None:
            loop = started_cache.loop
            loop.run_until_complete(started_cache.service.shutdown(loop.time() + 0.2))
            started_cache = None
        cache_sockets.close()  # nobody would answer on them: the function's calls fail at once
        cache_sockets = BoundSockets()
        if telemetry_sock is not None:
            telemetry_sock.close()
            telemetry_sock = None
        for sock in (receiver_sock, receiver_grpc_sock):
            if sock is not None:
                sock.close()
        receiver_sock = receiver_grpc_sock = None
    subscription, telemetry_path, pending_next = _subscribe_and_signal_ready(
        settings,
        registration.extension_id,
        runtime_api,
        telemetry_sock,
        timed,
        send_early=early is not None and not early.ready_before_next,
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
        events=events,
        receiver_sock=receiver_sock,
        receiver_grpc_sock=receiver_grpc_sock,
        receiver_problems=tuple(receiver_problems),
        started_cache=started_cache,
    )
    return run(boot)


def _prefetch_before_register(sockets: BoundSockets) -> app.StartedCache | None:
    """The cache started and prefetched (app.start_cache); None when the configuration is invalid
    (reported after register, as usual) or the cache could not start."""
    _logger()
    settings, _ = _full_settings()
    if settings is None or settings.disabled:
        return None
    from extension.app import start_cache

    return start_cache(settings, sockets)


def _subscribe_and_signal_ready(
    settings: config.Settings,
    extension_id: str,
    runtime_api: str,
    telemetry_sock: socket.socket | None,
    managed: bool,
    send_early: bool = True,
) -> tuple[str, str, socket.socket | None]:
    """Subscribe (only possible during init) with a fresh secret listener path, then send the
    first /event/next without waiting for its answer, so init need not wait for our heavy imports
    (see lifecycle/early_next.py). Returns (subscription state, listener path, pending /next)."""
    from extension.sources.telemetry_api.subscription import (
        FAILED,
        MANAGED_SCHEMAS,
        SCHEMA_VERSIONS,
        destination_path,
        subscribe,
    )

    path = destination_path()
    if settings.disabled:
        return FAILED, path, None
    state = FAILED
    if telemetry_sock is not None:
        port = telemetry_sock.getsockname()[1]
        schemas = MANAGED_SCHEMAS if managed else SCHEMA_VERSIONS
        state, _ = subscribe(runtime_api, extension_id, settings.telemetry, port, path, schemas)
    if not send_early:  # SIDECAR_READY_BEFORE_NEXT: the loop sends it once everything is started
        return state, path, None
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
