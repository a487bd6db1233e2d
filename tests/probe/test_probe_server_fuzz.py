"""Whatever bytes arrive, the server answers the next well-formed client: random datagrams to
the reflector and random openings of capacity connections, against one live server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core import stamp
from agent.probe import control
from agent.probe.server import Limits, MeasurementServer

LIMITS = Limits(request_timeout_s=0.2, stamp_burst=10_000, stamp_pps_per_client=1e6)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A server running in its own thread and loop, so the examples can use plain sockets."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    server = MeasurementServer("127.0.0.1", 0, LIMITS)

    async def serve() -> None:
        await server.start()
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        await server.aclose()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    yield server.port
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)
    loop.close()


def still_serves(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(stamp.encode_test(7, 1, 1), ("127.0.0.1", port))
        assert stamp.decode_reflected(udp.recv(2048)).sender_seq == 7
    with socket.create_connection(("127.0.0.1", port), timeout=5) as tcp:
        req = control.Request(control.DOWN, 1, 0, 100, bytes(range(16)))
        tcp.sendall(control.encode_request(req))
        assert control.decode_reply(tcp.recv(12, socket.MSG_WAITALL)).status in (
            control.OK,
            control.SESSION_OVER,  # the same token again in a later example
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=1500), st.binary(max_size=64), st.booleans())
def test_any_bytes_leave_the_server_serving(
    port: int, datagram: bytes, opening: bytes, half: bool
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(datagram, ("127.0.0.1", port))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as tcp:
        tcp.sendall(opening)
        if half:
            # The server may have answered a whole request and closed already.
            with contextlib.suppress(OSError):
                tcp.shutdown(socket.SHUT_WR)
        tcp.settimeout(5)
        # The server answers a whole bad request, or closes on a short one after 0.2 s; closing
        # with our bytes unread resets the connection, which is a close too.
        try:
            answer = tcp.recv(64)
        except ConnectionResetError:
            answer = b""
        if answer:
            assert control.decode_reply(answer[:12]).status != control.OK or len(opening) >= 32
    still_serves(port)
