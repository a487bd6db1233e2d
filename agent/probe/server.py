"""The measurement server: a STAMP Session-Reflector on UDP and the capacity endpoint on TCP, at
the same port number, in one asyncio loop.

It serves many clients at once and protects them from each other: STAMP packets are rate-limited
per client address (token bucket) and read in bounded batches; capacity sessions are limited in
duration, streams, rate and number (per client and overall); a connection that does not send its
request in time is closed. Capacity limits count per address prefix (/24, /56: one household's or
one attacker's delegation), not per address. A stream that moves no data for `stall_s` is ended
and its prefix gets no new session for `penalty_s`, and a session whose streams have all closed
frees its slot at once: unread connections cannot hold the server's sessions (issue 19).
Everything refused gets one clear log line (repeats are summarised, so a flood cannot flood the
log either).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from agent import clock
from agent.core import stamp
from agent.probe import bulk, control
from agent.probe.capacity import TCP_INFO

log = logging.getLogger("qiyas.server")

# Linux socket options Python 3.11 does not name.
SO_TIMESTAMPNS = 35  # kernel receive time (CLOCK_REALTIME) as a cmsg
IP_RECVTTL = 12
SO_MAX_PACING_RATE = 47  # bytes per second; TCP paces itself (Linux 4.13+)
IP_TTL_CMSG = 2
_TIMESPEC = struct.Struct("@qq")
_INT = struct.Struct("@i")
_BYTES_ACKED = struct.Struct("@Q")  # tcpi_bytes_acked at 120 of struct tcp_info (Linux 4.2+)

ACCEPT_BACKOFF_S = 0.1
STAMP_RCVBUF = 1024 * 1024
PACING_STEP_S = 0.005
MIN_PACED_READ = 4096
STAMP_BATCH = 64  # packets read per wake-up before other clients' work gets its turn
FINISHED_KEPT = 1024  # ended sessions whose load a client may still ask for
PAYLOAD_BYTES = 4 * 1024 * 1024
SINK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_duration_s: float = 30.0
    max_streams: int = control.MAX_STREAMS
    max_sessions: int = 16
    max_sessions_per_client: int = 2
    max_mbps_per_session: float = 0.0  # 0: no cap
    max_connections: int = 256
    max_connections_per_client: int = 40
    request_timeout_s: float = 3.0
    stamp_pps_per_client: float = 2000.0
    stamp_burst: int = 200
    stamp_clients: int = 4096  # buckets kept; the least recently seen is forgotten first
    stall_s: float = 2.0  # a stream that moves no data this long is ended
    penalty_s: float = 60.0  # then its prefix gets no new session this long
    prefix_v4: int = 24
    prefix_v6: int = 56


def client_prefix(address: str, v4: int = 24, v6: int = 56) -> str:
    """The prefix capacity limits count address in: its /v4 or /v6 network (IPv4-mapped IPv6
    as the IPv4 it is)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = v4 if isinstance(ip, ipaddress.IPv4Address) else v6
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RefusalLog:
    """One line per (client, reason) at most every `every_s`; the next says how many it hid."""

    def __init__(self, every_s: float = 10.0, capacity: int = 1024) -> None:
        self.every_s = every_s
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self.count = 0

    def refuse(self, client: str, reason: str, detail: str = "") -> None:
        self.count += 1
        now = time.monotonic()
        key = (client, reason)
        last, hidden = self._seen.get(key, (-1e18, 0))
        if now - last < self.every_s:
            self._seen[key] = (last, hidden + 1)
            return
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        more = f" (and {hidden} more like it)" if hidden else ""
        log.warning("refused %s: %s%s%s", client, reason, f": {detail}" if detail else "", more)


def _ntp_now() -> int:
    return stamp.ntp_from_unix_ns(time.time_ns())


class Reflector:
    """Stateless STAMP reflector (RFC 8762 §4.3) on a bound UDP socket."""

    def __init__(self, sock: socket.socket, limits: Limits, refusals: RefusalLog) -> None:
        self.sock = sock
        self.limits = limits
        self.refusals = refusals
        self.reflected = 0
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        self._ancsize = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_INT.size)
        # Room for bursts from many clients between two wake-ups of the loop.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STAMP_RCVBUF)
        # The S bit says whether NTP keeps this clock; a millisecond is an honest error bound.
        self.estimate = stamp.error_estimate(clock.synchronised(), 1_000_000)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), self._on_readable)

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self.sock.fileno())

    def _allowed(self, client: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = TokenBucket(self.limits.stamp_pps_per_client, self.limits.stamp_burst, now)
            self._buckets[client] = bucket
            if len(self._buckets) > self.limits.stamp_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
        return bucket.take(now)

    def _on_readable(self) -> None:
        for _ in range(STAMP_BATCH):
            try:
                data, ancdata, flags, addr = self.sock.recvmsg(2048, self._ancsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors queued on the socket: not fatal
                log.debug("stamp socket: %s", exc)
                continue
            self._handle(data, ancdata, flags, addr)

    def _handle(
        self, data: bytes, ancdata: list[tuple[int, int, bytes]], flags: int, addr: tuple[str, int]
    ) -> None:
        client = addr[0]
        if not self._allowed(client):
            self.refusals.refuse(client, "STAMP rate above limit", "packets dropped")
            return
        rx_ns, ttl = time.time_ns(), 255
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(value)
                rx_ns = sec * 1_000_000_000 + nsec
            elif len(value) >= _INT.size and (
                (level == socket.IPPROTO_IP and kind == IP_TTL_CMSG)
                or (level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT)
            ):
                ttl = _INT.unpack_from(value)[0] & 0xFF
        if flags & socket.MSG_TRUNC:
            self.refusals.refuse(client, "STAMP packet too long")
            return
        try:
            out = stamp.reflect(data, stamp.ntp_from_unix_ns(rx_ns), _ntp_now(), self.estimate, ttl)
        except stamp.StampError as exc:
            self.refusals.refuse(client, "not a STAMP test packet", str(exc))
            return
        try:
            self.sock.sendto(out, addr)
            self.reflected += 1
        except OSError as exc:  # a full send queue drops a reply, as a router would
            log.debug("stamp reply to %s: %s", client, exc)


@dataclass
class Session:
    token: bytes
    client: str  # the prefix it counts in
    direction: int
    streams: int
    deadline: float
    started: float = 0.0  # loop time
    cpu0: float = 0.0  # our process's CPU seconds at the start
    sessions_max: int = 1  # most sessions served at once during this one
    open: set[int] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)
    cut: bool = False  # a stream ended before the deadline (closed by the client, or stalled)

    @property
    def holds_slot(self) -> bool:
        """Whether it counts against the limits: until its streams have all come and gone (or
        one was cut and the others have gone). Its token stays spent until the deadline."""
        return bool(self.open) or (len(self.seen) < self.streams and not self.cut)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _bytes_acked(sock: socket.socket) -> int:
    """What the peer has acknowledged of what we sent: it moves only while the peer reads."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 256)
    except OSError:
        return 0
    return _BYTES_ACKED.unpack_from(info, 120)[0] if len(info) >= 128 else 0


class CapacityEndpoint:
    """Accepts capacity streams on a listening TCP socket (see agent.probe.control)."""

    def __init__(self, sock: socket.socket, limits: Limits, refusals: RefusalLog) -> None:
        self.sock = sock
        self.limits = limits
        self.refusals = refusals
        self.sessions: dict[bytes, Session] = {}
        self._finished: OrderedDict[bytes, control.Load] = OrderedDict()  # FINISHED_KEPT at most
        self._connections: dict[str, int] = {}  # per prefix
        self._penalised: dict[str, float] = {}  # prefix → until when it gets no session
        self._tasks: set[asyncio.Task[None]] = set()
        self._payload = bulk.payload_file(PAYLOAD_BYTES)
        self._sink = memoryview(bytearray(SINK_BYTES))  # uploads land here and are dropped

    @property
    def connections(self) -> int:
        return sum(self._connections.values())

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        while True:
            try:
                conn, addr = await loop.sock_accept(self.sock)
            except OSError as exc:  # e.g. EMFILE under a connection flood: keep serving
                log.warning("cannot accept a connection: %s", exc)
                await asyncio.sleep(ACCEPT_BACKOFF_S)  # let closing connections free descriptors
                continue
            client = addr[0]
            prefix = client_prefix(client, self.limits.prefix_v4, self.limits.prefix_v6)
            if (
                self.connections >= self.limits.max_connections
                or self._connections.get(prefix, 0) >= self.limits.max_connections_per_client
            ):
                self.refusals.refuse(client, "too many connections")
                conn.close()
                continue
            self._connections[prefix] = self._connections.get(prefix, 0) + 1
            task = asyncio.create_task(self._serve(conn, client, prefix))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._payload.close()

    async def _serve(self, conn: socket.socket, client: str, prefix: str) -> None:
        conn.setblocking(False)
        try:
            await self._stream(conn, client, prefix)
        except OSError as exc:  # reset, broken pipe: the client went away
            log.debug("capacity stream from %s ended: %s", client, exc)
        except Exception:  # a bug must cost one stream, never the server
            log.exception("capacity stream from %s failed", client)
        finally:
            conn.close()
            left = self._connections[prefix] - 1
            if left:
                self._connections[prefix] = left
            else:
                del self._connections[prefix]

    async def _request(self, conn: socket.socket, client: str) -> control.Request | None:
        """The stream's request, or None (refused and logged) when it is late, cut or bad."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.limits.request_timeout_s):
                data = await bulk.recv_exact(loop, conn, control.REQUEST_SIZE)
        except TimeoutError:
            self.refusals.refuse(
                client, f"no capacity request within {self.limits.request_timeout_s:g} s"
            )
            return None
        except EOFError:
            self.refusals.refuse(client, "closed before a whole capacity request")
            return None
        try:
            return control.decode_request(data)
        except control.ControlError as exc:
            self.refusals.refuse(client, "bad capacity request", str(exc))
            _send_now(conn, control.encode_reply(control.Reply(control.BAD_REQUEST, 0)))
            return None

    async def _stream(self, conn: socket.socket, client: str, prefix: str) -> None:
        loop = asyncio.get_running_loop()
        req = await self._request(conn, client)
        if req is None:
            return
        if req.direction == control.LOAD:
            _send_now(conn, control.encode_load(self._load(req.token, prefix, loop.time())))
            return
        if self._penalised.get(prefix, 0.0) > loop.time():
            self.refusals.refuse(client, "a stream of this client's prefix stalled recently")
            _send_now(conn, control.encode_reply(control.Reply(control.CLIENT_LIMIT, 0)))
            return
        status, session = self._admit(req, prefix, loop.time())
        if session is None:
            self.refusals.refuse(client, control.STATUS_TEXT[status])
            _send_now(conn, control.encode_reply(control.Reply(status, 0)))
            return
        granted_ms = max(1, int((session.deadline - loop.time()) * 1000))
        _send_now(conn, control.encode_reply(control.Reply(control.OK, granted_ms)))
        session.open.add(req.stream)
        session.seen.add(req.stream)
        per_stream_bps = self.limits.max_mbps_per_session * 1e6 / 8 / session.streams
        moved: Callable[[], int]
        if req.direction == control.DOWN:
            transfer = self._send(loop, conn, per_stream_bps)
            moved = lambda: _bytes_acked(conn)  # noqa: E731
        else:
            received = [0]
            transfer = self._receive(loop, conn, per_stream_bps, received)
            moved = lambda: received[0]  # noqa: E731
        try:
            async with asyncio.timeout_at(session.deadline):
                if await _first_of(transfer, self._until_stalled(moved)) == "stalled":
                    self.refusals.refuse(
                        client, f"stream moved no data for {self.limits.stall_s:g} s; ended"
                    )
                    now = loop.time()  # expired penalties go, so the table stays small
                    self._penalised = {p: t for p, t in self._penalised.items() if t > now}
                    self._penalised[prefix] = now + self.limits.penalty_s
        except TimeoutError:
            pass  # the granted time is over: that is how every stream ends
        finally:
            if loop.time() < session.deadline:
                session.cut = True  # ended before its time: by the client, or stalled
            session.open.discard(req.stream)
            self._maybe_end(session, loop)

    async def _until_stalled(self, moved: Callable[[], int]) -> str:
        """Returns "stalled" once moved() has not changed for stall_s."""
        loop = asyncio.get_running_loop()
        last, since = moved(), loop.time()
        while True:
            await asyncio.sleep(self.limits.stall_s / 4)
            now_moved = moved()
            if now_moved != last:
                last, since = now_moved, loop.time()
            elif loop.time() - since >= self.limits.stall_s:
                return "stalled"

    def _admit(self, req: control.Request, client: str, now: float) -> tuple[int, Session | None]:
        session = self.sessions.get(req.token)
        if session is not None:
            if (
                session.client != client
                or session.direction != req.direction
                or session.streams != req.streams
                or req.stream in session.seen
                or session.cut
                or now >= session.deadline
            ):
                return control.SESSION_OVER, None
            return control.OK, session
        if req.streams > self.limits.max_streams:
            return control.STREAM_LIMIT, None
        holding = [s for s in self.sessions.values() if s.holds_slot]
        if len(holding) >= self.limits.max_sessions:
            return control.BUSY, None
        mine = sum(1 for s in holding if s.client == client)
        if mine >= self.limits.max_sessions_per_client:
            return control.CLIENT_LIMIT, None
        duration = min(req.duration_ms / 1000, self.limits.max_duration_s)
        session = Session(
            req.token, client, req.direction, req.streams, now + duration, now, _cpu_s()
        )
        self.sessions[req.token] = session
        for live in self.sessions.values():
            live.sessions_max = max(live.sessions_max, len(self.sessions))
        log.info(
            "capacity session from %s: %s, %d stream(s), %.1f s",
            client,
            control.DIRECTIONS[req.direction],
            req.streams,
            duration,
        )
        return control.OK, session

    def _maybe_end(self, session: Session, loop: asyncio.AbstractEventLoop) -> None:
        """Forget a session once its streams are closed and its time is over; until then its
        token stays taken, so a client cannot stretch one session by reconnecting."""
        if session.open:
            return
        if loop.time() >= session.deadline:
            if self.sessions.pop(session.token, None) is not None:
                self._finished[session.token] = self._measured(session, loop.time())
                if len(self._finished) > FINISHED_KEPT:
                    self._finished.popitem(last=False)
        else:
            loop.call_at(session.deadline, self._maybe_end, session, loop)

    def _measured(self, session: Session, now: float) -> control.Load:
        """Our load over the session so far: CPU as a share of one core (the server is one
        event loop: 1.0 is saturated); the NIC's utilisation is not known here."""
        wall = now - session.started
        cpu = (_cpu_s() - session.cpu0) / wall if wall > 0 else None
        return control.Load(cpu, None, session.sessions_max)

    def _load(self, token: bytes, client: str, now: float) -> control.Load:
        session = self.sessions.get(token)
        if session is not None and session.client == client:
            return self._measured(session, now)
        return self._finished.get(token, control.Load(None, None, None))

    async def _send(
        self, loop: asyncio.AbstractEventLoop, conn: socket.socket, rate_bps: float
    ) -> None:
        if rate_bps:
            conn.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, int(rate_bps))
        await bulk.send_forever(loop, conn, self._payload, PAYLOAD_BYTES)

    async def _receive(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: socket.socket,
        rate_bps: float,
        received: list[int],
    ) -> None:
        """Read an upload until the client closes; received[0] counts its bytes as they come."""
        start = loop.time()
        next_report = start + control.REPORT_INTERVAL_S

        def on_data(n: int) -> float:
            nonlocal next_report
            received[0] += n
            now = loop.time()
            if now >= next_report:
                _send_now(conn, control.encode_report(int((now - start) * 1000), received[0]))
                next_report = now + control.REPORT_INTERVAL_S
            # Pacing: while we do not read, the window closes and the sender slows down.
            return max(0.0, received[0] / rate_bps - (now - start)) if rate_bps else 0.0

        # Paced reads are small (PACING_STEP_S worth), so the rate holds over short windows too.
        max_read = max(MIN_PACED_READ, int(rate_bps * PACING_STEP_S)) if rate_bps else None
        await bulk.receive_all(loop, conn, self._sink, on_data, max_read)


async def _first_of(transfer: Coroutine[Any, Any, None], watchdog: Coroutine[Any, Any, str]) -> str:
    """Run both; when one returns (or raises), cancel the other. "done" or the watchdog's word."""
    tasks = [asyncio.ensure_future(transfer), asyncio.ensure_future(watchdog)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    first = done.pop()
    if first is tasks[0]:
        first.result()  # re-raises the OSError of a client gone
        return "done"
    return str(first.result())


def _send_now(conn: socket.socket, data: bytes) -> None:
    """Best effort, never blocking: a client that does not read misses a reply or a report."""
    with contextlib.suppress(OSError):
        conn.send(data)


class MeasurementServer:
    """STAMP on UDP and capacity on TCP at `host:port` (port 0: a free port, the same for both)."""

    def __init__(self, host: str, port: int, limits: Limits | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.limits = limits or Limits()
        self.refusals = RefusalLog()
        self.port = 0
        self.reflector: Reflector | None = None
        self.capacity: CapacityEndpoint | None = None
        self._accept: asyncio.Task[None] | None = None

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(20):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.host, self.requested_port))
            port = tcp.getsockname()[1]
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((self.host, port))
            except OSError:
                tcp.close()
                udp.close()
                if self.requested_port:
                    raise
                continue  # the free TCP port was taken on UDP: try another
            tcp.listen(128)
            return tcp, udp
        raise OSError("no port free on both TCP and UDP")

    async def start(self) -> None:
        tcp, udp = self._bind()
        self.port = tcp.getsockname()[1]
        loop = asyncio.get_running_loop()
        self.reflector = Reflector(udp, self.limits, self.refusals)
        self.reflector.start(loop)
        self.capacity = CapacityEndpoint(tcp, self.limits, self.refusals)
        self._accept = asyncio.create_task(self.capacity.serve())

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        if self._accept is not None:
            self._accept.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept
        if self.capacity is not None:
            await self.capacity.aclose()
            self.capacity.sock.close()
        if self.reflector is not None:
            self.reflector.stop(loop)
            self.reflector.sock.close()
