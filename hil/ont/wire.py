"""A virtual wire with a virtual clock between the sans-IO client and the sans-IO emulator.

Both cores are fed exactly what the real transports would feed them, but time only moves when
nothing is in flight, so a scenario with delays and timeouts runs fast and deterministically.
"""

from __future__ import annotations

import heapq
import itertools

from agent.ont.alarms import AlarmState
from agent.ont.session import Procedure, Runner
from hil.ont.emulator import Emulator


def simulate(
    procedure: Procedure,
    emulator: Emulator,
    *,
    timeout_s: float = 1.0,
    retries: int = 2,
    alarms: AlarmState | None = None,
    max_steps: int = 100_000,
) -> Runner:
    runner = Runner(procedure, timeout_s=timeout_s, retries=retries, ik=emulator.ik, alarms=alarms)
    order = itertools.count()  # keeps equal-time frames in the order they were sent
    upstream: list[tuple[float, int, bytes]] = []
    now = 0.0

    def to_ont(frames_out: list[bytes]) -> None:
        for frame in frames_out:
            for delay, answer in emulator.receive(frame):
                heapq.heappush(upstream, (now + delay, next(order), answer))

    to_ont(runner.start(now))
    for _ in range(max_steps):
        if runner.done:
            break
        deadline = runner.deadline if runner.deadline is not None else float("inf")
        if upstream and upstream[0][0] <= deadline:
            at, _, frame = heapq.heappop(upstream)
            now = max(now, at)
            to_ont(runner.receive(frame, now))
        else:
            now = deadline
        to_ont(runner.poll(now))
    return runner
