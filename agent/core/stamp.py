from agent.core.errors import InvalidInput

"""STAMP (RFC 8762), unauthenticated mode: packet codec, sans-IO Session-Sender and stateless
Session-Reflector, and the round-trip statistics.

The packets are also TWAMP-light test packets (RFC 5357 §4.1.2, §4.2.1): a TWAMP-light
reflector answers our sender and tshark decodes both as TWAMP-Test.

Session-Sender test packet (44 octets, RFC 8762 §4.2.1):
    sequence(4) timestamp(8) error-estimate(2) MBZ(30)
Session-Reflector test packet (44 octets, RFC 8762 §4.3.1):
    sequence(4) timestamp(8) error-estimate(2) MBZ(2) receive-timestamp(8)
    sender-sequence(4) sender-timestamp(8) sender-error-estimate(2) MBZ(2) sender-TTL(1) MBZ(3)
A packet may be longer (padding); the reflector answers with exactly the length it received, so
it never amplifies.

Clocks: the caller passes readings in. Round-trip time is measured on the sender's monotonic
clock, minus the reflector's residence time (its transmit minus receive timestamp, both on the
reflector's clock), so neither clock needs to be synchronised with the other.

Statistics (docs/qoe.md §1): percentiles rank a packet that never came back as worse than every
one that did, and are None (named in `invalid_by_loss`) when that rank decides them. Delay
variation is of round trips, not one-way (no synchronised clocks): `rtt_ipdv_ms`, the mean
|RTT(i) - RTT(i-1)| of consecutive packets that both came back (RFC 5481 §4.1 IPDV form; unlike
the RFC 3550 smoothed estimator it has no start-up bias), and `rtt_pdv_ms`, p95 minus minimum
(RFC 5481 §4.2 PDV form).
"""

BASE_SIZE = 44
MAX_SIZE = 1472  # a 1500-octet MTU less IPv4 and UDP headers
MAX_COUNT = 10000
MIN_INTERVAL_NS = 1000000  # 1 ms: at most 1000 packets a second per session
MAX_TIMEOUT_NS = 10000000000

NTP_UNIX_OFFSET_S = 2208988800  # 1900-01-01 to 1970-01-01
_NS = 1000000000
_U32 = 0xFFFFFFFF

# Error estimate (RFC 4656 §4.1.2): S(ynchronised) bit, Z bit (0 = NTP format), 6-bit scale,
# 8-bit multiplier; error = multiplier * 2**(scale - 32) seconds. The multiplier must not be 0.
_S_BIT = 0x8000
_Z_BIT = 0x4000


class StampError(InvalidInput):
    """A packet or argument that is not what STAMP allows; the text says what was wrong."""


def ntp_from_unix_ns(unix_ns):
    # type: (int) -> int
    """A 64-bit NTP timestamp (32.32 seconds since 1900) from nanoseconds since 1970."""
    sec = unix_ns // _NS
    frac = ((unix_ns - sec * _NS) << 32) // _NS
    return (((sec + NTP_UNIX_OFFSET_S) & _U32) << 32) | frac


def ns_from_ntp_delta(delta):
    # type: (int) -> int
    """Nanoseconds in a difference of two NTP timestamps (32.32 fixed point)."""
    return (delta * _NS) >> 32


def error_estimate(synced, error_ns):
    # type: (bool, int) -> int
    """The 16-bit error estimate for a clock that is `synced` and good to `error_ns`."""
    if error_ns <= 0:
        raise StampError("error estimate must be positive")
    # multiplier * 2**scale >= error in units of 2**-32 s, with the smallest scale that fits.
    units = (error_ns << 32) // _NS + 1
    scale = 0
    while (units + (1 << scale) - 1) >> scale > 0xFF:
        scale += 1
    if scale > 0x3F:
        raise StampError("error estimate too large")
    multiplier = (units + (1 << scale) - 1) >> scale
    return (_S_BIT if synced else 0) | (scale << 8) | multiplier


def error_ns(estimate):
    # type: (int) -> int
    """The error in nanoseconds that a 16-bit error estimate states."""
    scale = (estimate >> 8) & 0x3F
    return ((estimate & 0xFF) << scale) * _NS >> 32


def _check_size(size):
    if not BASE_SIZE <= size <= MAX_SIZE:
        raise StampError("packet size %d is outside %d..%d" % (size, BASE_SIZE, MAX_SIZE))


def encode_test(seq, timestamp, estimate, size=BASE_SIZE):
    # type: (int, int, int, int) -> bytes
    """A Session-Sender test packet, zero padded to `size` octets."""
    _check_size(size)
    head = seq.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + estimate.to_bytes(2, "big")
    return head + bytes(size - 14)


class TestPacket:
    """A decoded Session-Sender test packet."""

    __slots__ = ("estimate", "seq", "size", "timestamp")

    def __init__(self, seq, timestamp, estimate, size):
        self.seq = seq
        self.timestamp = timestamp
        self.estimate = estimate
        self.size = size


def decode_test(data):
    # type: (bytes) -> TestPacket
    n = len(data)
    if n < BASE_SIZE:
        raise StampError("test packet of %d octets is shorter than %d" % (n, BASE_SIZE))
    if n > MAX_SIZE:
        raise StampError("test packet of %d octets is longer than %d" % (n, MAX_SIZE))
    return TestPacket(
        int.from_bytes(data[0:4], "big"),
        int.from_bytes(data[4:12], "big"),
        int.from_bytes(data[12:14], "big"),
        n,
    )


class ReflectedPacket:
    """A decoded Session-Reflector test packet."""

    __slots__ = (
        "estimate",
        "rx_timestamp",
        "sender_estimate",
        "sender_seq",
        "sender_timestamp",
        "sender_ttl",
        "seq",
        "size",
        "timestamp",
    )

    def __init__(self, data):
        self.seq = int.from_bytes(data[0:4], "big")
        self.timestamp = int.from_bytes(data[4:12], "big")
        self.estimate = int.from_bytes(data[12:14], "big")
        self.rx_timestamp = int.from_bytes(data[16:24], "big")
        self.sender_seq = int.from_bytes(data[24:28], "big")
        self.sender_timestamp = int.from_bytes(data[28:36], "big")
        self.sender_estimate = int.from_bytes(data[36:38], "big")
        self.sender_ttl = data[40]
        self.size = len(data)


def decode_reflected(data):
    # type: (bytes) -> ReflectedPacket
    n = len(data)
    if n < BASE_SIZE:
        raise StampError("reflected packet of %d octets is shorter than %d" % (n, BASE_SIZE))
    if n > MAX_SIZE:
        raise StampError("reflected packet of %d octets is longer than %d" % (n, MAX_SIZE))
    return ReflectedPacket(data)


def reflect(data, rx_timestamp, tx_timestamp, estimate, ttl):
    # type: (bytes, int, int, int, int) -> bytes
    """The stateless reflector's answer (RFC 8762 §4.3): same length, its sequence number copied.

    rx_timestamp/tx_timestamp: NTP timestamps of reception and of (just before) transmission;
    ttl: the IP TTL / hop limit the test packet arrived with (255 when unknown, RFC 8762 §4.3.1).
    """
    test = decode_test(data)
    if not 0 <= ttl <= 255:
        raise StampError("ttl %d is not an octet" % ttl)
    seq = data[0:4]
    return (
        seq
        + tx_timestamp.to_bytes(8, "big")
        + estimate.to_bytes(2, "big")
        + bytes(2)
        + rx_timestamp.to_bytes(8, "big")
        + seq
        + data[4:14]
        + bytes(2)
        + bytes((ttl,))
        + bytes(test.size - 41)
    )


def ranked_percentile(ordered, total, p):
    # type: (list[int], int, float) -> float | None
    """Percentile p of `total` samples of which `ordered` (ascending) came back and the rest were
    lost, a loss ranking above every sample; None when a lost one enters the interpolation.
    Linear interpolation between closest ranks (numpy's default)."""
    if total <= 0:
        return None
    pos = (total - 1) * p / 100.0
    lo = int(pos)
    hi = lo + 1 if pos > lo else lo
    if hi >= len(ordered):
        return None
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


PERCENTILES = (("rtt_ms_median", 50), ("rtt_ms_p95", 95))


def summarize(rtts_ns, sent):
    # type: (list[int | None], int) -> dict
    """Round-trip statistics of one session.

    rtts_ns[i]: the round-trip time of sequence number i in nanoseconds, None when it never came
    back (in time). Returns rtt_ms_min/median/p95, rtt_ipdv_ms, rtt_pdv_ms, loss (a fraction),
    sent, received and invalid_by_loss (the percentiles that loss made meaningless, None); the
    RTT figures are None when nothing came back.
    """
    got = [r for r in rtts_ns[:sent] if r is not None]
    invalid = []  # type: list[str]
    out = {
        "sent": sent,
        "received": len(got),
        "loss": (sent - len(got)) / sent if sent else None,
        "rtt_ms_min": None,
        "rtt_ms_median": None,
        "rtt_ms_p95": None,
        "rtt_ipdv_ms": None,
        "rtt_pdv_ms": None,
        "invalid_by_loss": invalid,
    }  # type: dict
    if not got:
        return out
    ordered = sorted(got)
    low = ordered[0] / 1e6
    out["rtt_ms_min"] = low
    for name, p in PERCENTILES:
        value = ranked_percentile(ordered, sent, p)
        if value is None:
            invalid.append(name)
        else:
            out[name] = value / 1e6
    high = out["rtt_ms_p95"]
    if high is not None:
        out["rtt_pdv_ms"] = high - low
    diffs = 0
    total = 0
    prev = None
    for r in rtts_ns[:sent]:
        if r is not None and prev is not None:
            total += abs(r - prev)
            diffs += 1
        prev = r
    if diffs:
        out["rtt_ipdv_ms"] = total / diffs / 1e6
    return out


class Sender:
    """A Session-Sender: `count` packets `interval_ns` apart; a reply later than `timeout_ns`
    after its packet left counts as lost.

    Drive it with a monotonic clock in nanoseconds:
        pkt = s.poll(now, wall_ntp)   -> bytes to send now, or None
        s.receive(data, now)          -> the round-trip time in ns, or None (duplicate, late)
        s.deadline()                  -> when to call poll next; None once finished
        s.summary()                   -> summarize(...) of the session
    """

    def __init__(self, count, interval_ns, timeout_ns, size=BASE_SIZE, estimate=None):
        # type: (int, int, int, int, int | None) -> None
        if not 1 <= count <= MAX_COUNT:
            raise StampError("count %d is outside 1..%d" % (count, MAX_COUNT))
        if interval_ns < MIN_INTERVAL_NS:
            raise StampError("interval below %d ms" % (MIN_INTERVAL_NS // 1000000))
        if not 0 < timeout_ns <= MAX_TIMEOUT_NS:
            raise StampError("timeout outside 0..%d s" % (MAX_TIMEOUT_NS // _NS))
        _check_size(size)
        self.count = count
        self.interval_ns = interval_ns
        self.timeout_ns = timeout_ns
        self.size = size
        self.estimate = error_estimate(False, 1000000) if estimate is None else estimate
        self.sent = 0
        self.late = 0
        self.duplicates = 0
        self.stray = 0
        self.received = 0
        self._start = None  # type: int | None
        self._sent_at = [0] * count
        self._sent_ts = [0] * count
        self._rtt = [None] * count  # type: list[int | None]

    def deadline(self):
        # type: () -> int | None
        """Monotonic time of the next packet or of the final timeout; None once finished."""
        if self.sent < self.count:
            return 0 if self._start is None else self._start + self.sent * self.interval_ns
        if self.received == self.count:
            return None
        return self._sent_at[self.count - 1] + self.timeout_ns

    def finished(self, now_ns):
        # type: (int) -> bool
        due = self.deadline()
        return due is None or (self.sent == self.count and now_ns >= due)

    def poll(self, now_ns, wall_ntp):
        # type: (int, int) -> bytes | None
        """The next test packet if one is due at `now_ns`; `wall_ntp` goes in its timestamp."""
        if self.sent >= self.count:
            return None
        if self._start is None:
            self._start = now_ns
        elif now_ns < self._start + self.sent * self.interval_ns:
            return None
        seq = self.sent
        self._sent_at[seq] = now_ns
        self._sent_ts[seq] = wall_ntp
        self.sent += 1
        return encode_test(seq, wall_ntp, self.estimate, self.size)

    def receive(self, data, now_ns):
        # type: (bytes, int) -> int | None
        """Account for a reflected packet; raises StampError for one that is not ours."""
        pkt = decode_reflected(data)
        seq = pkt.sender_seq
        if seq >= self.sent or pkt.sender_timestamp != self._sent_ts[seq]:
            self.stray += 1
            raise StampError("reflected packet answers no packet of this session")
        if self._rtt[seq] is not None:
            self.duplicates += 1
            return None
        raw = now_ns - self._sent_at[seq]
        if raw > self.timeout_ns:
            self.late += 1
            return None
        residence = ns_from_ntp_delta((pkt.timestamp - pkt.rx_timestamp) & 0xFFFFFFFFFFFFFFFF)
        # A reflector whose clock stepped between receive and send gives nonsense; keep raw RTT.
        rtt = raw - residence if residence < raw else raw
        self._rtt[seq] = rtt
        self.received += 1
        return rtt

    def rtts(self):
        # type: () -> list[int | None]
        return self._rtt[: self.sent]

    def summary(self):
        # type: () -> dict
        out = summarize(self._rtt, self.sent)
        out["late"] = self.late
        out["duplicates"] = self.duplicates
        return out
