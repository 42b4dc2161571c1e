"""A tiny "something changed" broadcast for the lifecycle state machine.

HTTP handlers change extension/runtime states; the lifecycle waits for predicates over those
states ("everyone is in next", "someone failed"). Rather than one asyncio primitive per
predicate, every change calls :meth:`Notifier.notify` and waiters re-check their predicate.
"""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    """Wakes every current waiter on each :meth:`notify`."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake all waiters (they re-evaluate their conditions)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, within_s: float | None) -> None:
        """Return at the next notify or after ``within_s`` seconds, whichever comes first."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), within_s)
        finally:
            self._waiters.discard(waiter)
