"""SFF-8472 diagnostics of an SFP module from real EEPROM dumps (tests/ont/sfp_dumps/README.md
names their sources), the `sfp` optical source and `qiyas ont info --source sfp`."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pycddl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.boards import Board
from agent.config import ConfigError, parse
from agent.core import record
from agent.ont import sfp
from agent.ont.sfp_source import SfpSource, record_values
from agent.ont.source import make
from agent.sources import LinkState

DUMPS = Path(__file__).resolve().parent / "sfp_dumps"
INTEL = DUMPS / "intel-e10gsfpsrx.hex"
CORRUPTED = DUMPS / "bcm57502-corrupted.hex"
QIYAS = str(Path(sys.executable).with_name("qiyas"))
CDDL = (Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text()
needs_ethtool = pytest.mark.skipif(shutil.which("ethtool") is None, reason="ethtool not installed")


def intel() -> bytes:
    return sfp.parse_dump(INTEL.read_bytes())


def test_a_real_module_decodes_to_the_values_worked_by_hand() -> None:
    reading = sfp.decode(intel())
    # A0h: byte 92 = 0x68: diagnostics implemented (0x40), internally calibrated (0x20),
    # average received power (0x08); name/part/serial at 20, 40, 68 (ASCII, space padded)
    assert (reading["vendor_name"], reading["part_number"], reading["serial_number"]) == (
        "Intel Corp", "FTLX8574D3BNL-IT", "A41ASYK",
    )  # fmt: skip
    assert (reading["diagnostics"], reading["rx_power"]) == ("internal calibration", "average")
    # A2h 96..105 = 2356 85e0 10f8 1694 0015:
    # 0x2356 / 256 = 35.336 °C; 0x85e0 = 34272 × 100 µV = 3.4272 V; 0x10f8 = 4344 × 2 µA =
    # 8.688 mA; 0x1694 = 5780 × 0.1 µW = 578 µW = 10 log10(0.578) = -2.381 dBm;
    # 0x0015 = 21 × 0.1 µW = 2.1 µW = -26.778 dBm
    assert (reading["temperature_c"], reading["voltage_v"], reading["bias_ma"]) == (
        35.336, 3.4272, 8.688,
    )  # fmt: skip
    assert (reading["tx_dbm"], reading["rx_dbm"]) == (-2.381, -26.778)
    t = reading["thresholds"]
    # A2h 0..39: temperature 5d00 f300 5800 f800 = 93, -13, 88, -8 °C; Vcc 9088 7148 8ca0 7530
    # = 3.7, 2.9, 3.6, 3.0 V; bias 1964 07d0 186a 09c4 = 13, 4, 12.5, 5 mA; TX 2710 09d0 1f07
    # 0c5a = 1000, 251.2, 794.3, 316.2 µW = 0, -6.0, -1.0, -5.0 dBm; RX 2710 0064 1f07 009e
    # = 1000, 10, 794.3, 15.8 µW = 0, -20, -1.0, -18.013 dBm
    assert [t[f"temperature_c_{k}"] for k in sfp._THRESHOLD_KINDS] == [93, -13, 88, -8]
    assert [t[f"voltage_v_{k}"] for k in sfp._THRESHOLD_KINDS] == [3.7, 2.9, 3.6, 3.0]
    assert [t[f"bias_ma_{k}"] for k in sfp._THRESHOLD_KINDS] == [13, 4, 12.5, 5]
    assert [t[f"tx_dbm_{k}"] for k in sfp._THRESHOLD_KINDS] == [0, -6.0, -1.0, -5.0]
    assert [t[f"rx_dbm_{k}"] for k in sfp._THRESHOLD_KINDS] == [0, -20, -1.0, -18.013]
    # the record's thresholds are the alarm levels
    assert (reading["rx_low_threshold_dbm"], reading["tx_high_threshold_dbm"]) == (-20.0, 0.0)


def test_a_corrupted_dump_gives_no_levels_and_says_why() -> None:
    # Read through a bnxt_en NIC whose firmware garbled page A0h: byte 92 reads 0x00 ("no
    # diagnostics") and the text fields are not ASCII. Nothing is guessed.
    reading = sfp.decode(sfp.parse_dump(CORRUPTED.read_bytes()))
    assert reading["diagnostics"] == "not implemented (A0h byte 92 is 0x00)"
    assert all(reading[k] is None for k in ("rx_dbm", "tx_dbm", "temperature_c", "bias_ma"))
    assert reading["vendor_name"] is None and reading["thresholds"] == {}


def _external(eeprom: bytes, constants: bytes | None = None) -> bytes:
    """The dump marked externally calibrated (A0h byte 92: 0x40 | 0x10 | 0x08), optionally with
    other calibration constants at A2h 56..91. Derived from the real dump, not a real module."""
    data = bytearray(eeprom)
    data[sfp.DIAG_TYPE] = 0x58
    if constants is not None:
        data[256 + 56 : 256 + 92] = constants
    return bytes(data)


def test_external_calibration_with_the_modules_own_constants_changes_nothing() -> None:
    # This module also carries external constants: RX polynomial 0, 0, 0, 1.0, 0 (A2h 56..75)
    # and slope 1.0 (0x0100), offset 0 for bias, TX, temperature and Vcc (76..91).
    internal, external = sfp.decode(intel()), sfp.decode(_external(intel()))
    assert external["diagnostics"] == "external calibration"
    for key in ("rx_dbm", "tx_dbm", "temperature_c", "bias_ma", "voltage_v", "thresholds"):
        assert external[key] == internal[key]


def test_external_calibration_applies_slopes_offsets_and_the_rx_polynomial() -> None:
    # RX: Rx_PWR(0) = 10, Rx_PWR(1) = 1; bias slope 2.0; TX offset +100; temperature slope 1,
    # offset -256 (-1 °C); Vcc slope 0.5 (0x0080)
    constants = struct.pack(">5f", 0, 0, 0, 1.0, 10.0) + struct.pack(
        ">HhHhHhHh", 0x0200, 0, 0x0100, 100, 0x0100, -256, 0x0080, 0
    )
    reading = sfp.decode(_external(intel(), constants))
    # bias 2 × 4344 × 2 µA = 17.376 mA; TX (5780 + 100) × 0.1 µW = 588 µW = -2.306 dBm;
    # RX (10 + 21) × 0.1 µW = 3.1 µW = -25.086 dBm; temperature (9046 - 256) / 256 = 34.336 °C;
    # Vcc 0.5 × 34272 × 100 µV = 1.7136 V
    assert (reading["bias_ma"], reading["tx_dbm"], reading["rx_dbm"]) == (17.376, -2.306, -25.086)
    assert (reading["temperature_c"], reading["voltage_v"]) == (34.336, 1.7136)


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "no `0xOFFSET: bytes` lines"),
        (b"Offset\n0x0000: 03 04\n0x0020: 00\n", "jumps to offset 0x0020"),
        (b"\x03" * 600, "more than 512"),
    ],
)
def test_bad_dumps_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(sfp.EepromError, match=message):
        sfp.decode(sfp.parse_dump(data) if data else sfp.parse_hex_dump(""))


def test_a_module_with_diagnostics_needs_both_pages() -> None:
    with pytest.raises(sfp.EepromError, match="dump is 256 bytes, not 512"):
        sfp.decode(intel()[:256])


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_any_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    try:
        reading = sfp.decode(sfp.parse_dump(data))
    except sfp.EepromError as exc:
        assert str(exc)
        return
    for key in ("rx_dbm", "tx_dbm"):
        value = reading[key]
        assert value is None or (isinstance(value, float) and value == value)  # never NaN


def test_the_record_carries_levels_and_identity_but_not_the_serial() -> None:
    values = record_values(sfp.decode(intel()))
    assert values["rx_dbm"] == -26.778 and values["optical_source"] == "sfp"
    assert values["vendor_id"] == "Intel Corp" and "serial_number" not in values
    # -26.778 dBm is below the module's own low alarm (-20 dBm)
    assert values["thresholds_crossed"] == ["rx_low"]
    versions = {"agent": "t", "board": "test-sfp", "firmware": "linux"}
    encoded = record.encode("ftth-1", 1, 7, 1_780_000_000_000, True, "optical", values, versions)
    pycddl.Schema(CDDL).validate_cbor(encoded)


CONFIG = 'probe_id = "ftth-1"\n[schedule]\noptical = 300\n'


def test_the_board_profile_names_the_source() -> None:
    board = Board("stick", {"ont": {"source": "sfp", "iface": "eth1"}})
    source = make(parse(CONFIG), board)
    assert isinstance(source, SfpSource) and source.iface == "eth1"
    with pytest.raises(ConfigError, match='source "sfp" needs iface'):
        make(parse(CONFIG), Board("stick", {"ont": {"source": "sfp"}}))
    with pytest.raises(ConfigError, match="source must be one of omci, sfp"):
        make(parse(CONFIG), Board("stick", {"ont": {"source": "snmp"}}))


@needs_ethtool
async def test_an_interface_without_a_module_clears_the_context() -> None:
    # the real ethtool against the real loopback, which has no module EEPROM
    link = LinkState()
    link.optical = {"rx_dbm": -20.0}
    with pytest.raises(sfp.EepromError, match=r"ethtool -m lo: .*not supported"):
        await SfpSource("lo").measure(link)
    assert link.optical is None


def qiyas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([QIYAS, *args], capture_output=True, text=True, timeout=60, check=False)


def test_ont_info_decodes_a_saved_dump() -> None:
    done = qiyas("ont", "info", "--source", "sfp", "--eeprom", str(INTEL), "--json")
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    assert (reading["rx_dbm"], reading["tx_dbm"], reading["temperature_c"]) == (
        -26.778, -2.381, 35.336,
    )  # fmt: skip


@needs_ethtool
def test_ont_info_on_an_interface_without_a_module_exits_1() -> None:
    done = qiyas("ont", "info", "--source", "sfp", "--iface", "lo", "--json")
    assert done.returncode == 1
    assert "not supported" in json.loads(done.stdout)["error"]
    assert "Traceback" not in done.stderr


def test_ont_info_sfp_usage() -> None:
    done = qiyas("ont", "info", "--source", "sfp")
    assert done.returncode == 2 and "--iface IFACE or --eeprom FILE" in done.stderr
