"""Hostile input to the firmware's parsers: whatever arrives, each either parses or raises its
own error naming what was wrong; nothing else escapes, nothing runs unbounded."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import mqtt
from firmware import settings as device_settings
from firmware.clock import parse_cclk

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=6),
    max_leaves=20,
)  # fmt: skip
KEYS = ["probe_id", "board", "broker", "schedule", "modem", "outbox_max_records", "watchdog_s",
        "ack_timeout_s", "echo_records", "state_dir", "key_file"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=len(KEYS)))
def test_settings_parse_or_say_why(data: dict[str, object]) -> None:
    try:
        parsed = device_settings.parse(json.dumps(data).encode())
    except device_settings.SettingsError as exc:
        assert str(exc)
    else:
        assert parsed.probe_id == data["probe_id"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_settings_refuse_any_bytes_cleanly(raw: bytes) -> None:
    with contextlib.suppress(device_settings.SettingsError):
        device_settings.parse(raw)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_network_time_parses_or_is_none(line: str) -> None:
    value = parse_cclk('+CCLK: "' + line + '"')
    assert value is None or value >= 1704067200000 - 14 * 3600 * 1000  # 2024, any offset


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 15), st.binary(max_size=300))
def test_publish_bodies_parse_or_raise_mqtt_error(flags: int, body: bytes) -> None:
    try:
        topic, payload, _pid = mqtt.parse_publish(flags, body)
    except mqtt.MQTTError:
        return
    assert len(topic.encode()) + len(payload) <= len(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_packet_reader_is_bounded(data: bytes) -> None:
    class Reader:
        def __init__(self) -> None:
            self.data = data

        async def readexactly(self, n: int) -> bytes:
            if len(self.data) < n:
                raise EOFError
            chunk, self.data = self.data[:n], self.data[n:]
            return chunk

    coro = mqtt.read_packet(Reader())  # type: ignore[arg-type]
    try:
        coro.send(None)
    except StopIteration as done:
        kind, _, body = done.value
        assert 0 <= kind <= 15 and len(body) <= mqtt.MAX_PACKET
    except (EOFError, mqtt.MQTTError):
        pass
