"""One active test at a time, probe-wide (docs/methodology.md §5.1).

Every test that puts traffic on the access line (STAMP latency, capacity, DNS, web, streaming,
responsiveness) takes its turn here; a test due while another runs waits, first come first
served, and learns how long it waited. Passive polls (modem, ONT, health) do not take a turn:
they add no traffic on the line and may run beside a test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class Turn:
    name: str
    due: float  # when the test was due, seconds since 1970
    started: float  # when it got the line
    ended: float | None = None

    @property
    def wait_s(self) -> float:
        return max(0.0, self.started - self.due)

    def queue_values(self) -> dict[str, int]:
        """The record's `queue` field (schema v2) for this turn."""
        return {"wait_ms": round(self.wait_s * 1000), "due_ms": round(self.due * 1000)}


class ActiveTests:
    """The probe's single line for active tests: `async with tests.turn(name, due) as turn:`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = asyncio.Lock()  # FIFO: asyncio wakes its waiters in arrival order
        self.current: Turn | None = None
        self.waiting = 0  # tests queued behind the one running

    @asynccontextmanager
    async def turn(self, name: str, due: float | None = None) -> AsyncIterator[Turn]:
        asked = self.clock()
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1
        try:
            turn = Turn(name, asked if due is None else min(due, asked), self.clock())
            self.current = turn
            yield turn
        finally:
            if self.current is not None:
                self.current.ended = self.clock()
            self.current = None
            self._lock.release()
