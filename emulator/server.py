"""The one HTTP server of the environment: Runtime, Extensions, Telemetry and Logs APIs.

Bound to 127.0.0.1 on an ephemeral port (never 9001); its ``host:port`` is exported as
``AWS_LAMBDA_RUNTIME_API``. Handler cancellation is on, so long polls of killed processes
do not linger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from emulator import extensions_api, logs_api, runtime_api, telemetry_api
from emulator.config import MAX_RESPONSE_BYTES

if TYPE_CHECKING:
    from emulator.lifecycle import Sandbox


class ApiServer:
    """Owns the aiohttp runner and the listening socket."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._app = web.Application(client_max_size=2 * MAX_RESPONSE_BYTES)
        for module in (runtime_api, extensions_api, telemetry_api, logs_api):
            module.add_routes(self._app, sandbox)
        self._runner = web.AppRunner(
            self._app, handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start listening; returns ``host:port``."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return f"{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
