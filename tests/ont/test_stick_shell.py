"""The stick-shell parsers on real sticks' outputs (stick_captures/README.md cites each and works
the expected values out by hand), and what they do with output that is not certain."""

from __future__ import annotations

from pathlib import Path

import pycddl
import pytest

from agent.boards import Board
from agent.config import ConfigError, parse
from agent.core import record
from agent.ont import procedures, stick_shell
from agent.ont.source import make
from agent.ont.stick_shell import (
    OMCI_PIPE_OLT_G,
    OMCICLI_ANI_G,
    OTOP_STATUS,
    PLOAM_STATE,
    ShellOutputError,
)
from agent.ont.stick_source import StickShellSource, record_values

CAPTURES = Path(__file__).resolve().parent / "stick_captures"
CDDL = (Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text()
OTOP = (CAPTURES / "lantiq-fs-gpon-onu-34-20bi.otop-status.txt").read_text()
PLOAM_O5 = (CAPTURES / "lantiq-pmg3000-d20b.ploamsg-o5.txt").read_text()
PLOAM_O1 = (CAPTURES / "lantiq-pmg3000-d20b.ploamsg-o1.txt").read_text()
ANIG = (CAPTURES / "realtek-dfp-34x-2c2.omcicli-263.txt").read_text()
OLT_G = (CAPTURES / "lantiq-fs-gpon-onu-34-20bi.omci_pipe-meg-131-0.txt").read_text()
PRX_84 = (CAPTURES / "maxlinear-prx321.omci_pipe-meg-84-4354.txt").read_text()
LANTIQ = {OTOP_STATUS: OTOP, PLOAM_STATE: PLOAM_O5, OMCI_PIPE_OLT_G: OLT_G}


def otop_with(label: str, value: str) -> str:
    """The captured table with one line's value changed (a fault case, not a capture)."""
    lines = OTOP.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(label))
    lines[index] = f"{label:<50} {value}"
    return "\n".join(lines) + "\n"


def test_otop_status_of_an_fs_stick() -> None:
    levels = stick_shell.parse_otop_status(OTOP)
    assert levels == {
        "rx_dbm": -17.57,
        "tx_dbm": 2.55,
        "bias_ma": 8.72,
        "temperature_c": 45.85,
        "voltage_v": 3.2068,
        "signal_detect": True,
        "unknown": {},
    }


def test_otop_power_without_dbm_is_computed_from_the_linear_value() -> None:
    # otop before 7.5 printed "RSSI 1490 power: 17.01uW" only (optic_top.c)
    older = stick_shell.parse_otop_status(otop_with("RSSI 1490 power", "17.01uW"))
    assert older["rx_dbm"] == -17.69
    zero = stick_shell.parse_otop_status(otop_with("RSSI 1490 power", "0.00uW"))
    assert zero["rx_dbm"] is None and zero["unknown"]["rx_dbm"] == "0 µW has no dBm value"


@pytest.mark.parametrize(
    "label,value,key,why",
    [
        ("RSSI 1490 power", "17.01uW -7.57dBm", "rx_dbm", "linear power and dBm disagree"),
        ("RSSI 1490 power", "lots", "rx_dbm", "unreadable power"),
        ("Signal detect", "false", "rx_dbm", "loss of signal"),
        ("tx power", "1.80mW 9.55dBm", "tx_dbm", "linear power and dBm disagree"),
        ("actual bias / modulation current", "n/a", "bias_ma", "unreadable bias"),
        ("laser temperature (ext corr):", "not valid", "temperature_c", "laser temperature"),
        ("laser temperature (ext corr):", "65535K", "temperature_c", "laser temperature"),
        ("DDMI voltage", "3.2V", "voltage_v", "unreadable DDMI voltage"),
    ],
)
def test_an_otop_value_that_is_not_certain_is_null_with_the_reason(
    label: str, value: str, key: str, why: str
) -> None:
    levels = stick_shell.parse_otop_status(otop_with(label, value))
    assert levels[key] is None and why in levels["unknown"][key]
    others = {"rx_dbm", "tx_dbm", "bias_ma", "temperature_c", "voltage_v"} - {key}
    assert all(levels[k] is not None for k in others)


def test_a_label_printed_twice_is_not_read() -> None:
    twice = OTOP + "DDMI voltage                                       3306.79mV\n"
    levels = stick_shell.parse_otop_status(twice)
    assert levels["voltage_v"] is None and "twice" in levels["unknown"]["voltage_v"]


def test_output_that_is_not_the_status_table_is_refused() -> None:
    # otop's alarm table (optic_top.c, table_entry_get_alarm) has other rows
    alarms = "alarm overview\n\n" + f"{'PLL lock:':<50} X \n{'loss of signal:':<50} - \n"
    with pytest.raises(ShellOutputError, match="not otop's status table"):
        stick_shell.parse_otop_status(alarms)
    # the table without the title line the interactive otop shows is still the status table
    untitled = OTOP.replace("status overview\n", "")
    assert stick_shell.parse_otop_status(untitled) == stick_shell.parse_otop_status(OTOP)
    with pytest.raises(ShellOutputError, match="more than"):
        stick_shell.parse_otop_status("status overview\n" + "x  1\n" * 20000)


def test_ploam_state_connected_and_disconnected() -> None:
    assert stick_shell.parse_ploam_state(PLOAM_O5) == {"ploam_state": "O5", "unknown": {}}
    assert stick_shell.parse_ploam_state(PLOAM_O1)["ploam_state"] == "O1"
    failed = stick_shell.parse_ploam_state("errorcode=-1 curr_state=5\n")
    assert failed == {"ploam_state": None, "unknown": {"ploam_state": "errorcode=-1"}}
    assert stick_shell.parse_ploam_state("errorcode=0 curr_state=9\n")["ploam_state"] is None
    with pytest.raises(ShellOutputError, match="no errorcode / curr_state"):
        stick_shell.parse_ploam_state("-ash: onu: not found\n")


def test_omci_pipe_meg_of_a_falcon_stick_and_a_prx_ont() -> None:
    # Falcon numbers attributes from 0, PRX from 1: both are read by name
    olt_g = stick_shell.parse_omci_pipe_meg(OLT_G)
    assert (olt_g["class_id"], olt_g["class_name"], olt_g["instance"]) == (131, "OLT-G", 0)
    assert olt_g["attributes"] == {
        "OLT vendor id": b"HWTC",
        "Equipment id": b" " * 20,
        "Version": b"10" + b"\x00" * 12,
        "Time of day information": b"\x00" * 14,
    }
    vlan = stick_shell.parse_omci_pipe_meg(PRX_84)
    assert (vlan["class_id"], vlan["instance"]) == (84, 4354)
    assert vlan["attributes"] == {
        "VLAN filter list": bytes.fromhex("09da") + bytes(22),  # VID 2522, as the post says
        "Forward operation": b"\x10",
        "Number of entries": b"\x01",
    }
    assert stick_shell.parse_olt_vendor(OLT_G) == ("HWTC", None)


def test_omci_pipe_meg_that_is_not_certain() -> None:
    short = OLT_G.replace("0x48 0x57 0x54 0x43", "0x48 0x57 0x54")
    assert stick_shell.parse_omci_pipe_meg(short)["attributes"]["OLT vendor id"] is None
    assert stick_shell.parse_olt_vendor(short) == (
        None,
        "no readable 'OLT vendor id' (4 bytes) in OLT-G",
    )
    unset = OLT_G.replace("0x48 0x57 0x54 0x43", "0x20 0x20 0x20 0x20")  # before provisioning
    assert stick_shell.parse_olt_vendor(unset)[1] == (
        "OLT-G not set: the OLT has not provisioned the stick"
    )
    with pytest.raises(ShellOutputError, match="errorcode=-1"):
        stick_shell.parse_omci_pipe_meg(OLT_G.replace("errorcode=0", "errorcode=-1"))
    with pytest.raises(ShellOutputError, match="got class 84/4354"):
        stick_shell.parse_olt_vendor(PRX_84)
    with pytest.raises(ShellOutputError, match="expected one managed entity, found 2"):
        stick_shell.parse_omci_pipe_meg(OLT_G.replace("errorcode=0\n", "") + OLT_G)


def test_omcicli_ani_g_decodes_with_the_omci_codecs() -> None:
    (ani,) = stick_shell.parse_omcicli(ANIG, 263)
    assert ani["instance"] == 0x8001
    assert ani["optical_signal_level"] == -21.306  # 0xd663: -10653 × 0.002 dB
    assert ani["transmit_optical_level"] == 2.454  # 0x04cb: 1227 × 0.002 dB
    # 0xff and 0x81: "the ONU's internal policy" (G.988 9.2.1)
    assert ani["lower_optical_threshold"] is None and ani["upper_transmit_power_threshold"] is None
    assert (ani["sf_threshold"], ani["sd_threshold"], ani["total_tcont_number"]) == (5, 9, 16)
    assert ani["unknown"] == {}


def test_omcicli_values_that_do_not_fit_are_null_and_bad_tables_refused() -> None:
    (ani,) = stick_shell.parse_omcicli(ANIG.replace("0xd663", "0x1d663"), 263)
    assert ani["optical_signal_level"] is None
    assert "does not fit 2 byte(s)" in ani["unknown"]["optical_signal_level"]
    (ani,) = stick_shell.parse_omcicli(ANIG.replace("TranOpticLevel: 0x04cb\n", ""), 263)
    assert ani["unknown"]["transmit_optical_level"] == "no TranOpticLevel in the output"
    with pytest.raises(ShellOutputError, match="not the Anig table"):
        stick_shell.parse_omcicli(ANIG.replace("Anig", "OltG"), 263)
    with pytest.raises(ShellOutputError, match="not closed"):
        stick_shell.parse_omcicli(ANIG.rstrip("=\n") + "\n", 263)
    with pytest.raises(ShellOutputError, match="twice"):
        stick_shell.parse_omcicli(ANIG.replace("ARC: 0\n", "ARC: 0\nARC: 1\n"), 263)
    assert stick_shell.parse_omcicli(ANIG.split("=====")[0], 263) == []  # no instance
    with pytest.raises(ShellOutputError, match="class 256 is not read"):  # no capture of it
        stick_shell.parse_omcicli(ANIG, 256)


def test_lantiq_reading_has_the_omci_paths_keys_and_says_why_thresholds_are_missing() -> None:
    reading = stick_shell.reading("lantiq", LANTIQ)
    assert tuple(reading["optical"]) == procedures.OPTICAL_KEYS
    assert reading["ploam_state"] == "O5" and reading["signal_detect"] is True
    assert reading["olt_vendor_id"] == "HWTC"
    assert set(reading["unknown"]) == set(stick_shell.THRESHOLD_KEYS)


def test_realtek_reading_takes_the_first_ani_g() -> None:
    reading = stick_shell.reading("realtek", {OMCICLI_ANI_G: ANIG})
    assert (reading["optical"]["rx_dbm"], reading["optical"]["tx_dbm"]) == (-21.306, 2.454)
    assert reading["unknown"]["rx_low_threshold_dbm"] == "the stick's own policy (G.988 9.2.1)"
    assert "no temperature" in reading["unknown"]["temperature_c"]
    with pytest.raises(ShellOutputError, match="no output of omcicli"):
        stick_shell.reading("realtek", {})


@pytest.mark.parametrize("dialect,outputs", [
    ("lantiq", LANTIQ),
    ("realtek", {OMCICLI_ANI_G: ANIG}),
])  # fmt: skip
def test_the_record_validates_against_the_schema(dialect: str, outputs: dict[str, str]) -> None:
    values = record_values(stick_shell.reading(dialect, outputs))
    assert values["optical_source"] == "stick-shell" and values["thresholds_crossed"] == []
    assert all(v is not None for v in values.values())
    versions = {"agent": "t", "board": "test-stick", "firmware": "linux"}
    encoded = record.encode("ftth-1", 1, 7, 1_780_000_000_000, True, "optical", values, versions)
    pycddl.Schema(CDDL).validate_cbor(encoded)


CONFIG = 'probe_id = "ftth-1"\n[schedule]\noptical = 300\n'


def test_the_board_names_the_stick_and_the_agent_config_the_key() -> None:
    board = Board("stick", {"ont": {"source": "stick-shell", "host": "192.168.1.10",
                                    "dialect": "lantiq"}})  # fmt: skip
    source = make(parse(CONFIG + '[ont]\nidentity = "/etc/qiyas/stick_key"\n'), board)
    assert isinstance(source, StickShellSource) and source.dialect == "lantiq"
    target = source.target
    assert (target.host, target.user, target.port) == ("192.168.1.10", "root", 22)
    assert source.target.identity == "/etc/qiyas/stick_key"


def test_the_omci_frame_timeout_of_a_board_does_not_shorten_the_ssh_commands() -> None:
    """A board's `[ont] timeout_s` is OMCI's per-frame wait (1 s on boards/openwrt-5g-cpe.toml);
    taken as the SSH command's limit it failed every login on a loaded router."""
    board = Board("stick", {"ont": {"source": "stick-shell", "host": "192.168.1.10",
                                    "dialect": "lantiq", "timeout_s": 1.0}})  # fmt: skip
    assert make(parse(CONFIG), board).target.timeout_s == 10.0
    config = parse(CONFIG + "[ont]\ncommand_timeout_s = 30\n")
    assert make(config, board).target.timeout_s == 30.0


@pytest.mark.parametrize(
    "ont,message",
    [
        ('source = "stick-shell"\nhost = "10.10.1.1"\n', "dialect must be one of lantiq, realtek"),
        ('source = "stick-shell"\ndialect = "lantiq"\n', 'needs host'),
        ('source = "stick-shell"\ndialect = "lantiq"\nhost = "-oProxyCommand=x"\n',
         "not a host name"),
        ('source = "stick-shell"\ndialect = "lantiq"\nhost = "h"\nport = "22"\n',
         "port must be an integer"),
        ('source = "stick-shell"\ndialect = "lantiq"\nhost = "h"\ncommand_timeout_s = 0.1\n',
         "timeout 0.1 s is not 1..120"),
    ],
)  # fmt: skip
def test_bad_stick_settings_name_the_key(ont: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make(parse(CONFIG + "[ont]\n" + ont), Board("stick", {}))
