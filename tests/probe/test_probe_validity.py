"""The verdict on a capacity result from the link around it (docs/methodology.md §4, §7).

A capacity test on a shaped 50 Mbit/s link, run by the agent's active-test runner with the
emulated Quectel modem polled just before and just after: on the `healthy` scenario the result is
`valid`; on `handover` (hil/modem/scenarios/handover.toml: the serving NR cell changes 3 s after
boot, inside the test) it is flagged `link-change`, the changes named. The records pass the CDDL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pycddl
import pytest

from agent import config
from agent.activerun import ActiveRunner
from agent.boards import Board
from agent.core import record
from agent.fleetplan import Due
from agent.modem import source as modem_source
from agent.probe.source import make_capacity
from agent.sources import LinkState, Source
from hil.link import ShapedLink
from hil.link.serve import start_server
from hil.modem import scenario
from hil.modem.emulator import ModemEmulator

pytestmark = pytest.mark.netns

SCHEMA = pycddl.Schema((Path(record.__file__).parent / "record.cddl").read_text())
VERSIONS = {"agent": "test", "board": "test", "firmware": "test"}
BOARD = Board("test-board", {"platform": "linux", "modem": {"dialect": "quectel"}})


class Meta:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def meta(self, key: str) -> int:
        return self.values.get(key, 0)

    def set_meta(self, key: str, value: int) -> None:
        self.values[key] = value


def wire_like(link: ShapedLink) -> None:
    """Offloads off, so the WAN-interface counters count every segment (methodology §6)."""
    for side in ("a", "b"):
        off = ["ethtool", "-K", link.iface, "tso", "off", "gso", "off", "gro", "off"]
        link.run(side, off, check=True, capture_output=True)


async def one_capacity_test(
    link: ShapedLink, port: int, situation: str
) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    emulator = ModemEmulator(scenario.load("quectel", situation))
    await emulator.start()
    try:
        cfg = config.parse(
            f'probe_id = "ma-val-0001"\n[schedule]\nradio = 600\ncapacity = 3600\n'
            f'[modem]\nport = "{emulator.port}"\n'
            f'[probe]\nservers = ["{link.addr_b}:{port}"]\nduration_s = 4\nstreams = 4\n'
            f'interface = "{link.iface}"\n',
            "agent.toml",
        )
        state = LinkState()
        sources: dict[str, Source] = {
            "radio": modem_source.make(cfg, BOARD),
            "capacity": make_capacity(cfg, BOARD),
        }
        committed: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

        async def poll_link() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            radio = None
            for m in await sources["radio"].measure(state):
                committed.append((m.kind, m.values, None))
                radio = m.values if m.kind == "radio" else radio
            return radio, None

        runner = ActiveRunner(
            cfg, sources, state, poll_link, lambda k, v, e: committed.append((k, v, e)), Meta()
        )
        now = time.time()
        await runner.run_once("capacity", Due(now, False, False), 1, None)
        for src in sources.values():
            await src.aclose()
        return committed
    finally:
        await emulator.aclose()


@pytest.fixture(scope="module")
def link50() -> Any:
    import os

    if os.geteuid() != 0:
        pytest.skip("shaped links need root (network namespaces, tc)")
    with ShapedLink(50, queue_ms=50) as link:
        wire_like(link)
        server, port = start_server(link)
        yield link, port
        server.terminate()
        server.wait(10)


@pytest.mark.parametrize(
    ("situation", "verdict", "changes"),
    [
        ("healthy", {"verdict": "valid", "reasons": []}, []),
        (
            "handover",
            {"verdict": "flagged", "reasons": ["link-change"]},
            ["handover", "ca-change", "sinr-drop"],  # cell 66 → 393, n78 → n41, SINR 18 → 9
        ),
    ],
)
def test_the_link_around_a_capacity_test_decides_its_verdict(
    link50: tuple[ShapedLink, int], situation: str, verdict: dict[str, Any], changes: list[str]
) -> None:
    link, port = link50
    committed = link.call("a", asyncio.run, one_capacity_test(link, port, situation))
    kinds = [kind for kind, _, _ in committed]
    # Polled just before and just after; the result is committed once it knows both.
    assert kinds == ["radio", "radio", "capacity"]
    _, values, extra = committed[2]
    assert extra is not None
    for seq, (kind, v, e) in enumerate(committed):
        raw = record.encode("ma-val-0001", 1, seq, 0, True, kind, v, VERSIONS, None, e)
        SCHEMA.validate_cbor(raw)
    window = extra["link"]
    assert window["before"]["radio"]["pci"] == 66
    assert window["after"]["radio"]["pci"] == (393 if situation == "handover" else 66)
    assert window["before"]["time_ms"] <= extra["started_ms"] < window["after"]["time_ms"]
    assert window["changes"] == changes
    assert values["down_steady"] and values["up_steady"], values
    assert extra["validity"] == verdict, values
