"""STAMP codec and sans-IO session (runs under CPython and MicroPython: no fixtures)."""

from agent.core import stamp

MS = 1000000
# 2026-11-29T06:40:00.25Z in NTP format, computed by hand: 1795934400 s since 1970 + 2208988800.
UNIX_NS = 1795934400 * 1000000000 + 250000000
NTP = ((1795934400 + 2208988800) << 32) | (1 << 30)


def _raises(fn, *args):
    try:
        fn(*args)
    except stamp.StampError as exc:
        return str(exc)
    raise AssertionError("no StampError")


def test_ntp_timestamp_is_seconds_since_1900_in_32_32():
    assert stamp.ntp_from_unix_ns(UNIX_NS) == NTP
    assert stamp.ns_from_ntp_delta(3 << 31) == 1500000000


def test_error_estimate_round_trips_within_one_step():
    for err in (1000, 50000, MS, 250 * MS, 3000 * MS):
        est = stamp.error_estimate(True, err)
        assert est & 0x8000  # S bit: synchronised
        assert est & 0xFF  # multiplier is never 0 (RFC 4656)
        back = stamp.error_ns(est)
        assert err <= back <= err * 1.01 + 1, (err, back)
    assert not stamp.error_estimate(False, MS) & 0x8000


def test_sender_packet_layout_is_rfc8762():
    pkt = stamp.encode_test(7, NTP, 0x8001)
    assert len(pkt) == 44
    assert pkt[0:4] == b"\x00\x00\x00\x07"
    assert int.from_bytes(pkt[4:12], "big") == NTP
    assert pkt[12:14] == b"\x80\x01"
    assert pkt[14:] == bytes(30)
    got = stamp.decode_test(pkt)
    assert (got.seq, got.timestamp, got.estimate, got.size) == (7, NTP, 0x8001, 44)


def test_reflected_packet_layout_is_rfc8762():
    pkt = stamp.encode_test(9, NTP, 0x0001, size=100)
    out = stamp.reflect(pkt, NTP + 10, NTP + 20, 0x8002, 63)
    assert len(out) == 100  # same length as received: never amplifies
    assert out[0:4] == pkt[0:4]
    assert int.from_bytes(out[4:12], "big") == NTP + 20
    assert out[12:14] == b"\x80\x02"
    assert out[14:16] == b"\x00\x00"
    assert int.from_bytes(out[16:24], "big") == NTP + 10
    assert out[24:28] == pkt[0:4]
    assert out[28:36] == pkt[4:12]
    assert out[36:38] == pkt[12:14]
    assert out[38:40] == b"\x00\x00"
    assert out[40] == 63
    assert out[41:] == bytes(59)
    r = stamp.decode_reflected(out)
    assert (r.sender_seq, r.sender_timestamp, r.sender_ttl, r.rx_timestamp) == (
        9,
        NTP,
        63,
        NTP + 10,
    )


def test_short_and_oversized_packets_are_refused_with_their_size():
    assert "43 octets" in _raises(stamp.decode_test, bytes(43))
    assert "1473 octets" in _raises(stamp.decode_test, bytes(1473))
    assert "shorter" in _raises(stamp.reflect, bytes(10), 0, 0, 1, 64)
    assert "shorter" in _raises(stamp.decode_reflected, bytes(0))
    assert "size" in _raises(stamp.encode_test, 0, 0, 1, 20)


def test_session_rtt_subtracts_reflector_residence_time():
    s = stamp.Sender(count=3, interval_ns=10 * MS, timeout_ns=500 * MS)
    assert s.deadline() == 0
    t = 1000 * MS
    pkt = s.poll(t, NTP)
    assert pkt is not None
    assert s.poll(t + 1, NTP) is None  # not due yet
    assert s.deadline() == t + 10 * MS
    # The reflector held it 2 ms (by its own clock); it came back 7 ms after it left.
    rx = NTP + (5 << 32)  # a reflector clock 5 s off does not matter
    reply = stamp.reflect(pkt, rx, rx + (2 * (1 << 32)) // 1000, 1, 255)
    rtt = s.receive(reply, t + 7 * MS)
    assert rtt is not None and abs(rtt - 5 * MS) < 2
    assert s.receive(reply, t + 8 * MS) is None  # duplicate
    assert s.duplicates == 1


def test_session_counts_loss_late_and_stray_packets():
    s = stamp.Sender(count=4, interval_ns=MS, timeout_ns=100 * MS)
    pkts = []
    now = 0
    while s.deadline() is not None and s.sent < 4:
        due = s.deadline()
        now = max(now, due)
        pkts.append(s.poll(now, NTP + len(pkts)))
    assert [stamp.decode_test(p).seq for p in pkts] == [0, 1, 2, 3]
    assert s.receive(stamp.reflect(pkts[0], NTP, NTP, 1, 64), now + 1 * MS) is not None
    assert s.receive(stamp.reflect(pkts[2], NTP, NTP, 1, 64), now + 2 * MS) is not None
    # Seq 1 comes back after the timeout: late, so lost.
    assert s.receive(stamp.reflect(pkts[1], NTP, NTP, 1, 64), now + 200 * MS) is None
    assert s.late == 1
    # A packet answering a timestamp we never sent (an older session) is not counted.
    forged = stamp.reflect(stamp.encode_test(3, NTP + 99, 1), NTP, NTP, 1, 64)
    assert "no packet" in _raises(s.receive, forged, now + 3 * MS)
    assert not s.finished(now + 50 * MS)
    assert s.finished(now + 100 * MS)
    summary = s.summary()
    assert summary["sent"] == 4 and summary["received"] == 2
    assert summary["loss"] == 0.5


def test_session_finishes_early_when_everything_came_back():
    s = stamp.Sender(count=1, interval_ns=MS, timeout_ns=1000 * MS)
    pkt = s.poll(0, NTP)
    assert not s.finished(1)
    s.receive(stamp.reflect(pkt, NTP, NTP, 1, 64), 3 * MS)
    assert s.finished(3 * MS) and s.deadline() is None


def test_summary_statistics_rank_a_lost_packet_last():
    rtts = [10 * MS, 12 * MS, None, 11 * MS, 30 * MS]
    out = stamp.summarize(rtts, 5)
    assert out["rtt_ms_min"] == 10.0
    # Ranked over all 5 sent, the lost one last: [10, 11, 12, 30, lost]; the median is rank 2.
    assert out["rtt_ms_median"] == 12.0
    # p95 sits at position 3.8, between 30 and the lost packet: a loss decides it.
    assert out["rtt_ms_p95"] is None and out["invalid_by_loss"] == ["rtt_ms_p95"]
    assert out["rtt_pdv_ms"] is None
    # |IPDV| of the consecutive pairs that both came back: (0,1) = 2 ms and (3,4) = 19 ms.
    assert abs(out["rtt_ipdv_ms"] - 10.5) < 1e-9
    assert out["loss"] == 0.2


def test_summary_without_loss_matches_numpy_linear_percentiles():
    # numpy.percentile([10, 11, 12, 30], [50, 95]) == [11.5, 27.3] (linear, numpy's default).
    out = stamp.summarize([10 * MS, 12 * MS, 11 * MS, 30 * MS], 4)
    assert out["rtt_ms_median"] == 11.5
    assert abs(out["rtt_ms_p95"] - 27.3) < 1e-9
    assert abs(out["rtt_pdv_ms"] - 17.3) < 1e-9
    assert out["invalid_by_loss"] == []


def test_p95_survives_a_loss_the_rank_does_not_reach():
    # 50 sent, 2 lost: p95 sits at position 46.55, below the first lost rank (48).
    rtts = [(i + 1) * MS for i in range(48)] + [None, None]
    out = stamp.summarize(rtts, 50)
    assert abs(out["rtt_ms_p95"] - 47.55) < 1e-9
    # A third loss reaches it: the worst packets are the ones missing, so no p95 is honest.
    three_lost = [None] * 3
    out = stamp.summarize(rtts[:47] + three_lost, 50)
    assert out["rtt_ms_p95"] is None and out["rtt_ms_median"] == 25.5


def test_summary_when_nothing_came_back_is_unknown_not_zero():
    out = stamp.summarize([None, None], 2)
    assert out["loss"] == 1.0
    assert out["rtt_ms_median"] is None and out["rtt_ipdv_ms"] is None


def test_sender_bounds():
    assert "count" in _raises(stamp.Sender, 0, MS, MS)
    assert "count" in _raises(stamp.Sender, stamp.MAX_COUNT + 1, MS, MS)
    assert "interval" in _raises(stamp.Sender, 10, MS - 1, MS)
    assert "timeout" in _raises(stamp.Sender, 10, MS, 0)
