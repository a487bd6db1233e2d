"""STAMP Session-Sender over a UDP socket: the I/O around agent.core.stamp.Sender.

Receive times come from the kernel (SO_TIMESTAMPNS), carried over to the monotonic clock, so
the event loop's own delay does not count as network delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Any

from agent import clock
from agent.core import stamp
from agent.core.errors import QiyasError
from agent.probe.endpoint import Endpoint, ResolveError, reason, resolve

SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")

MAX_COUNT = 1000
MIN_INTERVAL_S = 0.005
MAX_TIMEOUT_S = 5.0


class LatencyError(QiyasError):
    """The latency test could not run at all (no address, no route)."""


class _Receiver:
    def __init__(self, sock: socket.socket, sender: stamp.Sender, done: asyncio.Event) -> None:
        self.sock = sock
        self.sender = sender
        self.done = done
        self.refused = False
        self._anc = socket.CMSG_SPACE(_TIMESPEC.size)

    def on_readable(self) -> None:
        for _ in range(64):
            try:
                data, ancdata, _, _ = self.sock.recvmsg(2048, self._anc)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:  # ICMP port unreachable: no reflector there
                self.refused = True
                continue
            except OSError:
                continue
            now = time.monotonic_ns()
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    age = time.time_ns() - (sec * 1_000_000_000 + nsec)
                    if 0 <= age < 1_000_000_000:  # a wall-clock step makes it meaningless
                        now -= age
            with contextlib.suppress(stamp.StampError):  # not ours: counted as stray
                self.sender.receive(data, now)
        if self.sender.finished(time.monotonic_ns()):
            self.done.set()


async def measure_latency(
    server: Endpoint,
    count: int = 50,
    interval_s: float = 0.02,
    timeout_s: float = 1.0,
    size: int = stamp.BASE_SIZE,
) -> dict[str, Any]:
    """One STAMP session; returns stamp.Sender.summary() plus `server` and `unreachable`."""
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count {count} is outside 1..{MAX_COUNT}")
    if not MIN_INTERVAL_S <= interval_s <= 10:
        raise ValueError(f"interval {interval_s} s is outside {MIN_INTERVAL_S}..10")
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"timeout {timeout_s} s is outside 0..{MAX_TIMEOUT_S}")
    try:
        family, kind, proto, _, addr = await resolve(server, socket.SOCK_DGRAM)
    except ResolveError as exc:
        raise LatencyError(str(exc)) from None
    estimate = stamp.error_estimate(clock.synchronised(), 1_000_000)
    sender = stamp.Sender(count, int(interval_s * 1e9), int(timeout_s * 1e9), size, estimate)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    with socket.socket(family, kind, proto) as sock:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.connect(addr)  # connected: replies from anyone else never reach us
        except OSError as exc:
            raise LatencyError(f"cannot reach {server}: {reason(exc)}") from None
        receiver = _Receiver(sock, sender, done)
        loop.add_reader(sock.fileno(), receiver.on_readable)
        try:
            while not sender.finished(time.monotonic_ns()):
                wall = stamp.ntp_from_unix_ns(time.time_ns())
                # The send time is read last, as close to the send as the packet allows.
                pkt = sender.poll(time.monotonic_ns(), wall)
                if pkt is not None:
                    try:
                        sock.send(pkt)
                    except ConnectionRefusedError:  # an earlier packet's ICMP unreachable
                        receiver.refused = True
                    except OSError:  # a send that fails is a lost packet
                        pass
                due = sender.deadline()
                if due is None:
                    break
                wait = (due - time.monotonic_ns()) / 1e9
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), wait)
        finally:
            loop.remove_reader(sock.fileno())
    out = sender.summary()
    out["server"] = str(server)
    out["unreachable"] = receiver.refused and out["received"] == 0
    return out
