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
    # ONU2-G (baseline, before the choice), then ONU-G, ANI-G, 2 software images, and for the PM
    # history ONU2-G up time and the three PM MEs: each one Get, unsplit
    assert server.emulator.seen[9] == 1 + 4 + 1 + 3


@pytest.mark.parametrize("frame", ["44", "40", "48-mic"])
async def test_a_peer_sending_other_frame_sizes_gives_the_same_snapshot(frame: str) -> None:
    # OLT adapters and BBSim hand over 44-byte baseline messages (no CRC/MIC), XG(S)-PON puts a
    # MIC where G-PON has the CRC: the reading must not depend on it.
    readings = []
    for scenario in ({}, {"frame": frame}):
        server = OntServer(Emulator(scenario=scenario))
        url = await server.start("udp://127.0.0.1:0")
        try:
            reading, runner = await poll_ont(url, timeout_s=0.5, retries=2)
        finally:
            server.close()
        assert runner.stats.dropped == 0
        readings.append(reading)
    assert readings[0] == readings[1]
    ont_expectations.check("healthy", readings[1])
