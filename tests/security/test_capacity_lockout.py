"""Capacity lockout without credentials, against the real measurement server on loopback.

The attack (issue 19): 16 TCP connections from 8 addresses ask for a download session each and
never read a byte; they hold every capacity session, so every probe gets "busy" — and still after
the attacker closes, since a session was kept until its deadline. Limits keyed on the full
address, so one IPv6 /64 was any number of clients.

Now a stream that moves no data for `stall_s` is ended and its address prefix gets no session for
`penalty_s`; a session whose streams are all closed frees its slot at once (its token stays
spent); limits count per /24 (IPv4) and /56 (IPv6). The attacker here uses 8 different /24s of
127/8 (every one of them is this host's loopback) and keeps asking again, as a real one would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

import pytest

from agent.probe import control
from agent.probe.capacity import CapacityError, measure_direction
from agent.probe.endpoint import Endpoint
from agent.probe.server import Limits, MeasurementServer, client_prefix

ATTACKERS = [f"127.0.{n}.1" for n in range(1, 9)]  # eight /24s
HONEST = "127.0.0.1"


@pytest.fixture
async def server() -> AsyncIterator[MeasurementServer]:
    # The defaults but for a session length that outlasts the test: a lockout must not end
    # because the attacker's sessions run out.
    srv = MeasurementServer(HONEST, 0, Limits(max_duration_s=30.0))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.aclose()


async def hold_a_session(port: int, source: str) -> socket.socket | None:
    """A download session from source whose data is never read; None if refused."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the window closes at once
    sock.setblocking(False)
    sock.bind((source, 0))
    try:
        await loop.sock_connect(sock, (HONEST, port))
        token = os.urandom(16)
        await loop.sock_sendall(
            sock, control.encode_request(control.Request(control.DOWN, 1, 0, 30_000, token))
        )
        reply = control.decode_reply(await asyncio.wait_for(loop.sock_recv(sock, 12), 5))
    except (OSError, TimeoutError, control.ControlError):
        sock.close()
        return None
    if reply.status != control.OK:
        sock.close()
        return None
    return sock  # from now on never read


async def honest_test(port: int, within_s: float) -> tuple[float | None, list[str]]:
    """The probe's download test, tried again every half second as long as the server says
    busy; (its Mbit/s, the refusals it got on the way)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    refusals = []
    while loop.time() < deadline:
        try:
            result = await measure_direction(Endpoint(HONEST, port), control.DOWN, 1, 1.0)
            return result.mbps, refusals
        except CapacityError as exc:
            refusals.append(str(exc))
            await asyncio.sleep(0.5)
    return None, refusals


async def test_a_persistent_attacker_with_unread_sessions_does_not_stop_a_probes_test(
    server: MeasurementServer,
) -> None:
    held: list[socket.socket] = []

    async def attack() -> None:
        # Two sessions per address, asked for again whenever the server ends one.
        while True:
            alive = [s for s in held if s.fileno() != -1 and _open(s)]
            held[:] = alive
            per_source: dict[str, int] = {}
            for s in alive:
                per_source[s.getsockname()[0]] = per_source.get(s.getsockname()[0], 0) + 1
            for source in ATTACKERS:
                for _ in range(2 - per_source.get(source, 0)):
                    sock = await hold_a_session(server.port, source)
                    if sock is not None:
                        held.append(sock)
            await asyncio.sleep(0.2)

    attacker = asyncio.create_task(attack())
    try:
        await asyncio.sleep(1.0)
        assert server.capacity is not None
        assert len(server.capacity.sessions) == 16  # every slot taken
        mbps, refusals = await honest_test(server.port, within_s=10.0)
    finally:
        attacker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attacker
        for sock in held:
            sock.close()
    assert mbps is not None and mbps > 50, refusals


async def test_sessions_closed_by_their_client_free_their_slots_at_once(
    server: MeasurementServer,
) -> None:
    held = [await hold_a_session(server.port, source) for source in ATTACKERS for _ in range(2)]
    assert all(sock is not None for sock in held)
    for sock in held:
        assert sock is not None
        sock.close()
    await asyncio.sleep(0.3)
    mbps, refusals = await honest_test(server.port, within_s=0.5)  # one try, no waiting
    assert mbps is not None, refusals


def test_limits_count_per_prefix_not_per_address() -> None:
    # One household's or one attacker's IPv6 delegation (/56, RFC 6177 §2) is one client;
    # an IPv4 /24 likewise; IPv4-mapped IPv6 addresses count as the IPv4 they are.
    assert client_prefix("2001:db8:1:2:aaaa::1") == client_prefix("2001:db8:1:ff:bbbb::9")
    assert client_prefix("2001:db8:1:100::1") != client_prefix("2001:db8:1:200::1")
    assert client_prefix("203.0.113.7") == client_prefix("203.0.113.250") == "203.0.113.0/24"
    assert client_prefix("203.0.114.7") != client_prefix("203.0.113.7")
    assert client_prefix("::ffff:203.0.113.9") == "203.0.113.0/24"
    assert client_prefix("2001:db8:1:2::1") == "2001:db8:1::/56"


def _open(sock: socket.socket) -> bool:
    """Whether the server has not closed sock (a peek at EOF without reading data)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
