"""Runs a sans-IO procedure over a transport with asyncio: the only place OMCI meets a clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from agent.ont.session import OmciError, Procedure, Runner
from agent.ont.transport import Transport


async def run(
    procedure: Procedure,
    transport: Transport,
    *,
    timeout_s: float = 1.0,
    retries: int = 2,
    extended: bool = False,
    ik: bytes | None = None,
    max_duration_s: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
) -> Runner:
    """Run to completion; raises OmciError with the reason when the procedure failed."""
    runner = Runner(procedure, timeout_s=timeout_s, retries=retries, extended=extended, ik=ik)
    give_up = clock() + max_duration_s
    for frame in runner.start(clock()):
        await transport.send(frame)
    while not runner.done:
        now = clock()
        if now > give_up:
            raise OmciError(f"the ONT exchange took longer than {max_duration_s:g} s")
        wait = (runner.deadline - now) if runner.deadline is not None else timeout_s
        data = await transport.recv(wait)
        now = clock()
        out = runner.receive(data, now, padded=transport.padded) if data is not None else []
        # Even when frames keep arriving (an AVC storm), a request must still time out.
        out += runner.poll(now)
        for frame in out:
            await transport.send(frame)
    if runner.error is not None:
        raise OmciError(runner.error)
    return runner
