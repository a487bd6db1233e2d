"""Multi-stream TCP capacity client: one direction at a time, against the measurement server.

The byte count is taken where the bytes arrive: by us for a download, from the server's reports
for an upload. It is sampled every TICK_S and merged into intervals of INTERVAL_TICKS; the rate is
computed over the steady window that the working-conditions detector finds (agent/probe/steady.py,
docs/methodology.md §3.2):

    result    = bytes delivered during the latest steady window / its duration;
    stability = coefficient of variation of the window's intervals;
    never stable (a short test, a line that never settles): the rate after the older warm-up rule
              (the first tick from MIN_WARMUP_S on at 90 % of the second half's median, at most
              half the test), marked not steady.

The per-interval series covers the whole test (warm-up included) so it can be inspected. Each
stream's TCP_INFO gives what the test itself put on the line, headers included, so that a
vantage's byte counters can tell the household's own traffic apart (§6).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import os
import resource
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agent.core.errors import QiyasError
from agent.probe import bulk, control, steady
from agent.probe.endpoint import Endpoint, ResolveError, reason, resolve

TICK_S = 0.1
INTERVAL_TICKS = 5  # 500-ms intervals for the working-conditions detector
RELEASE_SHARE = 2.0  # a tick this far over the window's median is a head-of-line release
MIN_DURATION_S = 1.0
MIN_WARMUP_S = 0.5  # the older rule, where the detector found no steady window
STEADY_SHARE = 0.9
MAX_SERIES_POINTS = 50
CONNECT_TIMEOUT_S = 5.0
REPORT_GRACE_S = 0.5
PAYLOAD_BYTES = 1024 * 1024
SINK_BYTES = 1024 * 1024
# struct tcp_info (linux/tcp.h): tcpi_bytes_acked, tcpi_bytes_received, tcpi_segs_out,
# tcpi_segs_in at 120 (Linux 4.2+); tcpi_data_segs_out at 156 (4.6+); tcpi_delivered at 192 (4.18+).
TCP_INFO = 11
_TCP_INFO_COUNTS = struct.Struct("@QQII")
_TCP_INFO_DATA_SEGS_OUT = struct.Struct("@I")
_TCP_INFO_DELIVERED = struct.Struct("@I")
TCP_INFO_SIZE = 196
# Per segment, what an interface counts besides TCP payload: Ethernet 14, IP 20 / 40, TCP 20 with
# the 12 octets of timestamp options.
HEADER_BYTES = {socket.AF_INET: 14 + 20 + 32, socket.AF_INET6: 14 + 40 + 32}

Progress = Callable[[float, float], None]  # (elapsed s, current Mbit/s)


class CapacityError(QiyasError):
    """The capacity test could not run: unreachable, refused, or the server misbehaved."""


@dataclass
class DirectionResult:
    direction: str
    mbps: float | None
    bytes: int  # counted during the steady part
    streams: int
    duration_s: float  # steady part, the one `mbps` is computed over
    warmup_s: float
    interval_s: float
    series_mbps: list[float] = field(default_factory=list)
    cv: float | None = None  # stability figure of the steady window
    steady: bool = False  # the detector found working conditions
    line_bytes: int | None = None  # what the test put on the line, both ways, headers included
    client_cpu: float | None = None  # the agent's own CPU over the test, share of one core
    server: control.Load | None = None  # the server's own load over the session, as it said

    def as_dict(self) -> dict[str, Any]:
        return {
            "mbps": self.mbps,
            "bytes": self.bytes,
            "streams": self.streams,
            "duration_s": round(self.duration_s, 3),
            "warmup_s": round(self.warmup_s, 3),
            "interval_s": self.interval_s,
            "series_mbps": self.series_mbps,
            "cv": None if self.cv is None else round(self.cv, 4),
            "steady": self.steady,
            "line_bytes": self.line_bytes,
            "client_cpu": None if self.client_cpu is None else round(self.client_cpu, 3),
            "server_cpu": None if self.server is None else self.server.cpu,
            "server_sessions_max": None if self.server is None else self.server.sessions_max,
        }


class SteadyRate(NamedTuple):
    mbps: float | None
    bytes: int
    seconds: float
    warmup_s: float  # where the part the rate is computed over begins
    cv: float | None
    steady: bool


def steady_rate(samples: list[tuple[float, int]]) -> SteadyRate:
    """The rate over the latest steady window of cumulative samples (t since start, bytes) taken
    every TICK_S; after the older warm-up rule, not steady, when the detector found none."""
    if len(samples) < 3:
        return SteadyRate(None, 0, 0.0, 0.0, None, False)
    points = samples[::INTERVAL_TICKS]
    if (len(samples) - 1) % INTERVAL_TICKS:
        points.append(samples[-1])  # a last, shorter interval still counts
    rates = _rates(points)
    window = steady.steady_window(rates)
    if window is not None:
        first = _past_release(samples, window.start * INTERVAL_TICKS, len(samples) - 1)
        last = min(window.end * INTERVAL_TICKS, len(samples) - 1)
        (t0, b0), (t1, b1) = samples[first], samples[last]
        cv, stable = window.cv, True
    else:
        start = _warmup_end(samples)
        (t0, b0), (t1, b1) = samples[start], samples[-1]
        cv = steady.coefficient_of_variation(_rates(samples[start::INTERVAL_TICKS]))
        stable = False
    if t1 <= t0:
        return SteadyRate(None, 0, 0.0, t0, None, False)
    return SteadyRate((b1 - b0) * 8 / (t1 - t0) / 1e6, b1 - b0, t1 - t0, t0, cv, stable)


def _warmup_end(samples: list[tuple[float, int]]) -> int:
    """The older rule's end of warm-up: the first tick from MIN_WARMUP_S on whose rate reaches
    STEADY_SHARE of the second half's median, never past half the test."""
    rates = _rates(samples)
    half = sorted(rates[len(rates) // 2 :])
    median = half[len(half) // 2]
    for k, rate in enumerate(rates):
        if samples[k][0] >= MIN_WARMUP_S and rate >= STEADY_SHARE * median:
            return min(k, len(samples) // 2)
    return len(samples) // 2


def _past_release(samples: list[tuple[float, int]], first: int, last: int) -> int:
    """first, or the tick after a burst in the window's first interval: a tick over
    RELEASE_SHARE times the window's median is TCP handing over in one go what a retransmission
    held back (head-of-line blocking), bytes the line delivered before the window opened. Counted
    in the window they read 21 Mbit/s through a 20 Mbit/s shaper (tests/probe/test_probe_rates)."""
    rates = _rates(samples[first : last + 1])
    median = sorted(rates)[len(rates) // 2] if rates else 0.0
    burst = [k for k in range(min(INTERVAL_TICKS, len(rates))) if rates[k] > RELEASE_SHARE * median]
    after = first + burst[-1] + 1 if burst else first
    # Two intervals at least must remain of the window for the rate to stand on.
    return after if last - after >= 2 * INTERVAL_TICKS else first


def line_bytes(sock: socket.socket) -> int | None:
    """Bytes this TCP socket put on the line both ways: payload acknowledged and received, plus
    the headers of every segment that crossed the interface — the data segments delivered, the
    pure ACKs sent, every segment received. Segments a local shaper dropped (and TCP sent again)
    never reached the interface, so they are not counted. None where TCP_INFO does not say."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 256)
    except OSError:
        return None
    if len(info) < TCP_INFO_SIZE:
        return None  # a kernel older than 4.18
    acked, received, segs_out, segs_in = _TCP_INFO_COUNTS.unpack_from(info, 120)
    (data_segs_out,) = _TCP_INFO_DATA_SEGS_OUT.unpack_from(info, 156)
    (delivered,) = _TCP_INFO_DELIVERED.unpack_from(info, 192)
    segments = delivered + (segs_out - data_segs_out) + segs_in
    header = HEADER_BYTES.get(sock.family, HEADER_BYTES[socket.AF_INET])
    return int(acked + received + segments * header)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def series(samples: list[tuple[float, int]]) -> tuple[float, list[float]]:
    """Per-interval Mbit/s, ticks merged so that there are at most MAX_SERIES_POINTS."""
    step = max(1, -(-(len(samples) - 1) // MAX_SERIES_POINTS))
    points = samples[::step]
    return round(step * TICK_S, 3), [round(r, 3) for r in _rates(points)]


def _rates(samples: list[tuple[float, int]]) -> list[float]:
    return [
        (b1 - b0) * 8 / (t1 - t0) / 1e6 if t1 > t0 else 0.0
        for (t0, b0), (t1, b1) in itertools.pairwise(samples)
    ]


async def _open_stream(
    loop: asyncio.AbstractEventLoop, addrinfo: tuple[Any, ...], req: control.Request
) -> tuple[socket.socket, int, float]:
    """The stream's socket, its granted milliseconds and when (loop time) it was granted."""
    try:
        sock, answer = await _ask(loop, addrinfo, req, control.REPLY_SIZE)
    except TimeoutError:
        raise CapacityError(f"no answer within {CONNECT_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise CapacityError(f"cannot connect over TCP: {reason(exc)}") from None
    except EOFError as exc:
        raise CapacityError(f"not a capacity endpoint: {exc}") from None
    try:
        reply = control.decode_reply(answer)
    except control.ControlError as exc:
        sock.close()
        raise CapacityError(f"not a capacity endpoint: {exc}") from None
    if reply.status != control.OK:
        sock.close()
        raise CapacityError(f"server refused: {control.STATUS_TEXT[reply.status]}")
    return sock, reply.granted_ms, loop.time()


async def measure_direction(
    server: Endpoint,
    direction: int,
    streams: int,
    duration_s: float,
    progress: Progress | None = None,
) -> DirectionResult:
    if not 1 <= streams <= control.MAX_STREAMS:
        raise ValueError(f"streams {streams} is outside 1..{control.MAX_STREAMS}")
    if not MIN_DURATION_S <= duration_s <= control.MAX_DURATION_MS / 1000:
        limit = control.MAX_DURATION_MS // 1000
        raise ValueError(f"duration {duration_s} s is outside {MIN_DURATION_S:g}..{limit}")
    loop = asyncio.get_running_loop()
    try:
        addrinfo = await resolve(server, socket.SOCK_STREAM)
    except ResolveError as exc:
        raise CapacityError(str(exc)) from None
    token = os.urandom(16)
    requests = [
        control.Request(direction, streams, i, int(duration_s * 1000), token)
        for i in range(streams)
    ]
    opened = await asyncio.gather(
        *(_open_stream(loop, addrinfo, r) for r in requests), return_exceptions=True
    )
    socks = [o[0] for o in opened if isinstance(o, tuple)]
    errors = [o for o in opened if isinstance(o, BaseException)]
    if errors:
        for s in socks:
            s.close()
        raise errors[0] if isinstance(errors[0], CapacityError) else CapacityError(str(errors[0]))
    granted_s = min(o[1] for o in opened if isinstance(o, tuple)) / 1000
    granted_at = [o[2] for o in opened if isinstance(o, tuple)]
    counts = [0] * streams
    reports: list[list[tuple[float, int]]] = [[(0.0, 0)] for _ in range(streams)]
    arrived = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    payload = bulk.payload_file(PAYLOAD_BYTES) if direction == control.UP else None
    sink = memoryview(bytearray(SINK_BYTES)) if payload is None else None
    cpu0, wall0 = _own_cpu_s(), time.monotonic()
    # A download's socket is handed to a transport that closes it at the end: a duplicate keeps
    # it readable for TCP_INFO until we have read the counts.
    infos = [s.dup() for s in socks]
    on_line: list[int | None] = []
    try:
        for i, sock in enumerate(socks):
            if payload is not None:
                tasks.append(asyncio.create_task(_upload(loop, sock, payload)))
                tasks.append(
                    asyncio.create_task(_reports(loop, sock, counts, i, reports[i], arrived))
                )
            elif sink is not None:
                tasks.append(asyncio.create_task(_download(loop, sock, sink, counts, i)))
        # The server stops each stream at its session's end, counted from the first grant: the
        # window closes a tick before that, so no stream has stopped inside it.
        end = min(granted_at) + granted_s - TICK_S
        start, samples = await _sample(loop, counts, end, progress)
        if payload is not None:
            # Reports come every REPORT_INTERVAL_S by the server's clock, late by the network's
            # delay and not evenly: placed on the sampler's timeline by that clock they are
            # exact, once every stream has reported past the last tick.
            offsets = [at - start for at in granted_at]
            await _reported_past(reports, offsets, samples[-1][0], arrived)
            samples = [(t, on_timeline(reports, offsets, t)) for t, _ in samples]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        on_line = [line_bytes(s) for s in infos]  # after the last byte
        for s in (*socks, *infos):
            s.close()
        if payload is not None:
            payload.close()
    wall = time.monotonic() - wall0
    server_load = await _server_load(loop, addrinfo, token)
    rate = steady_rate(samples)
    interval_s, points = series(samples)
    return DirectionResult(
        control.DIRECTIONS[direction],
        None if rate.mbps is None else round(rate.mbps, 3),
        rate.bytes,
        streams,
        rate.seconds,
        rate.warmup_s,
        interval_s,
        points,
        rate.cv,
        rate.steady,
        None if None in on_line else sum(n for n in on_line if n is not None),
        (_own_cpu_s() - cpu0) / wall if wall > 0 else None,
        server_load,
    )


async def _server_load(
    loop: asyncio.AbstractEventLoop, addrinfo: tuple[Any, ...], token: bytes
) -> control.Load | None:
    """The server's load over our session (methodology §3.4); None when it does not say (an
    older server, a lost connection): unknown, never taken as "not loaded"."""
    req = control.Request(control.LOAD, 1, 0, 1, token)
    try:
        sock, answer = await _ask(loop, addrinfo, req, control.LOAD_SIZE)
    except (TimeoutError, OSError, EOFError):
        return None
    sock.close()
    try:
        return control.decode_load(answer)
    except control.ControlError:
        return None


async def _ask(
    loop: asyncio.AbstractEventLoop, addrinfo: tuple[Any, ...], req: control.Request, size: int
) -> tuple[socket.socket, bytes]:
    """A new connection to the server that has sent req and read the size-octet answer, within
    CONNECT_TIMEOUT_S; the connection is closed when that fails."""
    family, kind, proto, _, addr = addrinfo
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await loop.sock_connect(sock, addr)
            await loop.sock_sendall(sock, control.encode_request(req))
            return sock, await bulk.recv_exact(loop, sock, size)
    except BaseException:
        sock.close()
        raise


async def _sample(
    loop: asyncio.AbstractEventLoop, counts: list[int], end: float, progress: Progress | None
) -> tuple[float, list[tuple[float, int]]]:
    """(start in loop time, samples (s since start, bytes) every TICK_S until loop time end)."""
    start = loop.time()
    length_s = end - start
    # Streams opened one after another may already have moved bytes: not part of tick one.
    samples = [(0.0, sum(counts))]
    k = 1
    while k * TICK_S <= length_s:
        await asyncio.sleep(max(0.0, start + k * TICK_S - loop.time()))
        now = loop.time() - start  # the real instant, late or not: rates stay right
        samples.append((now, sum(counts)))
        if progress is not None:
            progress(now, _rates(samples[-2:])[0])
        k += 1
    return start, samples


async def _download(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    sink: memoryview,
    counts: list[int],
    i: int,
) -> None:
    def on_data(n: int) -> float:
        counts[i] += n
        return 0.0

    with contextlib.suppress(OSError):  # the server ends a stream by closing it
        await bulk.receive_all(loop, sock, sink, on_data)


async def _upload(loop: asyncio.AbstractEventLoop, sock: socket.socket, payload: Any) -> None:
    with contextlib.suppress(OSError):  # the server ends a stream by closing it
        await bulk.send_forever(loop, sock, payload, PAYLOAD_BYTES)


async def _reports(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    counts: list[int],
    i: int,
    series: list[tuple[float, int]],
    arrived: asyncio.Event,
) -> None:
    """The server's count of what arrived on stream i: kept with the server's time of it
    (seconds since it granted the stream) in `series`, and as the live count in counts[i]."""
    with contextlib.suppress(OSError, EOFError):
        while True:
            elapsed_ms, received = control.decode_report(
                await bulk.recv_exact(loop, sock, control.REPORT_SIZE)
            )
            if received >= series[-1][1] and elapsed_ms / 1000 >= series[-1][0]:
                series.append((elapsed_ms / 1000, received))
                counts[i] = received
                arrived.set()


async def _reported_past(
    reports: list[list[tuple[float, int]]],
    offsets: list[float],
    t: float,
    arrived: asyncio.Event,
) -> None:
    """Wait (at most REPORT_GRACE_S) until every stream's reports reach past time t."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPORT_GRACE_S
    while any(s[-1][0] + off < t for s, off in zip(reports, offsets, strict=True)):
        arrived.clear()
        remaining = deadline - loop.time()
        if remaining <= 0:
            return  # a stream that stopped reporting counts what it reported
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), remaining)


def on_timeline(reports: list[list[tuple[float, int]]], offsets: list[float], t: float) -> int:
    """Bytes all streams had delivered at time t, interpolated between each stream's reports
    (report time + the stream's offset puts them on the sampler's timeline)."""
    total = 0
    for series, offset in zip(reports, offsets, strict=True):
        x = t - offset
        k = bisect.bisect_right(series, (x, float("inf")))
        if k == 0:
            continue  # before the stream began
        if k == len(series):
            total += series[-1][1]  # after its last report
            continue
        (t0, b0), (t1, b1) = series[k - 1], series[k]
        total += int(b0 + (b1 - b0) * (x - t0) / (t1 - t0)) if t1 > t0 else b1
    return total
