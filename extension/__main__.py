"""Entry point: the stdlib-only fast path, then the application. The only place that exits.

Every millisecond before `register` is added to the customer's cold start, so this module
imports only the standard library (and our stdlib-only config/log/socket helpers), binds the
local sockets, and registers. aiohttp, protobuf and the rest load afterwards, while the runtime
and the function initialise in parallel.
"""

from __future__ import annotations

import os
import sys
import time

_T0 = time.monotonic()

from extension import config  # noqa: E402  (timestamp first: launch-to-register is measured)
from extension.cache.sockets import BoundSockets, bind_cache_sockets  # noqa: E402
from extension.lifecycle.registration import ExtensionsApiError, register, report_error  # noqa: E402
from extension.log import setup_logging  # noqa: E402
from extension.sources.telemetry_api.sockets import bind_listener_socket  # noqa: E402

VERSION = "0.1.0"
DEFAULT_NAME = "lambda-sidecar"


def _name_from_argv(argv: list[str]) -> str:
    if "--name" in argv:
        idx = argv.index("--name")
        if idx + 1 < len(argv):
            return argv[idx + 1]
    return DEFAULT_NAME


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print(f"lambda-sidecar {VERSION}")
        return 0
    log = setup_logging(os.environ.get(config.SIDECAR_LOG_LEVEL, "info"))
    runtime_api = os.environ.get(config.AWS_LAMBDA_RUNTIME_API, "")
    if not runtime_api:
        log.error("AWS_LAMBDA_RUNTIME_API is not set: not running inside Lambda (or the emulator)")
        return 2
    name = _name_from_argv(argv)
    settings: config.Settings | None = None
    config_error: config.ConfigError | None = None
    try:
        settings = config.from_env(os.environ)
    except config.ConfigError as exc:
        config_error = exc

    cache_sockets = BoundSockets(None, None, [])
    telemetry_sock = None
    if settings is not None and not settings.disabled:
        # Bound even with CACHE_ENABLED=false: like AWS's layer, the endpoint then answers uncached.
        cache_sockets = bind_cache_sockets(settings.cache)
        if settings.telemetry.enabled:
            telemetry_sock = bind_listener_socket(settings.telemetry.port, runtime_api)

    events = ["SHUTDOWN"] if (settings is None or settings.disabled) else ["INVOKE", "SHUTDOWN"]
    try:
        registration = register(runtime_api, name, events)
    except (ExtensionsApiError, OSError) as exc:
        log.error("register failed: %s", exc)
        return 1
    register_ms = (time.monotonic() - _T0) * 1000

    if config_error is not None or settings is None:
        message = str(config_error)
        log.error("%s", message)
        try:
            report_error(runtime_api, registration.extension_id, "init", "Extension.ConfigInvalid", message)
        except OSError as exc:
            log.error("could not report the init error: %s", exc)
        return 1

    from extension.app import Boot, run  # heavy imports happen here, after register

    boot = Boot(
        settings=settings,
        registration=registration,
        runtime_api=runtime_api,
        telemetry_sock=telemetry_sock,
        cache_sockets=cache_sockets,
        started_monotonic=_T0,
        register_ms=register_ms,
    )
    return run(boot)


if __name__ == "__main__":
    exit_code = main(sys.argv[1:])
    # Exit without interpreter finalisation: tearing down aiohttp, protobuf and the heap can take
    # 100+ ms on a busy host, past the SHUTDOWN deadline, and Lambda then SIGKILLs us (found by the
    # reliability suite). Everything of ours is closed by now; only the standard streams need flushing.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe must not stop the exit
            pass
    os._exit(exit_code)
