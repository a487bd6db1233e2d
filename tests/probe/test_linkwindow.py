"""The link window (docs/methodology.md §7) and the validity verdict (§4).

Radio snapshots come from real modem answers parsed by our Quectel dialect: the EG25-G LTE
serving-cell line published in openqti, and the NR SA and EN-DC answers of tests/core/
test_dialects.py (Quectel AT command manual, AT+QENG="servingcell"). Optical values are in the
shape the optical source records (record.cddl optical-values); their levels are illustrative.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent.core import radio
from agent.core.dialects import quectel
from agent.probe import linkwindow, validity

EG25_LTE = [
    '+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,-104,-9,-78,11,23'
]
NR_SA = [
    '+QENG: "servingcell","NOCONN","NR5G-SA","TDD",454,12,A07F03001,66,2F5E6,627264,78,12,'
    "-85,-11,15,1,-"
]
ENDC = [
    '+QENG: "servingcell","NOCONN"',
    '+QENG: "LTE","FDD",262,01,1A2D003,123,1300,3,5,5,2B5C,-95,-10,-65,14,-,-,-',
    '+QENG: "NR5G-NSA",262,01,345,-92,16,-9,627264,78,12,1',
]


def radio_values(lines: list[str]) -> dict[str, Any]:
    snapshot = radio.new_snapshot()
    quectel.parse_servingcell(snapshot, lines)
    return radio.record_values(snapshot)


def test_a_steady_link_has_no_change_and_a_valid_verdict() -> None:
    values = radio_values(EG25_LTE)
    before = linkwindow.snapshot(1000, values, None)
    after = linkwindow.snapshot(13000, copy.deepcopy(values), None)
    assert before["radio"] == {
        "tech": "LTE",
        "cell_id": 0x7676A09,
        "pci": 188,
        "rsrp_dbm": -104,
    }  # no SINR: this line's LTE SINR coding is not known for an unnamed model (not guessed)
    link, reasons = linkwindow.window(before, after, ("radio",))
    assert link["changes"] == [] and reasons == []
    assert validity.verdict(reasons) == {"verdict": "valid", "reasons": []}


def test_moving_from_lte_to_en_dc_is_a_handover_and_a_technology_change() -> None:
    before = linkwindow.snapshot(1000, radio_values(EG25_LTE), None)
    after = linkwindow.snapshot(13000, radio_values(ENDC), None)
    assert after["radio"]["tech"] == "NR5G-NSA" and after["radio"]["nr_pci"] == 345
    link, reasons = linkwindow.window(before, after, ("radio",))
    assert link["changes"] == ["handover", "tech-change"]
    assert validity.verdict(reasons) == {"verdict": "flagged", "reasons": ["link-change"]}


def test_sinr_falling_more_than_6_db_on_the_same_cell() -> None:
    values = radio_values(NR_SA)
    assert values["serving_cell"]["sinr_db"] == 15
    worse = copy.deepcopy(values)
    worse["serving_cell"]["sinr_db"] = 15 - 6.5
    same = copy.deepcopy(values)
    same["serving_cell"]["sinr_db"] = 15 - 6  # exactly 6 dB is within the rule
    before = linkwindow.snapshot(0, values, None)
    assert linkwindow.changes(before, linkwindow.snapshot(1, worse, None)) == ["sinr-drop"]
    assert linkwindow.changes(before, linkwindow.snapshot(1, same, None)) == []


def test_carrier_aggregation_change() -> None:
    values = radio_values(EG25_LTE)
    values["ca"] = [{"role": "pcc", "band": "B20", "pci": 188}]
    more = copy.deepcopy(values)
    more["ca"].append({"role": "scc", "band": "B3", "pci": 101})
    before, after = (linkwindow.snapshot(0, v, None) for v in (values, more))
    assert after["radio"]["ca"] == "B20/188 B3/101"
    assert linkwindow.changes(before, after) == ["ca-change"]


def test_a_new_ont_alarm_or_uncorrectable_codewords_flag_the_result() -> None:
    optical = {"rx_dbm": -27.9, "tx_dbm": 2.1, "ani_alarms": []}
    alarmed = {**optical, "ani_alarms": ["low_received_optical_power"]}
    burst = {**optical, "fec_uncorrectable_codewords": 12}
    before = linkwindow.snapshot(0, None, optical)
    assert linkwindow.changes(before, linkwindow.snapshot(1, None, alarmed)) == ["ont-alarm"]
    assert linkwindow.changes(before, linkwindow.snapshot(1, None, burst)) == ["fec-burst"]
    # An alarm standing before the test and still after is not a change during it.
    standing = linkwindow.snapshot(0, None, alarmed)
    assert linkwindow.changes(standing, linkwindow.snapshot(1, None, alarmed)) == []


def test_a_failed_poll_is_link_unknown_not_valid() -> None:
    before = linkwindow.snapshot(0, radio_values(EG25_LTE), None)
    after = linkwindow.snapshot(1, None, None)  # the modem did not answer after the test
    _, reasons = linkwindow.window(before, after, ("radio",))
    assert reasons == ["link-unknown"]
    assert validity.verdict(reasons)["verdict"] == "flagged"


def test_capacity_reasons_from_the_values() -> None:
    values = {
        "down_mbps": 90.0,
        "down_cv": 0.2,
        "down_steady": True,
        "down_test_line_bytes": 100_000_000,
        "cross_traffic_bytes_down": 6_000_000,
        "up_mbps": 20.0,
        "up_cv": 0.02,
        "up_steady": False,
        "up_test_line_bytes": 25_000_000,
        "up_server_cpu": 0.95,
    }
    reasons = validity.capacity_reasons(values)
    assert validity.verdict(reasons)["reasons"] == [
        "cross-traffic",  # 6 % of the download's own bytes
        "cross-traffic-unknown",  # the upload had no vantage
        "server-limited",
        "unstable",
        "not-steady",
    ]
    with pytest.raises(ValueError, match="unknown validity reasons"):
        validity.verdict(["slow"])
