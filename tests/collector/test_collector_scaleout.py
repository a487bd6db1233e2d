"""Scale-out: three collector processes in one shared group, one Mosquitto, one PostgreSQL.

Probes resend what was not acknowledged, as the agent's outbox does; one collector is killed
(SIGKILL, no goodbye) mid-run. Every record must end up stored exactly once and acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest
from collector_helpers import postgres_database
from probe_signing import SigningProbe

from agent.core import acks, topics
from collector import registry
from collector.store import open_store
from hil.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
PROBES = 4
PER_PROBE = 150
RESEND_AFTER_S = 1.5


class CollectorProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.subscribed = asyncio.Event()
        self.log: list[bytes] = []
        # Drain stderr continuously: a full pipe would stall the collector, not the test.
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.log.append(line)
            if b"subscribed to" in line:
                self.subscribed.set()


@contextlib.asynccontextmanager
async def collectors(broker: Mosquitto, db: str, n: int) -> AsyncIterator[list[CollectorProcess]]:
    procs = []
    for i in range(n):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tools.cli", "collector", "run", "--broker", broker.url,
            "--db", db, "--client-id", f"scale-{i}", "--no-feed", "--batch-size", "32",
            cwd=ROOT, stderr=asyncio.subprocess.PIPE, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        procs.append(CollectorProcess(proc))
    try:
        async with asyncio.timeout(30):
            for p in procs:
                await p.subscribed.wait()
        yield procs
    finally:
        for p in procs:
            if p.proc.returncode is None:
                p.proc.terminate()
            await asyncio.wait_for(p.proc.wait(), 20)
            p.reader.cancel()


async def deliver_all(
    broker: Mosquitto, outbox: dict[tuple[str, int], bytes], kill: Callable[[], None]
) -> int:
    """Publish the outbox, resending what is not acknowledged after RESEND_AFTER_S, until all
    are acknowledged; calls kill() once a third are. Returns how many publishes it took."""
    total = len(outbox)
    acked = asyncio.Event()
    killed = False
    published = 0
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe("qiyas/v1/probes/+/acks", qos=1)

        async def receive() -> None:
            nonlocal killed
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                probe = message.topic.value.split("/")[3]
                for _, seq, status in acks.decode(message.payload):
                    assert status in (acks.STORED, acks.DUPLICATE)
                    outbox.pop((probe, seq), None)
                if not killed and len(outbox) < total * 2 // 3:
                    killed = True
                    kill()
                acked.set()

        receiver = asyncio.create_task(receive())
        try:
            async with asyncio.timeout(90):
                while outbox:
                    for (probe, _), raw in list(outbox.items()):
                        await client.publish(topics.records(probe), raw, qos=1)
                        published += 1
                    # Resend only what stays unacknowledged for a while, as the agent does.
                    with contextlib.suppress(TimeoutError):
                        while outbox:
                            acked.clear()
                            await asyncio.wait_for(acked.wait(), RESEND_AFTER_S)
        finally:
            receiver.cancel()
    return published


@pytest.mark.postgres
async def test_three_collectors_one_killed_store_every_record_exactly_once(
    mosquitto: Mosquitto,
) -> None:
    probes = [SigningProbe(f"ma-scale-{i:02d}") for i in range(PROBES)]
    outbox = {(p.probe, seq): p.record(seq) for p in probes for seq in range(PER_PROBE)}
    expected = len(outbox)
    with postgres_database() as db:
        with open_store(db) as store:
            for p in probes:
                registry.add_key(store, p.probe, p.public_key)
        async with collectors(mosquitto, db, 3) as procs:
            published = await deliver_all(
                mosquitto, outbox, lambda: procs[0].proc.send_signal(signal.SIGKILL)
            )
            assert procs[0].proc.returncode in (None, -signal.SIGKILL)
            await asyncio.wait_for(procs[0].proc.wait(), 10)
            assert procs[0].proc.returncode == -signal.SIGKILL
        with open_store(db) as store:
            rows = store.query("SELECT COUNT(*), COUNT(DISTINCT (probe, epoch, seq)) FROM records")
            per_probe = dict(store.query("SELECT probe, COUNT(*) FROM records GROUP BY probe"))
    assert published >= expected
    assert rows == [(expected, expected)]
    assert per_probe == {p.probe: PER_PROBE for p in probes}
