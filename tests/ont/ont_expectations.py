"""What a poll of each emulator scenario must show, whatever carried it (wire, UDP, veth)."""

from __future__ import annotations

from typing import Any

from agent.ont import procedures


def check(name: str, reading: dict[str, Any]) -> None:
    assert reading["vendor_id"] == "QIYS"
    assert reading["serial_number"] == "QIYS0001A2B3"
    assert reading["equipment_id"] == "QY-ONT-100-EU"
    assert [s["version"] for s in reading["software"] if s["active"]] == ["V1.2.3"]
    assert reading["mib_data_sync"] == (0 if name == "rebooting" else 5)
    optical = reading["optical"]
    crossed = procedures.thresholds_crossed(optical)
    assert optical["rx_low_threshold_dbm"] == -28.0
    if name == "dirty-fibre":
        assert optical["rx_dbm"] == -29.5 and crossed == ["rx_low"]
        assert reading["fec"]["uncorrectable_code_words"] == 35
        assert reading["alarms"] == ["low_rx_power"]
    elif name == "laser-ageing":
        assert optical["bias_ma"] == 78.0 and crossed == ["tx_low"]
        assert reading["alarms"] == ["low_tx_power", "laser_bias_current"]
    else:
        assert reading["alarms"] == []
        assert optical["rx_dbm"] == -18.52 and crossed == []
        assert optical["temperature_c"] == 45.5 and optical["voltage_v"] == 3.3
        assert reading["fec"]["uncorrectable_code_words"] == 0


# Scenarios whose faults the client can only ride through by retransmitting.
RETRANSMITS = {"malformed", "bad-crc", "slow-omcc", "rebooting"}
# Scenarios that send the client frames it must drop.
DROPS = {"malformed", "bad-crc"}
