"""The MQTT ingest loop: receive records as one member of the shared group, store them in batches,
then acknowledge them and publish them on the live feed.

Order per batch, which is the whole durability argument: receive → verify → commit → ack. A
collector that dies before the commit acks nothing, and the probe resends from its outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from agent.core import topics
from collector import batch
from collector.broker import Broker
from collector.registry import KeyCache
from collector.replay import SeqWindow
from collector.store import Store, now_ms

log = logging.getLogger("qiyas.collector")

# Probes' retained birth/death messages, shared like the records (see collector.presence).
SHARED_STATUS = topics.SHARED_GROUP + topics.PREFIX + "+/status"


@dataclass
class Stats:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    store_failures: int = 0
    connections: int = 0


class Collector:
    """One collector instance. `await Collector(...).run(stop)` ingests until stop is set.

    client_id must be stable across restarts of this instance (its broker session, holding
    records that arrived while it was away, is found by it) and unique among instances.
    batch_size / batch_window_s: a batch is committed when it has batch_size messages or when
    batch_window_s has passed since its first one, whichever comes first.
    """

    def __init__(
        self,
        store: Store,
        broker: Broker,
        client_id: str,
        batch_size: int = 256,
        batch_window_s: float = 0.01,
        feed: bool = True,
    ) -> None:
        self.store = store
        self.broker = broker
        self.client_id = client_id
        self.batch_size = batch_size
        self.batch_window_s = batch_window_s
        self.feed = feed
        self.lookup = KeyCache(store)
        self.window = SeqWindow(store.highest_seq)
        self.quarantine_budget = batch.QuarantineBudget()
        self.stats = Stats()
        self.subscribed = asyncio.Event()
        self._progress = asyncio.Condition()

    async def wait_until(self, predicate: Callable[[Stats], bool]) -> None:
        """Until predicate(stats) holds, checked after each (re)subscription and each batch."""
        async with self._progress:
            await self._progress.wait_for(lambda: predicate(self.stats))

    async def _count(self, **increments: int) -> None:
        async with self._progress:
            for name, n in increments.items():
                setattr(self.stats, name, getattr(self.stats, name) + n)
            self._progress.notify_all()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                client = self.broker.client(self.client_id)
                # A batch publishes up to one ack message per probe plus one feed message per
                # record at once; aiomqtt warns beyond this many pending publishes.
                client.pending_calls_threshold = 2 * self.batch_size + 16
                async with client:
                    await client.subscribe(topics.shared_records(), qos=1)
                    await client.subscribe(SHARED_STATUS, qos=1)
                    log.info("subscribed to %s as %s", topics.shared_records(), self.client_id)
                    self.subscribed.set()
                    await self._count(connections=1)
                    backoff = 0.2
                    await self._pump(client, stop)
            except (aiomqtt.MqttError, OSError) as exc:
                log.warning("broker connection lost or refused: %s", exc)
            except Exception:
                # A bug, not input (input is quarantined in batch): say so, reconnect, go on.
                log.exception("ingest failed; reconnecting")
            finally:
                self.subscribed.clear()
            if not stop.is_set():
                # Jitter spreads a fleet of collectors reconnecting after a broker restart.
                delay = backoff * random.uniform(0.5, 1.5)
                backoff = min(backoff * 2, 10.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _pump(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        # Bounded: when storing falls behind, messages wait in aiomqtt's own bounded queue and
        # beyond that are dropped unacknowledged, so their probes resend them; memory stays flat.
        queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue(maxsize=8 * self.batch_size)

        async def receive() -> None:
            async for message in client.messages:
                await queue.put(message)

        receiver = asyncio.create_task(receive())
        stopping = asyncio.create_task(stop.wait())
        try:
            while True:
                first = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {first, receiver, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if first not in done:
                    first.cancel()
                    if receiver in done:
                        receiver.result()  # re-raises the MqttError that ended reception
                        return
                    # Stopping: what was already received is still stored and acked.
                    await self._drain(client, queue)
                    return
                await self._handle(client, await self._fill(first.result(), queue))
        finally:
            receiver.cancel()
            stopping.cancel()

    async def _fill(
        self, first: aiomqtt.Message, queue: asyncio.Queue[aiomqtt.Message]
    ) -> list[aiomqtt.Message]:
        messages = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_window_s
        while len(messages) < self.batch_size:
            if not queue.empty():
                messages.append(queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                messages.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return messages

    async def _drain(self, client: aiomqtt.Client, queue: asyncio.Queue[aiomqtt.Message]) -> None:
        while not queue.empty():
            messages = [queue.get_nowait() for _ in range(min(queue.qsize(), self.batch_size))]
            await self._handle(client, messages)

    async def _handle(self, client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
        items = [(m.topic.value, _payload_bytes(m.payload)) for m in messages]
        try:
            outcome = await asyncio.to_thread(
                batch.process,
                self.store,
                self.lookup,
                items,
                now_ms(),
                self.window,
                self.quarantine_budget,
            )
        except Exception:
            # Nothing committed, nothing acked: the probes resend these from their outboxes.
            log.exception("storing a batch of %d messages failed; none acknowledged", len(items))
            await self._count(store_failures=1)
            return
        await self._count(
            batches=1,
            stored=outcome.stored,
            duplicates=outcome.duplicates,
            quarantined=outcome.quarantined,
        )
        publishes = [client.publish(t, p, qos=1) for t, p in outcome.ack_messages()]
        if self.feed:
            publishes += [client.publish(t, p, qos=0) for t, p in outcome.feed_messages()]
        await asyncio.gather(*publishes)


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    # paho hands str/int/float/None only for payloads we publish ourselves; treat them as text.
    return b"" if payload is None else str(payload).encode()
