"""Hostile and random input to the STAMP codec and session: only StampError, never a crash."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import stamp

U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
SIZES = st.integers(stamp.BASE_SIZE, stamp.MAX_SIZE)


@given(st.binary(max_size=2000))
def test_decoders_and_reflector_take_any_bytes(data: bytes) -> None:
    for fn in (stamp.decode_test, stamp.decode_reflected):
        try:
            fn(data)
        except stamp.StampError:
            assert not stamp.BASE_SIZE <= len(data) <= stamp.MAX_SIZE
    try:
        out = stamp.reflect(data, 1, 2, 1, 64)
    except stamp.StampError:
        assert not stamp.BASE_SIZE <= len(data) <= stamp.MAX_SIZE
    else:
        assert len(out) == len(data)


@given(U32, U64, st.integers(0, 0xFFFF), SIZES, U64, U64, st.integers(0, 255))
def test_reflection_carries_the_sender_fields(
    seq: int, ts: int, est: int, size: int, rx: int, tx: int, ttl: int
) -> None:
    out = stamp.decode_reflected(
        stamp.reflect(stamp.encode_test(seq, ts, est, size), rx, tx, 1, ttl)
    )
    assert (out.seq, out.sender_seq, out.sender_timestamp, out.sender_estimate) == (
        seq,
        seq,
        ts,
        est,
    )
    assert (out.rx_timestamp, out.timestamp, out.sender_ttl, out.size) == (rx, tx, ttl, size)


@given(st.integers(0, 2**62))
def test_ntp_conversion_is_exact_to_a_nanosecond(unix_ns: int) -> None:
    ntp = stamp.ntp_from_unix_ns(unix_ns)
    base = stamp.ntp_from_unix_ns(0)
    back = stamp.ns_from_ntp_delta((ntp - base) % 2**64)
    # 32.32 wraps every 2**32 s (2036 era); compare inside one era.
    assert abs(back - unix_ns % (2**32 * 10**9)) <= 1


@settings(max_examples=50)
@given(st.lists(st.binary(max_size=120), max_size=30), st.integers(1, 20))
def test_session_survives_garbage_replies(garbage: list[bytes], count: int) -> None:
    s = stamp.Sender(count, stamp.MIN_INTERVAL_NS, stamp.MAX_TIMEOUT_NS)
    now = 0
    sent = []
    while s.sent < count:
        due = s.deadline()
        assert due is not None
        now = max(now, due)
        pkt = s.poll(now, now)
        assert pkt is not None
        sent.append(pkt)
    for data in garbage:
        with contextlib.suppress(stamp.StampError):
            s.receive(data, now)
    s.receive(stamp.reflect(sent[0], 0, 0, 1, 64), now)
    out = s.summary()
    assert out["sent"] == count
    assert 1 <= out["received"] <= count
    assert 0.0 <= out["loss"] < 1.0


@given(st.lists(st.one_of(st.none(), st.integers(0, 10**10)), min_size=1, max_size=200))
def test_summary_orders_its_figures(rtts: list[int | None]) -> None:
    out = stamp.summarize(rtts, len(rtts))
    if out["received"]:
        # A percentile that a lost packet decides is null and named, never a made-up number.
        for name in ("rtt_ms_median", "rtt_ms_p95"):
            assert (out[name] is None) == (name in out["invalid_by_loss"])
        figures = [out[n] for n in ("rtt_ms_min", "rtt_ms_median", "rtt_ms_p95")]
        known = [f for f in figures if f is not None]
        assert known == sorted(known)
        assert max(r for r in rtts if r is not None) / 1e6 >= known[-1]
    assert out["loss"] == (len(rtts) - out["received"]) / len(rtts)
