"""The `optical` source for an SFP ONT stick or optical module: its SFF-8472 diagnostics.

Board profile or agent config: `[ont] source = "sfp"`, `iface = "eth1"` (the port the stick is
plugged into). Each measurement reads the module EEPROM once (`ethtool -m IFACE raw on`).
"""

from __future__ import annotations

from typing import Any

from agent.ont import procedures, sfp
from agent.sources import LinkState, Measurement

LEVEL_KEYS = ("rx_dbm", "tx_dbm", "temperature_c", "bias_ma", "voltage_v")


def record_values(reading: dict[str, Any]) -> dict[str, Any]:
    """What of a decoded module goes into the `optical` record (no serial number: it identifies
    the subscriber's stick)."""
    keys = (*LEVEL_KEYS, "rx_low_threshold_dbm", "rx_high_threshold_dbm",
            "tx_low_threshold_dbm", "tx_high_threshold_dbm")  # fmt: skip
    values: dict[str, Any] = {k: reading[k] for k in keys if reading.get(k) is not None}
    values["thresholds_crossed"] = procedures.thresholds_crossed(reading)
    values["optical_source"] = "sfp"
    for key, name in (("vendor_name", "vendor_id"), ("part_number", "equipment_id")):
        if reading.get(key):
            values[name] = reading[key]
    return values


class SfpSource:
    def __init__(self, iface: str) -> None:
        self.iface = iface

    async def measure(self, link: LinkState) -> list[Measurement]:
        try:
            reading = sfp.decode(await sfp.read_module_eeprom(self.iface))
        except sfp.EepromError:
            link.optical = None  # an old level must not pass for the current one
            raise
        link.optical = {k: reading[k] for k in LEVEL_KEYS if reading.get(k) is not None} or None
        return [Measurement("optical", record_values(reading))]

    async def aclose(self) -> None:
        return None
