"""The chaos harness: real agents produce records steadily through real Mosquitto into a real
collector (all separate processes) while faults are injected; then everything is let settle and
the agents' outboxes are reconciled against the collector's store.

Faults, each a method: broker stopped and restarted; collector `kill -9` while it is storing a
backlog; agent `kill -9` while it is publishing a backlog; a disk-full outbox (the agent's state
lives on a tiny tmpfs that is filled up, then freed); a wall-clock jump backwards or forwards
(injected into the agent's time.time by `clock/sitecustomize.py`: the system clock cannot be
changed here); a flapping link (the agents reach the broker through a relay whose connections are
reset and refused, then restored).

Used by tests/chaos/test_chaos.py (bounded) and tests/bench/bench_chaos.py (long).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.keys import load_or_create
from agent.outbox import peek
from collector import registry
from collector.store import open_store
from hil.fleet import AgentProcess, QiyasProcess, write_agent_config
from hil.mosquitto import Mosquitto, free_port

CLOCK_DIR = Path(__file__).parent / "clock"
TMPFS_BYTES = 2 * 1024 * 1024


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll condition() until it returns something truthy (returned), or fail after timeout."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
    return value


class FlappingLink:
    """A TCP relay to the broker. cut() resets every connection and refuses new ones, as a link
    that drops does; restore() listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.url = f"mqtt://{self.host}:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()
        self._thread.start()
        self.restore()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair: tuple[Any, Any] = (writer.transport, up_writer.transport)
        self._transports.update(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._transports.difference_update(pair)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, self.host, self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._transports):
            transport.abort()  # an RST, as when the access link drops

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class Probe:
    name: str
    home: Path
    config: Path
    process: AgentProcess
    clock_file: Path
    starts: int = 0

    @property
    def state(self) -> Path:
        return self.home / "state"

    def outbox(self) -> tuple[int, set[int]]:
        """(seqs issued, seqs waiting to be acknowledged), read on a connection of our own."""
        seen = peek(self.state / "outbox.db")
        return seen.issued, seen.waiting

    def refusals(self) -> int:
        """Records the disk refused, as the agent's log tells."""
        return self.process.log.read_text(errors="replace").count("record not kept")


@dataclass
class Report:
    produced: int = 0  # records the agents committed (seqs issued)
    stored: int = 0  # distinct records in the collector's store
    duplicates: int = 0  # records stored more than once
    lost: int = 0  # committed, never stored
    waiting: int = 0  # committed, still in an outbox at the end (must be 0 after settle)
    refused_by_disk: int = 0  # never committed: the disk was full (the agents' logs)
    refusals_reported: int = 0  # ... as told by the agents' `disk-full` status records
    redeliveries: int = 0  # resends the collector recognised (from its clean-stop summaries)
    births: int = 0  # birth status records stored (one per agent start)
    agent_starts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    per_probe: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["faults"] = dict(self.faults)
        return out


class ChaosRun:
    """A broker, a collector and n agents (health every second), with fault injectors."""

    def __init__(self, workdir: Path, agents: int = 3) -> None:
        self.workdir = workdir
        self.stack = ExitStack()
        self.faults: Counter[str] = Counter()
        self.started = time.monotonic()
        self.db = workdir / "collector.db"
        self.broker = Mosquitto(workdir / "broker")
        self.link = FlappingLink(self.broker.host, self.broker.port)
        self.collector = QiyasProcess(
            ["collector", "run", "--broker", self.broker.url, "--db", str(self.db),
             "--client-id", "chaos-collector", "--no-feed"],
            workdir / "collector.log",
        )  # fmt: skip
        self.probes = [self._probe(f"chaos-{i:02d}") for i in range(agents)]

    def _probe(self, name: str) -> Probe:
        home = self.workdir / name
        state = home / "state"
        state.mkdir(parents=True)
        config = write_agent_config(home, name, self.link.url, {"health": 1})
        clock_file = home / "clock-offset"
        clock_file.write_text("0")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(CLOCK_DIR), os.environ.get("PYTHONPATH", "")]),
            "QIYAS_CLOCK_OFFSET_FILE": str(clock_file),
        }
        return Probe(name, home, config, AgentProcess(config, home / "agent.log", env), clock_file)

    # --- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> ChaosRun:
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def _start(self) -> None:
        self.stack.callback(self.link.close)
        if os.geteuid() == 0:
            tmpfs = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs"]
            for probe in self.probes:  # a tiny disk of its own, so that it can be filled up
                subprocess.run([*tmpfs, str(probe.state)], check=True)
                self.stack.callback(subprocess.run, ["umount", "-l", str(probe.state)], check=False)
        self.stack.callback(self.broker.stop)
        self.broker.start()
        with open_store(str(self.db)) as store:
            for probe in self.probes:
                key = load_or_create(probe.state / "probe.key")
                registry.add_key(store, probe.name, key.public_key)
        self.stack.callback(self.collector.stop)
        self.collector.start()
        for probe in self.probes:
            self.stack.callback(probe.process.stop)
            self._start_agent(probe)
        self.wait_stored(len(self.probes) * 2, 60)

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def _start_agent(self, probe: Probe) -> None:
        probe.process.start()
        probe.starts += 1

    def stored_count(self) -> int:
        with open_store(str(self.db)) as store:
            return store.count_records()

    def wait_stored(self, at_least: int, timeout: float) -> None:
        wait_until(lambda: self.stored_count() >= at_least, timeout, f"{at_least} records stored")

    # --- faults -------------------------------------------------------------------------------

    def broker_outage(self, records: int = 2) -> None:
        """Stop the broker until every agent has measured `records` more into its outbox."""
        self.faults["broker restarts"] += 1
        targets = [(p, p.outbox()[0] + records) for p in self.probes]
        self.broker.stop()
        wait_until(
            lambda: all(p.outbox()[0] >= target for p, target in targets),
            30,
            f"{records} records measured offline by each agent",
        )
        self.broker.start()
        assert self.broker.proc is not None and self.broker.proc.poll() is None, (
            f"the broker did not come back on port {self.broker.port} (taken by another process?)"
        )

    def kill_collector_while_storing(self, backlog: int = 3) -> None:
        """An outage builds a backlog; kill -9 the collector as soon as it is storing it."""
        self.broker_outage(backlog)
        before = self.stored_count()
        wait_until(lambda: self.stored_count() > before, 30, "the backlog being stored")
        self.collector.kill()
        self.faults["collector kill -9 mid-commit"] += 1
        self.collector.start()

    def kill_agent_while_publishing(self, probe: Probe, backlog: int = 3) -> None:
        """An outage builds a backlog; kill -9 the agent as soon as its backlog starts to shrink."""
        self.broker_outage(backlog)
        waiting = len(probe.outbox()[1])
        wait_until(lambda: len(probe.outbox()[1]) < waiting, 30, f"{probe.name} publishing")
        probe.process.kill()
        self.faults["agent kill -9 mid-publish"] += 1
        self._start_agent(probe)

    def disk_full(self, probe: Probe, refusals: int = 2, hold_s: float | None = None) -> None:
        """Fill the agent's tmpfs to the last byte until it has refused `refusals` records.

        hold_s: give up waiting after this long (the journal may still have room inside its
        file, so that the agent commits on for a while): the disk is freed without an error.
        """
        if os.geteuid() != 0:
            return  # no tmpfs without root: not injected, and the report's faults say so
        target = probe.refusals() + refusals
        filler = probe.state / "filler"
        with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as f:
            while True:  # until ENOSPC
                f.write(b"\0" * 65536)
        self.faults["disk full"] += 1
        try:
            wait_until(
                lambda: probe.refusals() >= target, hold_s or 30, f"{probe.name} refusing records"
            )
        except TimeoutError:
            if hold_s is None:
                raise
        finally:
            filler.unlink()

    def clock_jump(self, probe: Probe, seconds: float) -> None:
        """Jump the agent's wall clock by seconds (negative: backwards) from where it is now."""
        offset = float(probe.clock_file.read_text()) + seconds
        probe.clock_file.write_text(repr(offset))
        self.faults["clock jump " + ("forwards" if seconds > 0 else "backwards")] += 1

    def flap(self, cycles: int, down: float = 0.5, up: float = 1.0) -> None:
        """The agents' link drops and comes back, cycles times. (The durations are the fault.)"""
        for _ in range(cycles):
            self.link.cut()
            time.sleep(down)
            self.link.restore()
            time.sleep(up)
            self.faults["link flaps"] += 1

    # --- the end ------------------------------------------------------------------------------

    def settle(self, timeout: float = 120.0) -> Report:
        """Undo every fault, let the agents deliver everything and stop, then reconcile."""
        for probe in self.probes:
            probe.clock_file.write_text("0")
            if probe.process.proc is not None and probe.process.proc.poll() is not None:
                raise AssertionError(f"agent {probe.name} died: see {probe.process.log}")
        # Each agent measures again once its faults are over (and reports what the disk refused),
        issued = [(p, p.outbox()[0] + 2) for p in self.probes]
        wait_until(lambda: all(p.outbox()[0] >= n for p, n in issued), 30, "measuring again")
        # and delivers everything.
        wait_until(
            lambda: all(not p.outbox()[1] for p in self.probes), timeout, "every outbox drained"
        )
        for probe in self.probes:
            probe.process.stop()  # drains what it measured meanwhile before it exits
        self.collector.stop()
        return self.reconcile()

    def reconcile(self) -> Report:
        report = Report(faults=self.faults, seconds=time.monotonic() - self.started)
        with open_store(str(self.db)) as store:
            rows = list(store.records())
        by_probe: dict[str, Counter[int]] = {p.name: Counter() for p in self.probes}
        reported: Counter[str] = Counter()
        for row in rows:
            by_probe[row.probe][row.seq] += 1
            event = row.record["values"].get("event") if row.kind == "status" else None
            if event == "birth":
                report.births += 1
            elif event == "disk-full":
                reported[row.probe] += row.record["values"]["lost"]
        for probe in self.probes:
            issued, waiting = probe.outbox()
            seqs = by_probe[probe.name]
            lost = len(set(range(1, issued + 1)) - set(seqs) - waiting)
            stats = {
                "produced": issued,
                "stored": len(seqs),
                "duplicates": sum(n - 1 for n in seqs.values()),
                "waiting": len(waiting),
                "lost": lost,
                "refused_by_disk": probe.refusals(),
                "refusals_reported": reported[probe.name],
                "starts": probe.starts,
            }
            report.per_probe[probe.name] = stats
            report.produced += issued
            report.stored += stats["stored"]
            report.duplicates += stats["duplicates"]
            report.waiting += stats["waiting"]
            report.lost += lost
            report.refused_by_disk += stats["refused_by_disk"]
            report.refusals_reported += stats["refusals_reported"]
            report.agent_starts += probe.starts
        summaries = " ".join(self.collector.log.read_text(errors="replace").split())
        report.redeliveries = sum(
            int(n) for n in re.findall(r"stopped: \d+ stored, (\d+) duplicates", summaries)
        )
        return report
