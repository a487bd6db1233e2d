"""15-minute PM history, read only: closed intervals across an injected clock, a counter wrap and
an ONT reboot, through the real client, transport and source; and what the client sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycddl
import pytest

from agent.boards import Board
from agent.config import parse
from agent.core import record
from agent.ont import pm, procedures
from agent.ont.frames import MT
from agent.ont.source import make
from agent.sources import LinkState
from hil.ont.emulator import DEFAULT_MIB, Emulator, load_json
from hil.ont.server import OntServer
from hil.ont.wire import simulate

CDDL = (Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text()
CONFIG = 'probe_id = "ftth-1"\n[schedule]\noptical = 900\n'
NEAR_WRAP = (1 << 64) - 2000
# control fields bit 1 (byte 11 of the control block): continuous accumulation (G.988 9.3.32)
CONTINUOUS = "0000" * 5 + "0001" + "0000" * 2


def mib_with_continuous_counter() -> dict[str, Any]:
    mib = load_json(DEFAULT_MIB)
    counters = ("drop_events", "octets", "frames", "broadcast_frames", "multicast_frames",
                "crc_errored_frames", "undersize_frames", "oversize_frames", "frames_64_octets",
                "frames_65_to_127_octets", "frames_128_to_255_octets",
                "frames_256_to_511_octets", "frames_512_to_1023_octets",
                "frames_1024_to_1518_octets")  # fmt: skip
    attributes: dict[str, Any] = dict.fromkeys(counters, 0)
    attributes.update(interval_end_time=250, control_block=CONTINUOUS, octets=NEAR_WRAP)
    mib["entities"].append({"class": 425, "instance": 1, "attributes": attributes})
    return mib


PER_INTERVAL = {
    "312/32769": {"corrected_code_words": 4000, "uncorrectable_code_words": 35},
    "425/1": {"octets": 5000, "frames": 40},
}


async def test_two_intervals_a_wrap_and_a_reboot_give_the_emulators_counts() -> None:
    now = [0.0]
    emulator = Emulator(
        mib_with_continuous_counter(), {"counts_per_interval": PER_INTERVAL}, clock=lambda: now[0]
    )
    server = OntServer(emulator)
    url = await server.start("udp://127.0.0.1:0")
    source = make(parse(CONFIG + f'[ont]\ntransport = "{url}"\n'), Board("t", {}))
    source.clock = lambda: now[0]  # type: ignore[union-attr]  # the same injected clock
    records = []
    try:
        for at in (0.0, 905.0):
            now[0] = at
            [m] = await source.measure(LinkState())
            records.append(m.values)
        octets_before_reboot = emulator.instances[(425, 1)].values["octets"]
        now[0] = 1000.0
        emulator.reboot()  # between the 2nd and 3rd poll; its first interval ends at 1900 s
        now[0] = 1905.0
        [m] = await source.measure(LinkState())
        records.append(m.values)
    finally:
        server.close()
    assert "pm_intervals" not in records[0]  # the first reading only sets the start
    by_class = {i["class"]: i for i in records[1]["pm_intervals"]}
    fec, eth = by_class[312], by_class[425]
    # the interval after the MIB file's interval 3 (FEC) and 250 (Ethernet)
    assert (fec["interval_end_time"], eth["interval_end_time"]) == (4, 251)
    assert fec["corrected_code_words"] == 4000
    assert fec["uncorrectable_code_words"] == 35
    # 2^64 - 2000 + 5000 wrapped to 3000: the interval still counted 5000
    assert octets_before_reboot == 3000
    assert eth["continuous"] is True and eth["octets"] == 5000
    assert eth["frames"] == 40
    assert 341 in by_class and by_class[341]["received_gem_frames"] == 0
    # after the reboot: numbering restarted at 0, the FEC interval counts stand, flagged; the
    # continuous counters restarted at an unknown moment: null, not guessed
    by_class = {i["class"]: i for i in records[2]["pm_intervals"]}
    fec, eth = by_class[312], by_class[425]
    assert fec["after_reboot"] is True and fec["interval_end_time"] == 0
    assert fec["corrected_code_words"] == 4000
    assert eth["after_reboot"] is True and eth["octets"] is None
    schema = pycddl.Schema(CDDL)
    versions = {"agent": "t", "board": "t", "firmware": "linux"}
    for i, values in enumerate(records):
        schema.validate_cbor(
            record.encode("ftth-1", 1, i, 1_780_000_000_000, True, "optical", values, versions)
        )


def test_a_poll_in_the_same_interval_reports_nothing_twice() -> None:
    now = [0.0]
    emulator = Emulator(scenario={"counts_per_interval": PER_INTERVAL}, clock=lambda: now[0])
    tracker = pm.PmTracker()
    first = simulate(procedures.poll(), emulator).result["pm_history"]
    assert tracker.update(first, 0.0) == []
    now[0] = 300.0
    again = simulate(procedures.poll(), emulator).result["pm_history"]
    assert tracker.update(again, 300.0) == []
    now[0] = 3 * 900.0 + 10  # three intervals closed: one read, two lost
    later = simulate(procedures.poll(), emulator).result["pm_history"]
    [fec] = [i for i in tracker.update(later, now[0]) if i["class"] == 312]
    assert fec["missed_intervals"] == 2 and fec["corrected_code_words"] == 4000


def test_split_gets_that_straddle_an_interval_end_are_read_again() -> None:
    # GEM port CTP PM needs two baseline Gets; the interval closes between them on the first try
    now = [0.0]
    emulator = Emulator(scenario={"counts_per_interval": PER_INTERVAL}, clock=lambda: now[0])
    original = emulator.receive

    def receive(data: bytes, *, padded: bool = False) -> list[tuple[float, bytes]]:
        out = original(data, padded=padded)
        if emulator.seen[MT.GET] == 3:  # ONU2-G up time, FEC PM, the first half of GEM PM
            now[0] = 900.0  # the 15 minutes end before the second half is asked
        return out

    emulator.receive = receive  # type: ignore[method-assign]
    reading = simulate(pm.read_history({(341, 1): {}, (312, 32769): {}}), emulator).result
    gem = reading["instances"]["341/1"]
    assert gem["interval_end_time"] == 4  # one interval, read whole after the retry
    assert emulator.seen[MT.GET] == 1 + 1 + 2 + 2


@pytest.mark.parametrize("lab", [False, True])
def test_only_lab_mode_creates_or_synchronises(lab: bool) -> None:
    emulator = Emulator()
    del emulator.instances[(312, 32769)]  # no FEC PM: the OLT did not create one
    runner = simulate(procedures.poll(lab=lab), emulator)
    assert runner.error is None
    sent = runner.stats.sent_types
    writes = {MT.CREATE, MT.DELETE, MT.SET, MT.SYNCHRONIZE_TIME, MT.MIB_RESET, MT.REBOOT}
    if lab:
        assert (sent[MT.CREATE], sent[MT.SYNCHRONIZE_TIME]) == (1, 1)
        assert (312, 32769) in emulator.instances
        assert "312/32769" in runner.result["pm_history"]["instances"]
    else:
        assert not any(sent[t] for t in writes), dict(sent)
        assert set(sent) <= {MT.GET, MT.GET_CURRENT_DATA, MT.MIB_UPLOAD, MT.MIB_UPLOAD_NEXT,
                             MT.GET_ALL_ALARMS, MT.GET_ALL_ALARMS_NEXT, MT.TEST}  # fmt: skip
        assert (312, 32769) not in emulator.instances
        assert emulator.instances[(2, 0)].values["mib_data_sync"] == 5  # the MIB untouched
