"""Freeze and thaw (``--freeze``): SIGSTOP/SIGCONT every process group between invokes.

Lambda freezes the whole execution environment once an invoke phase is over; an extension that
leaves work in flight at ``/event/next`` finds it stalled until the next thaw. Telemetry
delivery waits on ``hub.thawed`` so nothing is delivered while frozen.
"""

from __future__ import annotations

import asyncio
import signal

from emulator.state import EnvironmentState
from emulator.telemetry import FLUSH_BEFORE_FREEZE_S

"""How long pending telemetry may take to be delivered before the processes stop."""
FREEZE_CONFIRM_POLLS = 250
"""Bound on waiting for SIGSTOP to take effect (x 2 ms)."""


async def freeze(env: EnvironmentState, flush: bool) -> None:
    """SIGSTOP every process group, optionally after delivering pending telemetry.

    After an invoke the caller flushes *before* emitting ``platform.report`` so that the
    report waits in the buffers for the next thaw, as in Lambda.
    """
    if not env.config.freeze or env.frozen:
        return
    if flush:
        await env.hub.flush(FLUSH_BEFORE_FREEZE_S)
    env.hub.thawed.clear()
    processes = env.live_processes()
    for process in processes:
        process.signal_group(signal.SIGSTOP)
    env.frozen = True
    # SIGSTOP is asynchronous: wait (bounded) until the kernel reports every leader stopped,
    # so "frozen" means frozen for whoever looks next.
    for _ in range(FREEZE_CONFIRM_POLLS):  # polling /proc: there is no event to wait on
        if all(process.proc_state() in ("T", "t", None) for process in processes):
            break
        await asyncio.sleep(0.002)


async def thaw(env: EnvironmentState) -> None:
    if not env.frozen:
        return
    for process in env.live_processes():
        process.signal_group(signal.SIGCONT)
    env.frozen = False
    env.hub.thawed.set()
