"""The uplink reconnects at once when its broker dies in the middle of a burst of publishes.

A real Mosquitto is frozen (SIGSTOP) while the uplink publishes a burst, so PUBACKs are owed,
then killed (SIGKILL) and started again on the same port. The uplink must be connected again well
before aiomqtt's 10 s operation timeout would have let a pending publish give up, and everything
it had not delivered is still in its outbox and delivered on the new connection.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from agent import config as config_mod
from agent.outbox import Outbox
from agent.uplink import Uplink
from hil.fleet import write_agent_config
from hil.mosquitto import Mosquitto

BURST = 150
# Well under aiomqtt's 10 s timeout; a reconnect that waits for it fails this.
RECONNECT_WITHIN_S = 3.0


def _received(broker: Mosquitto, topic: str, expected: int, timeout: float) -> set[bytes]:
    """The distinct payloads a subscriber on topic sees, until it has expected of them."""
    seen: set[bytes] = set()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: seen.add(bytes(msg.payload))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    return seen


async def test_broker_killed_during_a_burst(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=False).start()
    try:
        path = write_agent_config(tmp_path / "agent", "ma-reconnect", broker.url, {})
        config = config_mod.load(path)
        outbox = Outbox(tmp_path / "outbox.db")
        uplink = Uplink(config, outbox, {"probe": "ma-reconnect"})
        stop = asyncio.Event()
        task = asyncio.create_task(uplink.run(stop))
        await asyncio.wait_for(uplink.connected.wait(), 10)

        assert broker.proc is not None
        os.kill(broker.proc.pid, signal.SIGSTOP)  # PUBACKs stop coming: publishes are pending
        for i in range(BURST):
            outbox.add("status", lambda epoch, seq, i=i: b"record %d" % i)
        uplink.wake()
        deadline = time.monotonic() + 5
        while uplink.published == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the burst is written to the socket, its PUBACKs owed
        killed_at = time.monotonic()
        os.kill(broker.proc.pid, signal.SIGKILL)
        broker.proc.wait()
        broker.proc = None
        broker.start()
        await asyncio.wait_for(_reconnected(uplink), 15)
        took = time.monotonic() - killed_at
        assert took < RECONNECT_WITHIN_S, f"reconnected {took:.1f} s after the broker died"

        # Nothing was acknowledged (no collector): the whole burst is still owed and is sent
        # again on the new connection.
        assert outbox.depth == BURST
        seen = await asyncio.to_thread(
            _received, broker, "qiyas/v1/probes/ma-reconnect/records", BURST, 10
        )
        assert len(seen) == BURST
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        broker.stop()


async def _reconnected(uplink: Uplink) -> None:
    while uplink.connected.is_set():
        await asyncio.sleep(0.01)
    await uplink.connected.wait()
