"""The real client against the emulated ONT in raw Ethernet frames (ethertype 0x88B5) across a veth
pair between two network namespaces the test creates (and removes, even on failure).

The emulator's AF_PACKET socket is opened inside namespace b, the client's inside namespace a; both
then run on this test's event loop, so each frame really crosses the veth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ont_expectations
import pytest

from agent.ont import driver, frames, procedures
from agent.ont.transport import EthTransport, open_packet_socket
from hil.link import ShapedLink
from hil.ont.emulator import Emulator, load_scenario, scenario_names
from hil.ont.server import OntServer

pytestmark = pytest.mark.netns
QIYAS = str(Path(sys.executable).with_name("qiyas"))


@pytest.fixture(scope="module")
def link() -> Iterator[ShapedLink]:
    with ShapedLink(None) as link:  # unshaped: just the two namespaces and the veth
        yield link


async def _poll_over_veth(
    link: ShapedLink, emulator: Emulator, *, extended: bool | None = None
) -> tuple[dict[str, Any], driver.Runner]:
    server = OntServer(emulator)
    server.start_eth(link.call("b", open_packet_socket, link.iface))
    transport = EthTransport(link.call("a", open_packet_socket, link.iface))
    try:
        runner = await driver.run(
            procedures.poll(extended=extended),
            transport,
            timeout_s=0.2,
            retries=3,
            ik=frames.integrity_key(),
        )
    finally:
        transport.close()
        server.close()
    return runner.result, runner


@pytest.mark.parametrize("name", scenario_names())
async def test_every_scenario_over_raw_ethernet(link: ShapedLink, name: str) -> None:
    emulator = Emulator(scenario=load_scenario(name))
    reading, runner = await _poll_over_veth(link, emulator)
    ont_expectations.check(name, reading)
    if name in ont_expectations.RETRANSMITS:
        assert runner.stats.retransmitted > 0
    if name in ont_expectations.DROPS:
        assert runner.stats.dropped > 0
    if name == "healthy":
        # nothing was lost or duplicated: every request reached the ONT exactly once
        assert emulator.requests == runner.stats.sent


async def test_extended_messages_padded_by_ethernet(link: ShapedLink) -> None:
    # Short extended answers are padded to the Ethernet minimum; the client must accept that.
    reading, runner = await _poll_over_veth(link, Emulator(), extended=True)
    ont_expectations.check("healthy", reading)
    assert runner.stats.dropped == 0


def test_cli_commands_across_namespaces(link: ShapedLink, tmp_path: Path) -> None:
    emulator = link.popen(
        "b",
        [QIYAS, "hil", "ont", "--listen", f"eth:{link.iface}", "--scenario", "dirty-fibre"],
        stdout=subprocess.PIPE,
    )
    assert emulator.stdout is not None
    first = json.loads(emulator.stdout.readline())  # printed once the socket is bound
    assert first["listen"] == f"eth:{link.iface}"
    done = link.run(
        "a",
        [QIYAS, "ont", "info", "--transport", f"eth:{link.iface}", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    emulator.terminate()
    emulator.wait(10)
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    ont_expectations.check("dirty-fibre", reading)


async def test_interface_going_down_is_a_clear_failure(link: ShapedLink) -> None:
    transport = EthTransport(link.call("a", open_packet_socket, link.iface))
    link.run("a", ["ip", "link", "set", link.iface, "down"], check=True)
    try:
        with pytest.raises(driver.OmciError, match="cannot send to the ONT: Network is down"):
            await driver.run(procedures.poll(), transport, timeout_s=0.2)
    finally:
        transport.close()
        link.run("a", ["ip", "link", "set", link.iface, "up"], check=True)
