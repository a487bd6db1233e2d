"""A small asyncio MQTT 3.1.1 client for the firmware: QoS 1 publish and subscribe, a retained
will, keepalive. It runs on MicroPython's asyncio and, for the host build, on CPython's.

Why not micropython-lib's umqtt: umqtt.simple blocks in socket reads, and the firmware must keep
polling the modem and feeding the watchdog while the uplink waits for a broker or an ack; its
`check_msg()` polling would tie ack latency to a poll interval. A 3.1.1 client is enough: shared
subscriptions are the collectors' business, and Mosquitto/EMQX bridge 3.1.1 and 5 clients on
the same topics. The session is persistent (clean session off) so acks the collector sends
while the probe is away are delivered when it returns.

Input from the broker is bounded: a packet longer than MAX_PACKET ends the connection.
"""

import asyncio

from agent.core.errors import QiyasError

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from collections.abc import Callable  # noqa: F401 - in type comments, unread by ruff

MAX_PACKET = 32768  # the largest ack message (1000 triples) is ~12 KiB
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
_CONNACK_TEXT = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "broker unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MQTTError(QiyasError):
    """The broker refused us, broke the protocol, or did not answer in time."""


# --- packets (sans-IO) --------------------------------------------------------------------


def _varint(n):
    # type: (int) -> bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _text(s):
    # type: (str | bytes) -> bytes
    raw = s.encode() if isinstance(s, str) else s
    return len(raw).to_bytes(2, "big") + raw


def packet(kind, flags, body):
    # type: (int, int, bytes) -> bytes
    if len(body) > MAX_PACKET:
        raise MQTTError("packet of %d bytes exceeds %d" % (len(body), MAX_PACKET))
    return bytes(((kind << 4) | flags,)) + _varint(len(body)) + body


def connect_packet(client_id, keepalive_s, will_topic, will_payload, clean=False):
    # type: (str, int, str, bytes, bool) -> bytes
    # flags: will retain (0x20), will QoS 1 (0x08), will (0x04), clean session (0x02)
    flags = 0x2C | (0x02 if clean else 0)
    body = _text("MQTT") + bytes((4, flags)) + keepalive_s.to_bytes(2, "big")
    body += _text(client_id) + _text(will_topic) + _text(will_payload)
    return packet(CONNECT, 0, body)


def publish_packet(topic, payload, pid, retain=False, dup=False):
    # type: (str, bytes, int, bool, bool) -> bytes
    flags = 0x02 | (0x01 if retain else 0) | (0x08 if dup else 0)  # QoS 1
    return packet(PUBLISH, flags, _text(topic) + pid.to_bytes(2, "big") + payload)


def subscribe_packet(topic, pid):
    # type: (str, int) -> bytes
    return packet(SUBSCRIBE, 0x02, pid.to_bytes(2, "big") + _text(topic) + b"\x01")


def parse_publish(flags, body):
    # type: (int, bytes) -> tuple[str, bytes, int | None]
    """(topic, payload, packet id or None for QoS 0) of a PUBLISH body."""
    if len(body) < 2:
        raise MQTTError("PUBLISH too short")
    n = int.from_bytes(body[:2], "big")
    if 2 + n > len(body):
        raise MQTTError("PUBLISH topic overruns the packet")
    try:
        topic = bytes(body[2 : 2 + n]).decode()
    except UnicodeError:
        raise MQTTError("PUBLISH topic is not UTF-8") from None
    at = 2 + n
    pid = None
    if (flags >> 1) & 3:
        if at + 2 > len(body):
            raise MQTTError("PUBLISH packet id missing")
        pid = int.from_bytes(body[at : at + 2], "big")
        at += 2
    return topic, bytes(body[at:]), pid


async def read_packet(reader):
    # type: (asyncio.StreamReader) -> tuple[int, int, bytes]
    """(kind, flags, body) of the next packet; MQTTError on a bound or framing fault."""
    first = await reader.readexactly(1)
    length = 0
    for i in range(4):
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            break
    else:
        raise MQTTError("remaining length longer than 4 bytes")
    if length > MAX_PACKET:
        raise MQTTError("packet of %d bytes exceeds %d" % (length, MAX_PACKET))
    body = await reader.readexactly(length) if length else b""
    return first[0] >> 4, first[0] & 0x0F, body


# --- client -------------------------------------------------------------------------------


class Client:
    """One connection. `connect()`, then `publish()`/`subscribe()`; incoming messages go to
    `on_message(topic, payload)`; `closed` is set when the connection ends, for any reason."""

    def __init__(self, client_id, on_message, keepalive_s=60, timeout_s=10):
        # type: (str, Callable[[str, bytes], None], int, float) -> None
        self.client_id = client_id
        self.on_message = on_message
        self.keepalive_s = keepalive_s
        self.timeout_s = timeout_s
        self.closed = asyncio.Event()
        self.error = None  # type: str | None  # why the connection ended, when it did not end by close()
        self._reader = None  # type: asyncio.StreamReader | None
        self._writer = None  # type: asyncio.StreamWriter | None
        self._pid = 0
        self._waiting = {}  # type: dict[int, asyncio.Event]
        self._tasks = []  # type: list[asyncio.Task[None]]

    async def connect(self, host, port, will_topic, will_payload, ssl=None):
        # type: (str, int, str, bytes, object) -> bool
        """Open the session; returns whether the broker still had it (session present)."""
        if ssl is None:
            opening = asyncio.open_connection(host, port)
        else:
            opening = asyncio.open_connection(host, port, ssl=ssl)
        reader, writer = await asyncio.wait_for(
            opening, self.timeout_s
        )  # type: asyncio.StreamReader, asyncio.StreamWriter  # fmt: skip
        self._reader, self._writer = reader, writer
        await self._send(connect_packet(self.client_id, self.keepalive_s, will_topic, will_payload))
        reply = read_packet(reader)
        kind, _, body = await asyncio.wait_for(reply, self.timeout_s)  # type: int, int, bytes
        if kind != CONNACK or len(body) != 2:
            raise MQTTError("broker answered CONNECT with packet type %d" % kind)
        if body[1]:
            raise MQTTError("broker refused: %s" % _CONNACK_TEXT.get(body[1], str(body[1])))
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._ping())]
        return bool(body[0] & 1)

    async def publish(self, topic, payload, retain=False):
        # type: (str, bytes, bool) -> None
        """Publish at QoS 1 and wait for the broker's PUBACK (not a receipt by the collector)."""
        pid = self._next_pid()
        await self._acknowledged(pid, publish_packet(topic, payload, pid, retain))

    async def subscribe(self, topic):
        # type: (str) -> None
        pid = self._next_pid()
        await self._acknowledged(pid, subscribe_packet(topic, pid))

    async def close(self):
        # type: () -> None
        if self._writer is not None and not self.closed.is_set():
            try:
                await self._send(packet(DISCONNECT, 0, b""))
            except OSError:
                pass
        self._shutdown(None)

    # -- internals ---------------------------------------------------------------------------

    def _next_pid(self):
        # type: () -> int
        self._pid = self._pid % 0xFFFF + 1
        return self._pid

    async def _send(self, data):
        # type: (bytes) -> None
        writer = self._writer
        if writer is None:
            raise MQTTError("not connected")
        writer.write(data)
        await writer.drain()

    async def _acknowledged(self, pid, data):
        # type: (int, bytes) -> None
        """Send data and wait for the broker's acknowledgement of pid (PUBACK, SUBACK)."""
        if self.closed.is_set():
            raise MQTTError("not connected: %s" % (self.error or "closed"))
        done = asyncio.Event()
        self._waiting[pid] = done
        try:
            await self._send(data)
            await asyncio.wait_for(done.wait(), self.timeout_s)
        except asyncio.TimeoutError:
            self._shutdown("no acknowledgement from the broker in %d s" % self.timeout_s)
            raise MQTTError(self.error) from None
        finally:
            self._waiting.pop(pid, None)
        if self.closed.is_set() and self.error:
            raise MQTTError(self.error)

    async def _receive(self):
        # type: () -> None
        reader = self._reader
        if reader is None:
            return
        try:
            while True:
                kind, flags, body = await read_packet(reader)
                if kind in (PUBACK, SUBACK) and len(body) >= 2:
                    waiter = self._waiting.get(int.from_bytes(body[:2], "big"))
                    if waiter is not None:
                        waiter.set()
                elif kind == PUBLISH:
                    topic, payload, pid = parse_publish(flags, body)
                    # Handle first, then PUBACK: a message we failed on is redelivered.
                    self.on_message(topic, payload)
                    if pid is not None:
                        await self._send(packet(PUBACK, 0, pid.to_bytes(2, "big")))
        except (OSError, EOFError, MQTTError, ValueError) as exc:
            self._shutdown("connection lost: %s" % (exc or type(exc).__name__))
        except asyncio.CancelledError:
            pass

    async def _ping(self):
        # type: () -> None
        try:
            while True:
                await asyncio.sleep(self.keepalive_s / 2)
                await self._send(packet(PINGREQ, 0, b""))
        except OSError as exc:
            self._shutdown("connection lost: %s" % exc)
        except asyncio.CancelledError:
            pass

    def _shutdown(self, error):
        # type: (str | None) -> None
        if self.closed.is_set():
            return
        self.error = error
        self.closed.set()
        for waiter in self._waiting.values():
            waiter.set()
        for task in self._tasks:
            task.cancel()
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError:
                pass
