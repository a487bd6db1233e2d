"""The real client against the emulated ONT over real UDP sockets on loopback, every scenario."""

from __future__ import annotations

import ont_expectations
import pytest

from agent.ont.driver import poll_ont
from hil.ont.emulator import Emulator, load_scenario, scenario_names
from hil.ont.server import OntServer


@pytest.mark.parametrize("name", scenario_names())
async def test_every_scenario_over_udp(name: str) -> None:
    server = OntServer(Emulator(scenario=load_scenario(name)))
    url = await server.start("udp://127.0.0.1:0")
    try:
        reading, runner = await poll_ont(url, timeout_s=0.2, retries=3)
    finally:
        server.close()
    ont_expectations.check(name, reading)
    if name in ont_expectations.RETRANSMITS:
        assert runner.stats.retransmitted > 0
    if name in ont_expectations.DROPS:
        assert runner.stats.dropped > 0
    if name == "avc-storm":
        assert runner.stats.notifications >= 40


async def test_extended_messages_over_udp() -> None:
    server = OntServer(Emulator())
    url = await server.start("udp://127.0.0.1:0")
    try:
        reading, _ = await poll_ont(url, extended=True)
    finally:
        server.close()
    ont_expectations.check("healthy", reading)
    assert server.emulator.seen[9] == 3 + 2  # ONU-G, ONU2-G, ANI-G, 2 software images: unsplit
