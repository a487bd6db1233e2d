"""Helpers of the collector tests (and benchmarks), importable by a name no other folder uses:
PostgreSQL databases made for a test, a collector run as a task, the probe's side of MQTT, and a
small seeded fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import aiomqtt

from agent.core import acks
from collector.broker import Broker
from collector.ingest import Collector
from collector.store import Store
from hil.mosquitto import Mosquitto

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; its URL. Dropped afterwards, connections and all."""
    import psycopg

    name = f"qiyas_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def broker_of(mosquitto: Mosquitto) -> Broker:
    return Broker(mosquitto.host, mosquitto.port)


@contextlib.asynccontextmanager
async def running(collector: Collector, timeout: float = 10.0) -> AsyncIterator[Collector]:
    """collector running as a task, subscribed; stopped (and awaited) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        await asyncio.wait_for(collector.subscribed.wait(), timeout)
        yield collector
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout)


class ProbeSide:
    """What a probe sees over MQTT: it publishes records and collects the acks it gets."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.acks: asyncio.Queue[tuple[str, int, int, int]] = asyncio.Queue()
        self.feed: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.client.publish(topic, payload, qos=1)

    async def next_acks(self, n: int, timeout: float = 10.0) -> list[tuple[str, int, int, int]]:
        """The next n (probe, epoch, seq, status) acknowledgements, waiting at most timeout."""
        out: list[tuple[str, int, int, int]] = []
        async with asyncio.timeout(timeout):
            while len(out) < n:
                out.append(await self.acks.get())
        return out

    async def _receive(self) -> None:
        async for message in self.client.messages:
            topic = message.topic.value
            assert isinstance(message.payload, bytes)
            if topic.endswith("/acks"):
                probe = topic.split("/")[3]
                for epoch, seq, status in acks.decode(message.payload):
                    self.acks.put_nowait((probe, epoch, seq, status))
            else:
                self.feed.put_nowait((topic, message.payload))


# A small national fleet: (probe, operator, technology, region, base down Mbit/s, base RTT ms).
FLEET = [
    ("ma-cas-fwa-01", "IAM", "5G-FWA", "MA-06", 120.0, 22.0),
    ("ma-rab-ftth-01", "Orange", "FTTH", "MA-04", 480.0, 6.0),
    ("ma-mar-4g-01", "inwi", "4G", "MA-07", 28.0, 41.0),
    ("ma-tng-ftth-01", "IAM", "FTTH", "MA-01", 300.0, 8.0),
]
HOURS = 12


def seed_fleet(store: Store, now_ms: int) -> dict[str, list[float]]:
    """FLEET's probes registered with metadata, each with one capacity and one latency record an
    hour for the last HOURS hours (down = base + 3·h Mbit/s, up = down / 10, RTT = base + h/2).
    Returns the down_mbps values stored per operator."""
    from probe_signing import SigningProbe

    from agent.core import topics
    from collector import batch, registry
    from collector.store import ProbeRow

    down_by_operator: dict[str, list[float]] = {}
    for name, operator, technology, region, down0, rtt0 in FLEET:
        probe = SigningProbe(name)
        registry.add_key(store, name, probe.public_key)
        registry.set_probe(store, ProbeRow(name, operator, technology, region, commune="x"))
        context = (
            {"optical": {"rx_dbm": -18.5, "tx_dbm": 2.0}}
            if technology == "FTTH"
            else {"radio": {"rsrp_dbm": -97, "sinr_db": 11.0, "cell": "604-01-77"}}
        )
        messages = []
        for h in range(HOURS):
            t = now_ms - (HOURS - h) * 3_600_000 + 60_000
            down = down0 + 3 * h
            values = {"down_mbps": down, "up_mbps": down / 10, "loaded_rtt_ms_median_down": 90.0}
            latency = {"rtt_ms_median": rtt0 + h / 2}
            messages.append(
                probe.record(2 * h, kind="capacity", values=values, time_ms=t, context=context)
            )
            messages.append(
                probe.record(2 * h + 1, kind="latency", values=latency, time_ms=t + 1000,
                             context=context)
            )  # fmt: skip
            down_by_operator.setdefault(operator, []).append(down)
        topic = topics.records(name)
        outcome = batch.process(store, store.key, [(topic, m) for m in messages], now_ms)
        assert outcome.stored == 2 * HOURS, outcome
    return down_by_operator
