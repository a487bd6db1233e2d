"""Moving bulk bytes over TCP without per-byte Python work: sendfile from an in-memory file,
recv_into a preallocated buffer whose contents are dropped. Shared by the capacity client and
the server, for both directions."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import IO

SEND_CHUNK = 1024 * 1024
LOWAT_S = 0.005
LOWAT_EVERY_S = 0.05
MAX_LOWAT = 256 * 1024


def payload_file(size: int) -> IO[bytes]:
    """Incompressible bytes in a RAM-backed file (memfd: no flash wear on a board) to sendfile."""
    f: IO[bytes] = os.fdopen(os.memfd_create("qiyas-payload"), "w+b")
    f.write(os.urandom(size))
    f.flush()
    return f


async def send_forever(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, payload: IO[bytes], size: int
) -> None:
    """Send the payload over and over until cancelled (or the peer goes away: OSError)."""
    chunk = min(SEND_CHUNK, size)
    offset = 0
    while True:
        sent = await loop.sock_sendfile(sock, payload, offset, chunk)
        offset = (offset + sent) % (size - chunk + 1)
        await asyncio.sleep(0)  # a socket that never blocks must not starve the other streams


class _Drain(asyncio.BufferedProtocol):
    """The event loop reads straight into `sink`, once per readiness of the socket: no future,
    no reader registered and removed per read, and every stream gets its turn."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sink: memoryview,
        on_data: Callable[[int], float],
        max_read: int,
    ) -> None:
        self.loop = loop
        self.sink = sink
        self.max_read = max_read
        self.on_data = on_data
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.lowat = 1
        self.window_start = loop.time()
        self.window_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.sink[: self.max_read]

    def buffer_updated(self, nbytes: int) -> None:
        self.window_bytes += nbytes
        now = self.loop.time()
        if now - self.window_start >= LOWAT_EVERY_S:
            self._follow_rate(self.window_bytes / (now - self.window_start))
            self.window_start, self.window_bytes = now, 0
        pause = self.on_data(nbytes)
        if pause and self.transport is not None:
            self.transport.pause_reading()
            self.loop.call_later(pause, self._resume)

    def _follow_rate(self, rate: float) -> None:
        # The socket's low-water mark follows the arrival rate so that a read carries about
        # LOWAT_S worth of data: tens of wake-ups a second per stream at any rate instead of
        # one per arriving segment, which is where the CPU would go at hundreds of Mbit/s.
        want = min(MAX_LOWAT, max(1, int(rate * LOWAT_S)))
        if want != self.lowat and self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
            self.lowat = want

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        return False  # close: the peer has finished sending

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def receive_all(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    sink: memoryview,
    on_data: Callable[[int], float],
    max_read: int | None = None,
) -> None:
    """Read into `sink` until the peer closes; on_data(n) returns a pause in seconds (pacing),
    max_read bounds one read (fine-grained pacing). The socket belongs to the reader from then
    on and is closed when it returns."""
    drain = _Drain(loop, sink, on_data, max_read or len(sink))
    transport, _ = await loop.connect_accepted_socket(lambda: drain, sock)
    try:
        await drain.closed
    finally:
        transport.abort()


async def recv_exact(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = await loop.sock_recv_into(sock, view[got:])
        if k == 0:
            raise EOFError(f"peer closed after {got} of {n} octets")
        got += k
    return bytes(buf)
