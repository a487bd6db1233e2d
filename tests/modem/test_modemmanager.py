"""The `modemmanager` source against a real D-Bus: a private dbus-daemon, and on it a service
exporting ModemManager's interfaces as ModemManager's own introspection XML defines them
(tests/modem/mm_service.py). `qiyas modem info --source modemmanager --json` must give the
snapshot the AT path gives for the same modem state, with what ModemManager cannot say null and
named in null_reasons, never made up."""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mm_service import (
    MODEM,
    SIGNAL,
    ModemManagerService,
    SessionBus,
    environment,
)
from mm_states import AT, STATES, levels

from agent.modem import mmsnapshot
from hil.modem.emulator import ModemEmulator

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
QIYAS = [sys.executable, "-m", "tools.cli"]
StartEmulator = Callable[..., Awaitable[ModemEmulator]]  # tests/modem/conftest.py's `emulator`


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    daemon = SessionBus(tmp_path)
    yield daemon
    daemon.stop()


@pytest.fixture
async def services(bus: SessionBus) -> AsyncIterator[list[ModemManagerService]]:
    started: list[ModemManagerService] = []
    yield started
    for service in started:
        await service.stop()


async def qiyas(*args: str, address: str | None = None) -> tuple[int, str, str]:
    """Run qiyas without blocking the loop that serves the emulator and the D-Bus service."""
    proc = await asyncio.create_subprocess_exec(
        *QIYAS,
        *args,
        cwd=ROOT,
        env=environment(address) if address else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 45)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start(services: list[ModemManagerService], bus: SessionBus, **kw: Any) -> Any:
    service = ModemManagerService(**kw)
    await service.start(bus.address)
    services.append(service)
    return service


# What ModemManager's D-Bus API does not carry: no band or bandwidth in its cell info, no
# carrier aggregation, no temperature.
NOT_IN_MODEMMANAGER = ("band", "bandwidth_mhz")
NOT_IN_NR5G = ("rssi_dbm",)  # the Signal XML's Nr5g dictionary has rsrp, rsrq, snr: no RSSI


def null_leaves(snapshot: dict[str, Any]) -> set[str]:
    out = set()
    for key, value in snapshot.items():
        if key in ("null_reasons", "dialect"):
            continue
        if isinstance(value, dict):
            out |= {f"{key}.{k}" for k, v in value.items() if v is None}
        elif value is None:
            out.add(key)
    return out


@pytest.mark.parametrize("scenario", ["nsa", "healthy", "weak-signal", "searching"])
async def test_modem_info_through_modemmanager_is_the_at_paths_snapshot(
    scenario: str,
    emulator: StartEmulator,
    bus: SessionBus,
    services: list[ModemManagerService],
) -> None:
    emu = await emulator("quectel", scenario)
    code, out, err = await qiyas("modem", "info", "--port", emu.port, "--json")
    assert code == 0, err
    at_path = json.loads(out)

    state = STATES[scenario]
    service = await start(services, bus, **state)
    # the longest wait is for a first signal refresh that changes nothing (searching)
    code, out, err = await qiyas(
        "modem", "info", "--source", "modemmanager", "--port", "/dev/ttyUSB2", "--json",
        "--timeout", "2", address=bus.address,
    )  # fmt: skip
    assert code == 0, err
    through_mm = json.loads(out)

    expected = json.loads(json.dumps(at_path))
    expected["dialect"] = "modemmanager"
    for leg in ("serving_cell", "nr"):
        if expected[leg] is not None:
            nr = (expected[leg]["tech"] or "").startswith("NR")
            for key in NOT_IN_MODEMMANAGER + (NOT_IN_NR5G if nr else ()):
                expected[leg][key] = None
    expected["ca"] = expected["temperature_c"] = None
    reasons = through_mm.pop("null_reasons")
    assert through_mm == expected
    # every null is explained, and only nulls are
    assert set(reasons) == null_leaves(through_mm)
    registered = through_mm["registration"]["tech"] is not None
    assert ("no band" if registered else "not registered") in reasons["serving_cell.band"]
    # Signal polling was off: the client turned it on, read the first refresh, and turned it
    # off again on leaving, as it found it
    setups = [body for member, body in service.calls if member == "Setup"]
    assert setups == [[30], [0]]
    assert service.modem[SIGNAL].values["Rate"] == 0
    if scenario == "nsa":  # a technician's view: the table, and why each "—" is one
        code, out, err = await qiyas(
            "modem", "info", "--source", "modemmanager", address=bus.address
        )
        assert code == 0 and out == ""
        assert "RM520N-GL" in err and "why not known" in err and "nr.band" in err


async def test_what_modemmanager_does_not_know_is_null_with_its_reason(
    bus: SessionBus, services: list[ModemManagerService]
) -> None:
    state = STATES["nsa"]["state"]
    # Polling already on (someone else's rate: left alone); NaN and out-of-range levels; a plugin
    # without cell info, as ModemManager's AT-only plugins are
    signal_state = {
        "Rate": 10,
        "Lte": levels(rsrp=math.nan, rsrq=-10.5, rssi=-300.0, snr=math.inf),
        "Nr5g": {},
    }
    service = await start(
        services, bus, state={**state, SIGNAL: signal_state}, refresh=None, cells=None
    )
    code, out, err = await qiyas(
        "modem", "info", "--source", "modemmanager", "--json", address=bus.address
    )
    assert code == 0, err
    snap = json.loads(out)
    reasons = snap["null_reasons"]
    cell = snap["serving_cell"]
    assert cell["rsrq_db"] == -10.5
    assert cell["rsrp_dbm"] is None and cell["rssi_dbm"] is None and cell["sinr_db"] is None
    assert cell["cell_id"] is None and cell["pci"] is None
    assert "Unsupported" in reasons["serving_cell.cell_id"]
    assert "Signal" in reasons["serving_cell.rsrp_dbm"]
    assert snap["nr"] is None and "NR leg" in reasons["nr"]
    assert set(reasons) == null_leaves(snap)
    assert not [body for member, body in service.calls if member == "Setup"]


async def test_a_modem_modemmanager_keeps_disabled_reports_no_registration(
    bus: SessionBus, services: list[ModemManagerService]
) -> None:
    state = STATES["nsa"]["state"]
    disabled = {**state, MODEM: {**state[MODEM], "State": 3}}  # MM_MODEM_STATE_DISABLED
    await start(services, bus, state=disabled, refresh=STATES["nsa"]["refresh"])
    code, out, err = await qiyas(
        "modem", "info", "--source", "modemmanager", "--json", address=bus.address
    )
    assert code == 0, err
    snap = json.loads(out)
    assert snap["registration"] == {"state": None, "tech": None}
    assert snap["operator"] == {"mcc": None, "mnc": None, "name": None}
    assert "disabled" in snap["null_reasons"]["registration.state"]
    assert snap["model"] == "RM520N-GL" and snap["sim"] == {"ready": True, "status": "READY"}


async def test_a_sim_locked_or_missing_reads_as_the_at_path_says_it() -> None:
    modem = {"State": 2, "UnlockRequired": 2}  # LOCKED, MM_MODEM_LOCK_SIM_PIN
    assert mmsnapshot.build({MODEM: modem}, None)["sim"] == {"ready": False, "status": "SIM PIN"}
    missing = {"State": -1, "StateFailedReason": 2, "UnlockRequired": 0}  # FAILED, SIM_MISSING
    sim = mmsnapshot.build({MODEM: missing}, None)["sim"]
    assert sim == {"ready": False, "status": "not inserted"}  # the AT path's +CME ERROR: 10


async def test_without_modemmanager_on_the_bus_the_poll_says_so(bus: SessionBus) -> None:
    code, out, err = await qiyas(
        "modem", "info", "--source", "modemmanager", "--json", address=bus.address
    )
    assert code == 1 and "Traceback" not in err
    assert "ModemManager is not running" in json.loads(out)["error"]


async def test_without_a_system_bus_the_poll_says_where_it_looked(tmp_path: Path) -> None:
    nowhere = f"unix:path={tmp_path}/no-bus"
    code, out, err = await qiyas(
        "modem", "info", "--source", "modemmanager", "--json", address=nowhere
    )
    assert code == 1 and "Traceback" not in err
    assert f"no system D-Bus at {nowhere}" in json.loads(out)["error"]


async def test_a_port_modemmanager_does_not_use_names_the_ports_it_has(
    bus: SessionBus, services: list[ModemManagerService]
) -> None:
    state = STATES["nsa"]["state"]
    ports = [["ttyUSB2", 9], ["ttyUSB3", AT]]  # ttyUSB2 tagged ID_MM_PORT_IGNORE: IGNORED
    await start(services, bus, state={**state, MODEM: {**state[MODEM], "Ports": ports}})
    code, out, _ = await qiyas(
        "modem", "info", "--source", "modemmanager", "--port", "/dev/ttyUSB2", "--json",
        address=bus.address,
    )  # fmt: skip
    assert code == 1
    assert json.loads(out)["error"] == "no ModemManager modem uses ttyUSB2 (modem 0: ttyUSB3)"


def _enum(text: str, prefix: str) -> dict[str, int]:
    """NAME -> value of an enum in ModemManager-enums.h (plain numbers and 1 << n)."""
    out = {}
    for name, value in re.findall(rf"\b{prefix}([A-Z0-9_]+)\s*=\s*([-0-9<x ]+?),?\n", text):
        value = value.strip()
        out[name] = 1 << int(value.split("<<")[1]) if "<<" in value else int(value, 0)
    return out


def test_the_clients_numbers_are_modemmanagers_own() -> None:
    """Held to the enum header of the ModemManager Debian ships (modemmanager-dev)."""
    text = Path("/usr/include/ModemManager/ModemManager-enums.h").read_text()
    locks = _enum(text, "MM_MODEM_LOCK_")
    assert {locks[n.replace("-", "_").replace(" ", "_")]: n for n in mmsnapshot.LOCKS.values()
            if n != "READY"} == {k: v for k, v in mmsnapshot.LOCKS.items() if k != 1}  # fmt: skip
    assert locks["NONE"] == mmsnapshot.LOCK_NONE
    states = _enum(text, "MM_MODEM_STATE_")
    assert {states[n.upper()]: n for n in mmsnapshot.STATE_NAMES.values()} == (
        mmsnapshot.STATE_NAMES
    )
    reasons = _enum(text, "MM_MODEM_STATE_FAILED_REASON_")
    assert (reasons["SIM_MISSING"], reasons["SIM_ERROR"]) == tuple(mmsnapshot.FAILED_SIM)
    tech = _enum(text, "MM_MODEM_ACCESS_TECHNOLOGY_")
    assert tech["5GNR"] == mmsnapshot.NR_BIT
    assert tech["LTE"] | tech["LTE_CAT_M"] | tech["LTE_NB_IOT"] == mmsnapshot.LTE_BITS
    assert tech["GSM"] | tech["GSM_COMPACT"] | tech["GPRS"] | tech["EDGE"] == mmsnapshot.GSM_BITS
    umts = ("UMTS", "HSDPA", "HSUPA", "HSPA", "HSPA_PLUS")
    assert sum(tech[n] for n in umts) == mmsnapshot.UMTS_BITS
    cells = _enum(text, "MM_CELL_TYPE_")
    assert (cells["GSM"], cells["UMTS"], cells["LTE"], cells["5GNR"]) == (
        mmsnapshot.CELL_GSM,
        mmsnapshot.CELL_UMTS,
        mmsnapshot.CELL_LTE,
        mmsnapshot.CELL_NR,
    )
    registration = _enum(text, "MM_MODEM_3GPP_REGISTRATION_STATE_")
    assert (registration["HOME"], registration["ROAMING"]) == (1, 5)  # 27.007 <stat> numbers
    from agent.modem.modemmanager import PORT_IGNORED

    assert _enum(text, "MM_MODEM_PORT_TYPE_")["IGNORED"] == PORT_IGNORED


def test_serving_carriers_since_1_22_are_told_apart_by_their_serving_cell_type() -> None:
    """ModemManager 1.22 lists every serving carrier, each with "serving-cell-type"
    (MMServingCellType PCELL 1, SCELL 2, PSCELL 3: introspection/
    org.freedesktop.ModemManager1.Modem.xml and include/ModemManager-enums.h of
    linux-mobile-broadband/ModemManager, commit e8d63c17): the primary is the serving cell, the
    PSCell the NR leg, an SCell neither."""
    interfaces = STATES["nsa"]["state"]

    def lte(role: int | None, pci: str) -> dict[str, Any]:
        cell = {"cell-type": 5, "serving": True, "physical-ci": pci, "earfcn": 1300}
        return cell if role is None else {**cell, "serving-cell-type": role}

    scell, pcell = lte(2, "12D"), lte(1, "7B")
    pscell = {"cell-type": 6, "serving": True, "serving-cell-type": 3, "physical-ci": "159"}
    snap = mmsnapshot.build(interfaces, [scell, pcell, pscell])
    assert snap["serving_cell"]["pci"] == 123 and snap["nr"]["pci"] == 345
    # MBIM marks a carrier it cannot place "unknown" (0) or "invalid" (0xFFFFFFFF): alone, it
    # is the serving cell; beside others, or an SCell alone, it is not guessed
    assert mmsnapshot.build(interfaces, [lte(0xFFFFFFFF, "7B")])["serving_cell"]["pci"] == 123
    assert mmsnapshot.build(interfaces, [lte(2, "12D")])["serving_cell"]["pci"] is None
    # several serving LTE cells and none marked primary: which is the serving cell is unknown
    snap = mmsnapshot.build(interfaces, [lte(None, "12D"), lte(None, "7B")])
    assert snap["serving_cell"]["pci"] is None
    assert "marks none of its serving cells" in snap["null_reasons"]["serving_cell.pci"]


async def test_the_agents_radio_source_reads_modemmanager_when_the_board_says_so(
    bus: SessionBus, services: list[ModemManagerService], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent import config as agent_config
    from agent.boards import parse
    from agent.core import record
    from agent.sources import LinkState, load_factory

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    board = parse(
        "rpi-mm",
        'description = "x"\nplatform = "linux"\n[modem]\nsource = "modemmanager"\n'
        'port = "/dev/ttyUSB2"\nbaud = 115200\ndialect = "auto"\nboot_wait_s = 30\n',
    )
    cfg = agent_config.parse('probe_id = "p1"\n[schedule]\nradio = 60\n', "agent.toml")
    radio = load_factory("radio")(cfg, board)
    link = LinkState()
    try:
        service = await start(services, bus, **STATES["nsa"])
        (measured,) = await radio.measure(link)
        assert measured.kind == "radio" and measured.values["dialect"] == "modemmanager"
        assert link.radio is not None and link.radio["serving_cell"]["pci"] == 123
        cddl = (ROOT / "agent/core/record.cddl").read_text()
        import pycddl

        payload = record.encode(
            "p1", 1, 1, 0, True, "radio", measured.values,
            {"agent": "a", "board": "b", "firmware": "f"}, {"radio": link.radio},
        )  # fmt: skip
        pycddl.Schema(cddl).validate_cbor(payload)
        # ModemManager goes away (restarted): the link is unknown, one status says why
        await service.stop()
        services.remove(service)
        (down,) = await radio.measure(link)
        assert down.values["event"] == "modem-down" and link.radio is None
        assert "not running" in down.values["detail"]
        await start(services, bus, **STATES["nsa"])
        back = await radio.measure(link)
        assert [m.kind for m in back] == ["radio", "status"]
        assert back[1].values == {
            "event": "modem-recovered",
            "detail": "by reconnect to ModemManager",
        }
    finally:
        await radio.aclose()


async def test_levels_left_from_an_earlier_polling_are_not_read(
    bus: SessionBus, services: list[ModemManagerService]
) -> None:
    """Polling off, the Signal dictionaries still full (ModemManager keeps the last values when
    polling stops or a refresh fails: src/mm-iface-modem-signal.c, load_values_ready), and the
    refresh after Setup never comes: those levels are of unknown age, so none is read; the
    cell info's own levels, fresh from this call, are."""
    state = STATES["nsa"]["state"]
    old = {"Rate": 0, "Lte": levels(rsrp=-70.0, rsrq=-5.0, rssi=-40.0, snr=30.0)}
    await start(services, bus, state={**state, SIGNAL: old}, cells=STATES["nsa"]["cells"])
    code, out, err = await qiyas(
        "modem", "info", "--source", "modemmanager", "--json", "--timeout", "0.5",
        address=bus.address,
    )  # fmt: skip
    assert code == 0, err
    snap = json.loads(out)
    cell = snap["serving_cell"]
    assert (cell["rsrp_dbm"], cell["rsrq_db"]) == (-95, -10)  # GetCellInfo's
    assert cell["rssi_dbm"] is None and cell["sinr_db"] is None
    assert (
        "no signal refresh from ModemManager within 0.5 s"
        in (snap["null_reasons"]["serving_cell.rssi_dbm"])
    )


def test_a_channel_number_outside_its_technologys_range_is_not_taken() -> None:
    """EARFCN is 0..262143 (3GPP TS 36.101 5.7.3), NR-ARFCN 0..3279165 (38.104 5.4.2.1): a
    number valid for NR is not an LTE channel."""
    interfaces = STATES["nsa"]["state"]
    lte = {"cell-type": 5, "serving": True, "physical-ci": "7B"}
    snap = mmsnapshot.build(interfaces, [{**lte, "earfcn": 627264}])
    assert snap["serving_cell"]["arfcn"] is None and snap["serving_cell"]["pci"] == 123
    assert mmsnapshot.build(interfaces, [{**lte, "earfcn": 262143}])["serving_cell"]["arfcn"] == (
        262143
    )
