"""The agent's control interface: what the signed commands and the household's status page may
ask of a running agent, and what they may read of it.

`agent.supervisor.Agent` implements `Control`; `agent.commands` and `agent.statuspage` are
given one and nothing else of the agent, so neither reaches into its outbox, uplink, sources or
configuration, and none of them imports the supervisor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from agent.core.errors import QiyasError


class ControlError(QiyasError):
    """A request the agent cannot carry out (it names a source this probe lacks, servers the
    sources cannot use); the text says which."""


class AgentStatus(NamedTuple):
    probe: str
    connected: bool  # to the broker, now
    waiting: int  # records in the outbox, not yet acknowledged by the collector
    oldest_waiting_s: float | None  # how long the oldest of them has waited; None: none wait
    paused_until: float | None  # the household's pause, wall clock; None: not paused
    schedule_s: dict[str, float]  # the interval in force of each scheduled source


class Control(Protocol):
    def commit(self, kind: str, values: dict[str, Any]) -> bytes | None:
        """Sign and keep one record (agent.core.recorder's policy); the bytes kept, or None."""
        ...

    def pause(self, seconds: float) -> None:
        """Skip scheduled measurements for seconds; a record says the gap is the household's."""
        ...

    def resume(self) -> None: ...

    def set_intervals(self, intervals: Mapping[str, float]) -> None:
        """New intervals for scheduled sources, from each one's next turn; ControlError if one
        is not scheduled here."""
        ...

    async def retarget(self, servers: Sequence[str]) -> list[str]:
        """Point the sources that measure towards servers at these; the names of those sources.
        ControlError if none is scheduled, or they refuse the servers (nothing changed then)."""
        ...

    async def measure(self, name: str) -> None:
        """Run one scheduled source now and record what it measures (never raises for the
        source's failure)."""
        ...

    def status(self) -> AgentStatus: ...


class Counters(Protocol):
    """Durable integers the agent keeps beside its records (agent.outbox.Outbox is one)."""

    def meta(self, key: str) -> int: ...

    def set_meta(self, key: str, value: int) -> None: ...
