"""Runs a sans-IO procedure over a transport with asyncio: the only place OMCI meets a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.ont import frames, procedures
from agent.ont.alarms import AlarmState
from agent.ont.session import OmciError, Procedure, Runner
from agent.ont.transport import Transport, open_transport


async def run(
    procedure: Procedure,
    transport: Transport,
    *,
    timeout_s: float = 1.0,
    retries: int = 2,
    ik: bytes | None = None,
    alarms: AlarmState | None = None,
    max_duration_s: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
) -> Runner:
    """Run to completion; raises OmciError with the reason when the procedure failed."""
    runner = Runner(procedure, timeout_s=timeout_s, retries=retries, ik=ik, alarms=alarms)
    give_up = clock() + max_duration_s
    await _send(transport, runner.start(clock()))
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
        await _send(transport, out)
    if runner.error is not None:
        raise OmciError(runner.error)
    return runner


async def _send(transport: Transport, frames_out: list[bytes]) -> None:
    for frame in frames_out:
        try:
            await transport.send(frame)
        except OSError as exc:  # e.g. the interface facing the ONT is down
            raise OmciError(f"cannot send to the ONT: {exc.strerror or exc}") from None


async def poll_ont(
    url: str,
    *,
    pcap: str | None = None,
    timeout_s: float = 1.0,
    retries: int = 2,
    extended: bool | None = None,
    session_key: bytes = frames.LAB_SESSION_KEY,
    lab: bool = False,
) -> tuple[dict[str, Any], Runner]:
    """One full reading of the ONT at `url` (see procedures.poll), and the runner's statistics.
    `extended` None: the message set the ONT's OMCC version says it answers.

    Raises TransportError for an unusable URL, OmciError when the ONT did not give a reading.
    """
    transport: Transport = await open_transport(url)
    if pcap is not None:
        from agent.ont.capture import CapturedTransport, PcapCapture  # scapy only when capturing

        try:
            transport = CapturedTransport(transport, PcapCapture(pcap))
        except ValueError:
            transport.close()
            raise
    try:
        alarms = AlarmState()
        runner = await run(
            procedures.poll(extended=extended, lab=lab, alarms=alarms),
            transport,
            timeout_s=timeout_s,
            retries=retries,
            ik=frames.integrity_key(session_key),
            alarms=alarms,
        )
    finally:
        transport.close()
    reading: dict[str, Any] = runner.result
    return reading, runner
