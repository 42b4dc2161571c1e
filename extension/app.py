"""Composition root: builds every component from Settings and runs the one event loop.

Imported only after registration (see __main__), so its heavy imports overlap the runtime's init.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import time
from typing import NamedTuple

from extension.cache.sockets import BoundSockets
from extension.config import Settings
from extension.exporters.secret_refs import exporters_have_refs
from extension.lifecycle.extensions_api import ExtensionsApiClient, LifecycleEvent, parse_event
from extension.lifecycle.registration import Registration
from extension.log import get_logger
from extension.stats import Stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from extension.cache.service import CacheService

log = get_logger()

#: The telemetry pipeline's heaviest imports, in dependency order (see `_run`).
_PIPELINE_MODULES = (
    "extension.exporters.otlp_encode",
    "extension.exporters.factory",
    "extension.processors.processor",
    "extension.sources.telemetry_api.listener",
)


#: Longest wait for the prefetch before `/register`: a hung AWS call must not spend the init
#: phase's time limit (10 s, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html).
PREFETCH_BEFORE_REGISTER_MAX_S = 3.0


class StartedCache(NamedTuple):
    """The cache service started before `/register` (prefetch lists set), with the loop it runs
    on: the one loop of the extension, resumed by `run`."""

    loop: asyncio.AbstractEventLoop
    stats: Stats
    service: CacheService


def start_cache(settings: Settings, sockets: BoundSockets) -> StartedCache | None:
    """Serve the cache endpoints and run the prefetch until every entry is fetched (or, past the
    bound of its calls' timeouts, still in flight), before the caller registers.

    AWS documents for the AppConfig agent that a prefetched configuration is retrieved "before
    Lambda starts to initialize your function" (https://docs.aws.amazon.com/appconfig/latest/
    userguide/appconfig-integration-lambda-extensions-config.html), and Lambda starts the
    runtime's init once every extension has registered
    (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html): so a read in the
    function's init finds the value cached. The price is paid in launch-to-register, only when a
    prefetch list is set (docs/benchmarks.md). None when the service could not start: the caller
    then registers at once and `_run` starts the cache as usual."""
    from extension.cache.service import CacheService

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stats = Stats()
    try:
        service = CacheService(settings, stats, sockets)
        loop.run_until_complete(service.start())
        done = loop.run_until_complete(service.wait_prefetched(PREFETCH_BEFORE_REGISTER_MAX_S))
    except Exception:
        log.exception("the cache could not start before register; starting it after")
        return None
    if not done:
        log.warning(
            "prefetch not finished within %.1f s: registering, reads join it",
            min(service.prefetch_limit_s, PREFETCH_BEFORE_REGISTER_MAX_S),
        )
    return StartedCache(loop, stats, service)


class Boot(NamedTuple):
    """What the fast path hands over: resolved settings, our registration, pre-bound sockets."""

    settings: Settings
    registration: Registration
    runtime_api: str
    telemetry_sock: socket.socket | None
    cache_sockets: BoundSockets
    started_monotonic: float
    register_ms: float
    #: Outcome of the Telemetry API subscription made on the fast path (subscription.SUBSCRIBED...).
    subscription: str = "failed"
    #: The listener's secret path, given to Lambda in the subscription (subscription.destination_path).
    telemetry_path: str = "/"
    #: The first /event/next, already sent; its answer is read by the loop (lifecycle/early_next.py).
    pending_next: socket.socket | None = None
    #: The lifecycle events we registered for. Without INVOKE (Lambda Managed Instances) nothing
    #: paces us and nothing freezes us: the pipeline runs on its own timer.
    events: tuple[str, ...] = ("INVOKE", "SHUTDOWN")
    #: The OTLP receiver's socket, bound on the fast path (None: off, or the port was taken).
    receiver_sock: socket.socket | None = None
    #: Its OTLP/gRPC port (extension/sources/otlp_receiver/grpc_front.py), None when off.
    receiver_grpc_sock: socket.socket | None = None
    #: Why the receiver could not bind (logged as warnings).
    receiver_problems: tuple[str, ...] = ()
    #: The cache, already serving and prefetched before /register (see `start_cache`), or None.
    started_cache: StartedCache | None = None

    @property
    def timed(self) -> bool:
        return "INVOKE" not in self.events


async def _next_event(boot: Boot, client: ExtensionsApiClient) -> LifecycleEvent:
    """The answer to the early /event/next if it is still unread, else a fresh /event/next."""
    sock = boot.pending_next
    if sock is not None and sock.fileno() != -1:
        from extension.lifecycle.early_next import receive

        return parse_event(*await receive(sock))
    return await client.next_event()


def run(boot: Boot) -> int:
    """Run the extension; if building it fails unexpectedly, stay registered but idle.

    An extension that exits during init or an invoke fails the function (Extension.Crash), so a
    bug of ours degrades to "no telemetry" with one log line instead."""
    if boot.started_cache is not None:
        loop = boot.started_cache.loop
        try:
            return loop.run_until_complete(_run(boot))
        except Exception:
            log.exception("lambda-sidecar failed to start; continuing idle (no telemetry, no cache)")
            return loop.run_until_complete(_idle(boot))
    try:
        return asyncio.run(_run(boot))
    except Exception:
        log.exception("lambda-sidecar failed to start; continuing idle (no telemetry, no cache)")
        # Nobody serves the receiver's ports any more: refuse the function's exports at once
        # rather than let them wait in the backlog until the SDK's timeout.
        for sock in (boot.receiver_sock, boot.receiver_grpc_sock):
            if sock is not None:
                sock.close()
        return asyncio.run(_idle(boot))


async def _idle(boot: Boot) -> int:
    client = ExtensionsApiClient(boot.runtime_api, boot.registration.extension_id)
    try:
        while (await _next_event(boot, client)).event_type != "SHUTDOWN":
            pass
    finally:
        await client.close()
    return 0


async def _run(boot: Boot) -> int:
    settings = boot.settings
    stats = boot.started_cache.stats if boot.started_cache is not None else Stats()
    for warning in (
        *settings.warnings,
        *settings.cache.warnings,
        *boot.cache_sockets.problems,
        *boot.receiver_problems,
    ):
        log.warning("%s", warning)
    client = ExtensionsApiClient(boot.runtime_api, boot.registration.extension_id)
    if settings.disabled:
        log.info("SIDECAR_DISABLED is set: idle until SHUTDOWN")
        await client.close()
        return await _idle(boot)

    cache = boot.started_cache.service if boot.started_cache is not None else None
    # Secret header references resolve through the cache service even when neither endpoint
    # serves (disabled, or its port taken): the service then runs without a socket.
    if cache is None and (
        boot.cache_sockets.secrets or boot.cache_sockets.appconfig or exporters_have_refs(settings.exporters)
    ):
        from extension.cache.service import CacheService

        cache = CacheService(settings, stats, boot.cache_sockets)
        await cache.start()

    receiver = grpc_front = None
    if boot.receiver_sock is not None:
        # Served from now on, like the cache endpoints (a function may export during its init);
        # requests wait for `attach` below. The resource is recomputed there with the same inputs.
        from extension.processors.resource import build_resource as _resource
        from extension.sources.otlp_receiver.server import OtlpReceiver

        receiver = OtlpReceiver(
            boot.receiver_sock,
            stats,
            settings.receiver.max_bytes,
            _resource(settings, boot.registration.account_id),
        )
        await receiver.start()
        if boot.receiver_grpc_sock is not None:
            from extension.sources.otlp_receiver.grpc_front import GrpcFront

            grpc_front = GrpcFront(boot.receiver_grpc_sock, receiver, stats, settings.receiver.max_bytes)
            await grpc_front.start()

    # Imported only now, a module at a time with the loop turning in between: the cache endpoints
    # and the prefetch make progress while protobuf and the telemetry pipeline load (an import
    # blocks the loop while it runs).
    for module in _PIPELINE_MODULES:
        importlib.import_module(module)
        await asyncio.sleep(0)
    from extension.exporters.factory import build_destinations
    from extension.lifecycle.invocation_tracker import InvocationTracker
    from extension.lifecycle.manager import Hooks, LifecycleManager
    from extension.pipeline import Pipeline
    from extension.processors.processor import TelemetryProcessor
    from extension.processors.resource import build_resource
    from extension.sources.telemetry_api.listener import TelemetryApiSource
    from extension.sources.telemetry_api.subscription import SUBSCRIBED

    resource = build_resource(settings, boot.registration.account_id)
    processor = TelemetryProcessor(settings, resource, stats, concurrent_invocations=boot.timed)
    destinations = build_destinations(settings, stats, cache.resolve_reference if cache else None, resource)
    tracker = InvocationTracker()
    pipeline = Pipeline(processor, destinations, tracker, stats)
    pipeline.track_starts = boot.timed

    listener: TelemetryApiSource | None = None
    if boot.telemetry_sock is not None:
        listener = TelemetryApiSource(
            boot.telemetry_sock, pipeline.ingest, stats, settings.telemetry.max_bytes, boot.telemetry_path
        )
        await listener.start()
    pipeline.telemetry_active = boot.subscription == SUBSCRIBED
    if receiver is not None:
        receiver.attach(pipeline.ingest_function)
    await asyncio.gather(*(d.start() for d in destinations))
    if receiver is not None and settings.receiver.preload:
        await asyncio.sleep(0)
        receiver.preload()

    async def on_shutdown(deadline: float) -> None:
        if receiver is not None:
            receiver.stop_intake()
            await receiver.shutdown(deadline)
        if grpc_front is not None:
            await grpc_front.shutdown(deadline)
        if listener is not None:
            listener.stop_intake()
            await listener.shutdown(deadline)
        if cache is not None:
            await cache.shutdown(deadline)

    manager = LifecycleManager(
        lambda: _next_event(boot, client),
        pipeline,
        tracker,
        settings.pipeline,
        stats,
        timed=boot.timed,
        hooks=Hooks(
            on_invoke=cache.on_invoke if cache else None,
            on_shutdown=on_shutdown,
            before_next=cache.settle if cache else None,
        ),
    )
    log.info(
        "ready: registered in %.1f ms, started in %.1f ms; destinations: %s",
        boot.register_ms,
        (time.monotonic() - boot.started_monotonic) * 1000,
        ",".join(d.name for d in destinations) or "none",
    )
    code = await manager.run()
    await client.close()
    log.info("shutdown after %d invokes: %s", manager.invokes, _summary(stats))
    return code


def _summary(stats: Stats) -> str:
    snap = stats.snapshot()
    return ", ".join(f"{k}={v}" for k, v in snap.items()) or "no activity"
