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
LOWAT_S = 0.02
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


async def receive_all(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    sink: memoryview,
    on_data: Callable[[int], float],
) -> None:
    """Read into `sink` until the peer closes; on_data(n) returns a pause in seconds (pacing).

    The socket's low-water mark follows the arrival rate so that a read carries about
    LOWAT_S worth of data: a few hundred wake-ups a second at any rate instead of one per
    arriving segment, which is where the CPU would go at hundreds of Mbit/s.
    """
    lowat = 1
    window_start = loop.time()
    window_bytes = 0
    while True:
        n = await loop.sock_recv_into(sock, sink)
        if n == 0:
            return
        window_bytes += n
        now = loop.time()
        if now - window_start >= LOWAT_EVERY_S:
            rate = window_bytes / (now - window_start)
            want = min(MAX_LOWAT, max(1, int(rate * LOWAT_S)))
            if want != lowat:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
                lowat = want
            window_start, window_bytes = now, 0
        pause = on_data(n)
        if pause or n == len(sink):
            # A full sink means more is waiting: yield, or one stream would starve the others.
            # Otherwise the next read waits for the socket, which yields anyway.
            await asyncio.sleep(pause)


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
