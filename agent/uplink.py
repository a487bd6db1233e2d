"""The MQTT uplink: publishes the outbox, removes what the collector acknowledges.

MQTT 5, QoS 1, a persistent session (clean_start never, session expiry set) so acks sent while
the probe was away still reach it; retained birth/death on the status topic with the death as
the will; reconnect with jittered exponential backoff so a fleet does not reconnect in step.
A broker's PUBACK is not a receipt: only the collector's ack on `…/acks` removes a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import AgentConfig, BrokerConfig
from agent.core import acks, topics
from agent.outbox import Outbox, Pending

log = logging.getLogger("qiyas.uplink")

SESSION_EXPIRY_S = 7 * 24 * 3600
WINDOW = 200  # records published and not yet acknowledged, at most
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0

CommandHandler = Callable[[bytes], Awaitable[None]]
AckHandler = Callable[[int, int, int], None]  # (epoch, seq, status) of each acknowledgement


def backoff_delay(attempt: int, rng: random.Random = random._inst) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d], d = min(cap, base·2^attempt)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
    return rng.uniform(ceiling / 2, ceiling)


def tls_context(broker: BrokerConfig) -> ssl.SSLContext:
    """The TLS the agent speaks to the broker: broker.ca trusted, broker.cert presented."""
    context = ssl.create_default_context(cafile=broker.ca)
    if broker.cert:
        context.load_cert_chain(broker.cert, broker.key)
    return context


def mqtt_client(
    broker: BrokerConfig, identifier: str, will: aiomqtt.Will | None = None
) -> aiomqtt.Client:
    """The agent's MQTT client: MQTT 5 with a persistent session (clean_start never, session
    expiry set) so acks sent while the probe was away still reach it. `qiyas doctor` connects
    with this same client, so what it proves is what the agent will meet."""
    connect = Properties(PacketTypes.CONNECT)
    connect.SessionExpiryInterval = SESSION_EXPIRY_S
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=connect,
        will=will,
        tls_context=tls_context(broker) if broker.tls else None,
        keepalive=60,
        timeout=10,
    )


class Uplink:
    def __init__(
        self,
        config: AgentConfig,
        outbox: Outbox,
        status: dict[str, Any],
        on_command: CommandHandler | None = None,
        on_ack: AckHandler | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.status = status
        self.on_command = on_command
        self.on_ack = on_ack  # qiyas doctor waits on its test record's
        self.probe = config.probe_id
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()
        self.connected = asyncio.Event()
        self.drained = asyncio.Event()  # set while the outbox is empty
        if outbox.depth == 0:
            self.drained.set()
        self.published = 0
        self.acknowledged = 0

    def wake(self) -> None:
        """A record was committed: send it now rather than at the next resend tick."""
        self.drained.clear()
        self._wake.set()

    def _client(self) -> aiomqtt.Client:
        death = json.dumps({**self.status, "state": "offline", "reason": "connection lost"})
        will = aiomqtt.Will(topics.status(self.probe), death, qos=1, retain=True)
        return mqtt_client(self.config.broker, f"qiyas-agent-{self.probe}", will)

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until stop is set, reconnecting with backoff."""
        attempt = 0
        while not stop.is_set():
            try:
                async with self._client() as client:
                    attempt = 0
                    await self._session(client, stop)
                    await self._say_goodbye(client)
                    return
            except (aiomqtt.MqttError, OSError) as exc:
                self.connected.clear()
                delay = backoff_delay(attempt)
                attempt += 1
                log.warning(
                    "broker %s unreachable (%s); %d records wait in the outbox; retry in %.1fs",
                    self.config.broker.url,
                    exc,
                    self.outbox.depth,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        await client.subscribe(topics.acks(self.probe), qos=1)
        if self.on_command is not None:
            await client.subscribe(topics.commands(self.probe), qos=1)
        birth = json.dumps({**self.status, "state": "online", "since_ms": int(time.time() * 1000)})
        await client.publish(topics.status(self.probe), birth, qos=1, retain=True)
        # Nothing is in flight on a new connection: whatever was not acknowledged is due again.
        self.outbox.forget_sent()
        self._inflight.clear()
        self.connected.set()
        log.info("connected to %s; %d records to send", self.config.broker.url, self.outbox.depth)
        receiver = asyncio.create_task(self._receive(client))
        sender = asyncio.create_task(self._send(client, stop))
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when="FIRST_COMPLETED")
        finally:
            for task in (receiver, sender):
                task.cancel()
            await asyncio.gather(receiver, sender, return_exceptions=True)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc  # a lost connection (MqttError) ends the session; run() reconnects

    async def _send(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        resend_after = self.config.ack_timeout_s
        while not stop.is_set():
            self._wake.clear()
            batch = self._next_batch(resend_after)
            if batch:
                topic = topics.records(self.probe)
                await asyncio.gather(*(client.publish(topic, r.body, qos=1) for r in batch))
                self.outbox.mark_sent([r.seq for r in batch], time.time())
                self._inflight.update(r.seq for r in batch)
                self.published += len(batch)
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=resend_after / 2, return_when="FIRST_COMPLETED")
            for w in waiters:
                w.cancel()

    def _next_batch(self, resend_after: float) -> list[Pending]:
        """Due records: resends always, new ones only while the window has room."""
        room = WINDOW - len(self._inflight)
        batch = []
        for r in self.outbox.due(time.time(), resend_after, limit=WINDOW):
            if r.seq in self._inflight:
                batch.append(r)
            elif room > 0:
                batch.append(r)
                room -= 1
        return batch

    async def _receive(self, client: aiomqtt.Client) -> None:
        acks_topic = topics.acks(self.probe)
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes):
                continue
            if message.topic.matches(acks_topic):
                self._on_acks(payload)
            elif self.on_command is not None:
                await self.on_command(payload)

    def _on_acks(self, payload: bytes) -> None:
        try:
            entries = acks.decode(payload)
        except acks.AckError as exc:
            log.warning("ignored a malformed acknowledgement: %s", exc)
            return
        removed = self.outbox.acknowledge([(epoch, seq) for epoch, seq, _ in entries])
        self.acknowledged += removed
        for epoch, seq, status in entries:
            self._inflight.discard(seq)
            if status == acks.QUARANTINED:
                log.error("collector quarantined record seq %d: check the collector's log", seq)
            if self.on_ack is not None:
                self.on_ack(epoch, seq, status)
        if self.outbox.depth == 0:
            self.drained.set()
        self._wake.set()

    async def _say_goodbye(self, client: aiomqtt.Client) -> None:
        goodbye = json.dumps({**self.status, "state": "offline", "reason": "stopped"})
        await client.publish(topics.status(self.probe), goodbye, qos=1, retain=True)
