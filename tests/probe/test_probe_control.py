"""The capacity control protocol and HOST[:PORT] parsing: exact layouts, bounded, fuzzed."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probe import control
from agent.probe.endpoint import Endpoint, parse_endpoint, reason

TOKEN = bytes(range(16))


def test_request_layout_and_round_trip() -> None:
    req = control.Request(control.UP, 4, 3, 10_000, TOKEN)
    raw = control.encode_request(req)
    assert len(raw) == control.REQUEST_SIZE == 32
    assert raw[:4] == b"QYC1"
    assert raw[4:8] == bytes((1, 4, 3, 0))
    assert raw[8:12] == (10_000).to_bytes(4, "big")
    assert raw[12:28] == TOKEN and raw[28:] == bytes(4)
    assert control.decode_request(raw) == req


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"HTTP" + b[4:], "not a capacity request"),
        (lambda b: b[:4] + b"\x03" + b[5:], "direction 3"),
        (lambda b: b[:5] + b"\x00" + b[6:], "streams 0"),
        (lambda b: b[:5] + b"\x11" + b[6:], "streams 17"),
        (lambda b: b[:6] + b"\x04" + b[7:], "stream index 4"),
        (lambda b: b[:7] + b"\x01" + b[8:], "reserved"),
        (lambda b: b[:8] + bytes(4) + b[12:], "duration 0 ms"),
        (lambda b: b[:8] + (10**6).to_bytes(4, "big") + b[12:], "duration 1000000 ms"),
        (lambda b: b[:28] + b"\x01\x00\x00\x00", "reserved"),
        (lambda b: b[:31], "31 octets"),
    ],
)
def test_bad_requests_are_named(mutate: Callable[[bytes], bytes], message: str) -> None:
    raw = control.encode_request(control.Request(control.DOWN, 4, 0, 5000, TOKEN))
    with pytest.raises(control.ControlError, match=message):
        control.decode_request(mutate(raw))


def test_reply_and_report() -> None:
    raw = control.encode_reply(control.Reply(control.OK, 3000))
    assert raw == b"QYA1\x00\x00\x00\x00" + (3000).to_bytes(4, "big")
    assert control.decode_reply(raw) == (control.OK, 3000)
    assert control.decode_reply(control.encode_reply(control.Reply(control.BUSY, 0))).status == 1
    with pytest.raises(control.ControlError, match="unknown status 9"):
        control.decode_reply(b"QYA1\x09" + bytes(7))
    with pytest.raises(control.ControlError, match="granted duration 0"):
        control.decode_reply(b"QYA1" + bytes(8))
    assert control.decode_report(control.encode_report(50, 2**40)) == (50, 2**40)


@given(st.binary(max_size=64))
def test_decoders_take_any_bytes(data: bytes) -> None:
    decoders = (control.decode_request, control.decode_reply, control.decode_report)
    for decode in (*decoders, control.decode_load):
        try:
            decode(data)
        except control.ControlError as exc:
            assert str(exc)


@given(
    st.sampled_from([control.DOWN, control.UP, control.LOAD]),
    st.integers(1, 16).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.integers(1, control.MAX_DURATION_MS),
    st.binary(min_size=16, max_size=16),
)
def test_every_valid_request_round_trips(
    direction: int, streams: tuple[int, int], duration: int, token: bytes
) -> None:
    req = control.Request(direction, streams[0], streams[1], duration, token)
    assert control.decode_request(control.encode_request(req)) == req


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("probe.example", Endpoint("probe.example", 8620)),
        ("198.18.0.2:9000", Endpoint("198.18.0.2", 9000)),
        ("[2001:db8::1]", Endpoint("2001:db8::1", 8620)),
        ("[2001:db8::1]:7", Endpoint("2001:db8::1", 7)),
        ("2001:db8::1", Endpoint("2001:db8::1", 8620)),
    ],
)
def test_endpoints(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "HOST"),
        ("a b", "HOST"),
        (":80", "no host"),
        ("h:0", "port must be 1..65535"),
        ("h:70000", "port must be"),
        ("h:x", "port must be"),
        ("[::1", "missing"),
        ("[::1]x", "expected ':PORT'"),
    ],
)
def test_bad_endpoints_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_endpoint(text)


@given(st.text(max_size=300))
def test_endpoint_parser_takes_any_text(text: str) -> None:
    try:
        ep = parse_endpoint(text)
    except ValueError:
        return
    assert ep.host and 1 <= ep.port <= 65535


def test_reasons_are_plain() -> None:
    assert reason(OSError(111, "Connect call failed ('198.18.0.2', 1)")) == "Connection refused"
    assert reason(socket.gaierror(-2, "Name or service not known")) == "Name or service not known"
    assert reason(TimeoutError()) == "timed out"


def test_load_message_round_trips_and_unknown_stays_unknown() -> None:
    raw = control.encode_load(control.Load(0.4567, None, 3))
    assert len(raw) == control.LOAD_SIZE and raw[:4] == b"QYL1"
    assert control.decode_load(raw) == (0.457, None, 3)  # per mille on the wire
    assert control.decode_load(control.encode_load(control.Load(None, None, None))) == (
        None,
        None,
        None,
    )
    with pytest.raises(control.ControlError, match="reserved octets"):
        control.decode_load(raw[:-1] + b"\x01")
