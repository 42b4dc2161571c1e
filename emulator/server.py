"""The one HTTP server of the environment: Runtime, Extensions, Telemetry and Logs APIs.

Bound to 127.0.0.1 on an ephemeral port (never 9001); its ``host:port`` is exported as
``AWS_LAMBDA_RUNTIME_API``. Handler cancellation is on, so long polls of killed processes
do not linger.
"""

from __future__ import annotations

from aiohttp import web

from emulator import extensions_api, runtime_api, subscription_api
from emulator.config import MAX_RESPONSE_BYTES
from emulator.control import EnvironmentControl
from emulator.state import EnvironmentState


class ApiServer:
    """Owns the aiohttp runner and the listening socket."""

    def __init__(self, env: EnvironmentState, control: EnvironmentControl) -> None:
        self._app = web.Application(client_max_size=2 * MAX_RESPONSE_BYTES)
        runtime_api.add_routes(self._app, env, control)
        extensions_api.add_routes(self._app, env, control)
        subscription_api.add_routes(self._app, env)
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
