"""firmware.mqtt: packets as MQTT 3.1.1 defines them; hostile packets bounded."""

from firmware import mqtt


class Reader:
    """What read_packet reads from: bytes given up front (an asyncio stream's readexactly)."""

    def __init__(self, data):
        self.data = data

    async def readexactly(self, n):
        if len(self.data) < n:
            raise EOFError("closed")
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


def _read(data):
    coro = mqtt.read_packet(Reader(data))
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("read_packet waited")


def _read_fails(data, text):
    try:
        _read(data)
    except mqtt.MQTTError as exc:
        assert text in str(exc), str(exc)
        return
    raise AssertionError(f"accepted {data!r}")


def test_connect_packet_layout():
    raw = mqtt.connect_packet("p1", 60, "t/s", b"x")
    # CONNECT, remaining length, "MQTT" level 4, flags: will retain + will QoS 1 + will
    assert raw == bytes.fromhex("101600044d515454042c003c") + b"\x00\x02p1\x00\x03t/s\x00\x01x"
    assert mqtt.connect_packet("p1", 60, "t/s", b"x", clean=True)[9] == 0x2E


def test_publish_and_subscribe_packets():
    assert mqtt.publish_packet("a/b", b"hi", 10) == bytes.fromhex("3209") + (
        b"\x00\x03a/b\x00\x0ahi"
    )
    assert mqtt.publish_packet("a", b"", 1, retain=True)[0] == 0x33
    assert mqtt.subscribe_packet("a/#", 7) == bytes.fromhex("820800070003612f2301")


def test_remaining_length_uses_up_to_four_bytes():
    assert mqtt.packet(3, 0, bytes(127))[:2] == b"\x30\x7f"
    assert mqtt.packet(3, 0, bytes(128))[:3] == b"\x30\x80\x01"
    assert mqtt.packet(3, 0, bytes(16384))[:4] == b"\x30\x80\x80\x01"
    assert _read(b"\x30\x80\x01" + bytes(128)) == (3, 0, bytes(128))


def test_incoming_packets_are_bounded():
    _read_fails(b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes")
    _read_fails(b"\x30\x81\x80\x04", "exceeds")
    try:
        mqtt.packet(3, 0, bytes(mqtt.MAX_PACKET + 1))
    except mqtt.MQTTError:
        pass
    else:
        raise AssertionError("an oversized packet was built")


def test_parse_publish():
    body = b"\x00\x03a/b\x00\x0apayload"
    assert mqtt.parse_publish(0x02, body) == ("a/b", b"payload", 10)
    assert mqtt.parse_publish(0x00, b"\x00\x01tp") == ("t", b"p", None)
    for flags, bad, text in (
        (0, b"\x00", "too short"),
        (0, b"\x00\x09ab", "overruns"),
        (2, b"\x00\x01t\x00", "packet id missing"),
        (0, b"\x00\x02\xff\xfe", "UTF-8"),
    ):
        try:
            mqtt.parse_publish(flags, bad)
        except mqtt.MQTTError as exc:
            assert text in str(exc)
        else:
            raise AssertionError(f"accepted {bad!r}")
