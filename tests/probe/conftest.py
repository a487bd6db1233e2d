"""A shaped link with a measurement server across it, for the probe's HIL tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from agent.probe.server import Limits, MeasurementServer
from agent.probe.webserver import WebServer
from hil.link import ShapedLink
from hil.link.serve import start_server

LOOPBACK_LIMITS = Limits(
    max_duration_s=2.0,
    max_streams=4,
    max_sessions_per_client=2,
    max_connections_per_client=12,
    request_timeout_s=0.5,
    stamp_pps_per_client=500,
    stamp_burst=50,
)


@pytest.fixture(scope="module")
def link20() -> Iterator[ShapedLink]:
    if os.geteuid() != 0:
        pytest.skip("shaped links need root (network namespaces, tc)")
    with ShapedLink(20, queue_ms=50) as link:
        yield link


@pytest.fixture(scope="module")
def server20(link20: ShapedLink) -> Iterator[int]:
    proc, port = start_server(link20)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
async def server() -> AsyncIterator[MeasurementServer]:
    """An in-process server on 127.0.0.1 with tight limits, so refusals are quick to provoke."""
    srv = MeasurementServer("127.0.0.1", 0, LOOPBACK_LIMITS)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.aclose()


@pytest.fixture
async def reference() -> AsyncIterator[WebServer]:
    """The measurement server's HTTP side (reference page, video ladder) on 127.0.0.1."""
    server = WebServer("127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.aclose()
