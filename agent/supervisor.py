"""The agent: runs each scheduled source, signs what it measures into the outbox, keeps the uplink.

Every measurement becomes a record that is signed and committed before any network I/O; a source
that fails is logged and retried at its next turn — no source can bring the agent down.
The signed commands and the status page act on it only through agent.control.Control, which
`Agent` implements; a change of configuration there is a new AgentConfig, not an edit of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent import __version__, boards, clock, keys
from agent.config import AgentConfig, ConfigError
from agent.control import AgentStatus, ControlError
from agent.core.recorder import Recorder
from agent.outbox import Outbox
from agent.schedule_registry import ACTIVE_SOURCES, LINK_SOURCES, SERVER_SOURCES
from agent.sources import LinkState, Measurement, Source, load_factory
from agent.uplink import Uplink

if TYPE_CHECKING:
    from agent.activerun import ActiveRunner
    from agent.statuspage import StatusPage

log = logging.getLogger("qiyas.agent")

MEASURE_TIMEOUT_S = 300.0
DRAIN_ON_STOP_S = 5.0


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.board = boards.load(config.board)
        self.key = keys.load_or_create(config.key_path)
        self.outbox = Outbox(config.outbox_path, config.outbox_max_records)
        self.link = LinkState()
        self.versions = {
            "agent": __version__,
            "board": self.board.name,
            "firmware": config.firmware,
        }
        status = {"probe": config.probe_id, "epoch": self.outbox.epoch, **self.versions}
        on_command = None
        if config.section("commands"):  # imported only where commands are taken
            from agent import commands

            on_command = commands.handler(config, self, self.outbox)
        self.uplink = Uplink(config, self.outbox, status, on_command=on_command)
        names = sorted(config.schedule, key=lambda n: (n not in LINK_SOURCES, n))
        self.sources: dict[str, Source] = {
            name: load_factory(name)(config, self.board) for name in names
        }
        self.recorder = Recorder(
            config.probe_id,
            self.versions,
            self.key.kid,
            self.key.sign,
            self.outbox,
            self._now,
            self._context,
            self._committed,
            log.error,
        )
        # Link polls one at a time: the scheduled ones and those around each active test.
        self._link_lock = asyncio.Lock()
        self.runner: ActiveRunner | None = None
        if any(name in ACTIVE_SOURCES for name in self.sources):  # only where tests run
            from agent.activerun import ActiveRunner

            self.runner = ActiveRunner(
                config, self.sources, self.link, self._poll_link, self._commit_extra, self.outbox
            )
        # The household's pause (wall clock, kept in the outbox so a restart does not end it).
        self.paused_until = float(self.outbox.meta("paused_until"))
        # Called with (kind, values, time_ms) for each committed record: the status page's history.
        self.observers: list[Callable[[str, dict[str, Any], int], None]] = []
        self.statuspage: StatusPage | None = None
        if "statuspage" in config.data:  # imported only where the page is served
            from agent.statuspage import StatusPage

            self.statuspage = StatusPage(self, config)
            self.observers.append(self.statuspage.observe)

    def commit(self, kind: str, values: dict[str, Any]) -> bytes | None:
        """Sign and store one record; the signed bytes kept, or None if nothing could be.

        agent.core.recorder decides what a refusal leaves, the same as on the firmware: values
        the schema refuses become a `record-refused` status record, a disk that refuses the
        write a `disk-full` one, room made in a full outbox an `outbox-full` one.
        """
        return self.recorder.record(kind, values)

    def _commit_extra(
        self, kind: str, values: dict[str, Any], extra: dict[str, Any] | None
    ) -> bytes | None:
        """commit, with the outer fields of an active test's result (schema v2)."""
        return self.recorder.record(kind, values, extra)

    def _now(self) -> tuple[int, bool]:
        return int(time.time() * 1000), clock.synchronised()

    def _context(self, kind: str) -> dict[str, Any]:
        return {} if kind in LINK_SOURCES else self.link.context()

    def _committed(self, kind: str, values: dict[str, Any], time_ms: int, signed: bytes) -> None:
        self.uplink.wake()
        for observe in self.observers:
            observe(kind, values, time_ms)

    async def measure(self, name: str) -> None:
        """Run one scheduled source now; an active test takes its turn on the line like any."""
        if self.runner is not None and name in ACTIVE_SOURCES:
            await self.runner.run_now(name, self.config.schedule[name])
        else:
            await self._passive(name)

    async def _passive(self, name: str) -> list[Measurement]:
        """Run a passive source once (modem, ONT, health) and commit what it measured."""
        try:
            if name in LINK_SOURCES:
                async with self._link_lock:
                    results = await self._measure(name)
            else:
                results = await self._measure(name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source's failure is logged, never fatal
            log.error("%s measurement failed: %s: %s", name, type(exc).__name__, exc)
            return []
        for m in results:
            values = m.values
            if m.kind == "health" and self.runner is not None:  # budget, peak shares
                values = {**values, **self.runner.health_values()}
            self.commit(m.kind, values)
        return results

    async def _measure(self, name: str) -> list[Measurement]:
        results: list[Measurement] = await asyncio.wait_for(
            self.sources[name].measure(self.link), MEASURE_TIMEOUT_S
        )
        return results

    async def _poll_link(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The link sources polled now (around an active test): their radio and optical values."""
        found: dict[str, dict[str, Any]] = {}
        for name in (n for n in LINK_SOURCES if n in self.sources):
            for m in await self._passive(name):
                found[m.kind] = m.values
        return found.get("radio"), found.get("optical")

    async def _schedule(self, name: str, interval: float, stop: asyncio.Event) -> None:
        if self.runner is not None and name in ACTIVE_SOURCES:
            await self.runner.run_schedule(
                name, lambda: self.config.schedule.get(name, interval), stop, self.paused
            )
            return
        # Spread a fleet's first measurements so probes do not all measure at once.
        first = random.uniform(0, min(interval, 10.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), first)
        while not stop.is_set():
            started = time.monotonic()
            if not self.paused():
                await self._passive(name)
            # A signed `schedule` command may have changed the interval since.
            interval = self.config.schedule.get(name, interval)
            wait = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    def paused(self) -> bool:
        return time.time() < self.paused_until

    def pause(self, seconds: float) -> None:
        """Skip scheduled measurements for `seconds`; a record says the gap is the household's."""
        self.paused_until = time.time() + seconds
        self.outbox.set_meta("paused_until", int(self.paused_until))
        self.commit("status", {"event": "paused", "detail": f"by the household, {seconds:.0f} s"})

    def resume(self) -> None:
        self.paused_until = 0.0
        self.outbox.set_meta("paused_until", 0)
        self.commit("status", {"event": "resumed", "detail": "by the household"})

    def set_intervals(self, intervals: Mapping[str, float]) -> None:
        missing = [n for n in intervals if n not in self.sources]
        if missing:
            raise ControlError(f"not scheduled on this probe: {', '.join(missing)}")
        # _schedule reads the interval at every turn: the change applies after its current wait.
        self.config = self.config.with_schedule(intervals)

    async def retarget(self, servers: Sequence[str]) -> list[str]:
        affected = [n for n in SERVER_SOURCES if n in self.sources]
        if not affected:
            raise ControlError("no source that measures towards servers is scheduled")
        try:
            config = self.config.with_servers(servers)
            fresh = {n: load_factory(n)(config, self.board) for n in affected}
        except ConfigError as exc:
            raise ControlError(str(exc)) from None
        self.config = config
        for name, source in fresh.items():
            old, self.sources[name] = self.sources[name], source
            await old.aclose()
        return affected

    def status(self) -> AgentStatus:
        return AgentStatus(
            probe=self.config.probe_id,
            connected=self.uplink.connected.is_set(),
            waiting=self.outbox.depth,
            oldest_waiting_s=self.outbox.oldest_age(time.time()),
            paused_until=self.paused_until if self.paused() else None,
            schedule_s=dict(self.config.schedule),
        )

    def _birth(self) -> None:
        self.commit("status", {"event": "birth", "detail": f"epoch {self.outbox.epoch}"})

    async def run(self, stop: asyncio.Event) -> None:
        """Measure on schedule until stop is set, then drain the outbox briefly and leave."""
        self._birth()
        uplink_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.uplink.run(uplink_stop))
            schedules = [
                tg.create_task(self._schedule(name, interval, stop))
                for name, interval in self.config.schedule.items()
            ]
            if self.statuspage is not None:
                tg.create_task(self.statuspage.serve(stop))
            await stop.wait()
            # A measurement still running is abandoned, not recorded: its record would be
            # committed after the drain and wait in the outbox for the next boot.
            for task in schedules:
                task.cancel()
            await asyncio.gather(*schedules, return_exceptions=True)
            await self.drain(DRAIN_ON_STOP_S)
            uplink_stop.set()
        await self.close()

    async def once(self, timeout: float) -> bool:
        """One full cycle: every scheduled source once, then wait until all is acknowledged."""
        self._birth()
        uplink_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.uplink.run(uplink_stop))
            for name in self.sources:
                await self.measure(name)
            drained = await self.drain(timeout)
            uplink_stop.set()
        await self.close()
        return drained

    async def drain(self, timeout: float) -> bool:
        """Wait until the collector has acknowledged everything (True) or timeout (False)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.uplink.drained.wait(), timeout)
        return self.outbox.depth == 0

    async def close(self) -> None:
        for source in self.sources.values():
            with contextlib.suppress(Exception):
                await source.aclose()
        self.outbox.close()
