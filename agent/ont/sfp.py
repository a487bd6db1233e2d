"""SFF-8472 digital diagnostics of an SFP (an SFP ONT stick, or any optical module), sans-IO.

The host reads the module's EEPROM with `ethtool -m IFACE raw on`: 256 bytes of page A0h (the
module's identity) then, when the module implements diagnostics, 256 bytes of page A2h.
Rev 12.4 of SFF-8472, the parts used here:
  A0h byte 92  diagnostic monitoring type: bit 6 implemented, bit 5 internally calibrated,
               bit 4 externally calibrated, bit 3 received power is average (else OMA)
  A0h 20..35 vendor name, 40..55 part number, 68..83 serial number (ASCII, space padded)
  A2h 0..39    alarm and warning thresholds: temperature, Vcc, bias, TX power, RX power, each as
               high alarm, low alarm, high warning, low warning (2 bytes, the units below)
  A2h 56..91   external calibration constants: RX power polynomial (5 IEEE-754 floats, 4..0),
               then slope (unsigned 8.8) and offset (signed 16) for bias, TX power, temperature,
               Vcc
  A2h 96..105  live values: temperature (signed, 1/256 °C), Vcc (100 µV), bias (2 µA),
               TX power (0.1 µW), RX power (0.1 µW)
Units and the calibration as ethtool applies them (sfpdiag.c, sff8472_dom_parse and
sff8472_calibration). A power of 0 µW has no dBm value: it is null, as ethtool prints "-inf".
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

from agent.core.errors import InvalidInput

A0_SIZE = 256
EEPROM_SIZE = 512
DIAG_TYPE = 92
DDM_IMPLEMENTED = 0x40
INTERNAL_CAL = 0x20
EXTERNAL_CAL = 0x10
RX_AVERAGE = 0x08

LIVE = 96  # A2h offset of the live values
CAL = 56  # A2h offset of the external calibration constants

# (quantity, A2h offset of the threshold block)
_THRESHOLDS = (("temperature_c", 0), ("voltage_v", 8), ("bias_ma", 16), ("tx", 24), ("rx", 32))
_THRESHOLD_KINDS = ("high_alarm", "low_alarm", "high_warning", "low_warning")


class EepromError(InvalidInput):
    """Bytes that are not an SFF-8472 EEPROM dump we can read; the text says what is wrong."""


def _dbm(microwatts: float) -> float | None:
    if not math.isfinite(microwatts) or microwatts <= 0:
        return None  # no light, below what the module measures, or a broken calibration
    return round(10 * math.log10(microwatts / 1000), 3)


def _text(raw: bytes) -> str | None:
    text = raw.rstrip(b" \x00")
    if not text or not all(32 <= b < 127 for b in text):
        return None
    return text.decode("ascii")


class _Calibration:
    """Internal calibration: the raw numbers are already in the units. External: each quantity
    has a slope and offset, RX power a 4th-degree polynomial (SFF-8472 9.3)."""

    def __init__(self, a2: bytes, external: bool) -> None:
        self.external = external
        if external:
            self.rx_poly: tuple[float, ...] = struct.unpack_from(">5f", a2, CAL)[::-1]  # (0) first
            # (slope, offset) for bias, tx, temperature, voltage, in that order at 76..91
            pairs: list[tuple[int, int]] = [
                struct.unpack_from(">Hh", a2, CAL + 20 + 4 * i) for i in range(4)
            ]
            self.linear = dict(zip(("bias", "tx", "temperature", "voltage"), pairs, strict=True))

    def linear_value(self, quantity: str, raw: int) -> float:
        if not self.external:
            return raw
        slope, offset = self.linear[quantity]
        return float(slope / 256 * raw + offset)

    def rx_value(self, raw: int) -> float:
        if not self.external:
            return raw
        return float(sum(c * raw**i for i, c in enumerate(self.rx_poly)))


def _quantity(cal: _Calibration, name: str, word: bytes) -> float | None:
    """One 2-byte diagnostic value in the record's unit."""
    if name == "temperature_c":
        raw = int.from_bytes(word, "big", signed=True)
        return round(cal.linear_value("temperature", raw) / 256, 3)  # linear: always finite
    raw = int.from_bytes(word, "big")
    if name == "voltage_v":
        return round(cal.linear_value("voltage", raw) * 1e-4, 4)
    if name == "bias_ma":
        return round(cal.linear_value("bias", raw) * 0.002, 3)
    if name == "tx":
        return _dbm(cal.linear_value("tx", raw) * 0.1)
    return _dbm(cal.rx_value(raw) * 0.1)


def decode(eeprom: bytes) -> dict[str, Any]:
    """The optical reading of a module: identity, live levels, thresholds.

    Raises EepromError for what is not a dump; a module without diagnostics gives its identity
    and null levels, with `diagnostics` saying why.
    """
    if len(eeprom) < A0_SIZE:
        raise EepromError(f"EEPROM dump is {len(eeprom)} bytes, less than page A0h (256)")
    a0 = eeprom[:A0_SIZE]
    reading: dict[str, Any] = {
        "vendor_name": _text(a0[20:36]),
        "part_number": _text(a0[40:56]),
        "serial_number": _text(a0[68:84]),
        "rx_dbm": None,
        "tx_dbm": None,
        "temperature_c": None,
        "bias_ma": None,
        "voltage_v": None,
        "thresholds": {},
    }
    diag = a0[DIAG_TYPE]
    if not diag & DDM_IMPLEMENTED:
        reading["diagnostics"] = f"not implemented (A0h byte 92 is {diag:#04x})"
        return reading
    if len(eeprom) < EEPROM_SIZE:
        raise EepromError(f"module has diagnostics but the dump is {len(eeprom)} bytes, not 512")
    if bool(diag & INTERNAL_CAL) == bool(diag & EXTERNAL_CAL):
        reading["diagnostics"] = f"calibration unknown (A0h byte 92 is {diag:#04x})"
        return reading
    a2 = eeprom[A0_SIZE:EEPROM_SIZE]
    cal = _Calibration(a2, external=bool(diag & EXTERNAL_CAL))
    reading["diagnostics"] = "external calibration" if cal.external else "internal calibration"
    reading["rx_power"] = "average" if diag & RX_AVERAGE else "OMA"
    for name, at in (("temperature_c", 0), ("voltage_v", 2), ("bias_ma", 4), ("tx", 6),
                     ("rx", 8)):  # fmt: skip
        key = {"tx": "tx_dbm", "rx": "rx_dbm"}.get(name, name)
        reading[key] = _quantity(cal, name, a2[LIVE + at : LIVE + at + 2])
    thresholds: dict[str, float | None] = {}
    for name, block in _THRESHOLDS:
        key = {"tx": "tx_dbm", "rx": "rx_dbm"}.get(name, name)
        for i, kind in enumerate(_THRESHOLD_KINDS):
            thresholds[f"{key}_{kind}"] = _quantity(
                cal, name, a2[block + 2 * i : block + 2 * i + 2]
            )
    reading["thresholds"] = thresholds
    # The record's thresholds: the module's alarm levels, as the ONT's own are for OMCI.
    reading["rx_low_threshold_dbm"] = thresholds["rx_dbm_low_alarm"]
    reading["rx_high_threshold_dbm"] = thresholds["rx_dbm_high_alarm"]
    reading["tx_low_threshold_dbm"] = thresholds["tx_dbm_low_alarm"]
    reading["tx_high_threshold_dbm"] = thresholds["tx_dbm_high_alarm"]
    return reading


_HEX_LINE = re.compile(r"^\s*0x([0-9a-fA-F]{4}):\s+((?:[0-9a-fA-F]{2}\s*){1,16})$")


def parse_hex_dump(text: str) -> bytes:
    """The bytes of an `ethtool -m IFACE hex on` listing (lines `0x0010:  08 03 00 …`)."""
    out = bytearray()
    for line in text.splitlines():
        m = _HEX_LINE.match(line)
        if m is None:
            continue
        offset = int(m.group(1), 16)
        if offset != len(out):
            raise EepromError(f"hex dump jumps to offset {offset:#06x} after {len(out):#06x}")
        out += bytes.fromhex(m.group(2))
        if len(out) > EEPROM_SIZE:
            raise EepromError(f"hex dump is longer than {EEPROM_SIZE} bytes")
    if not out:
        raise EepromError("no `0xOFFSET: bytes` lines: not an ethtool -m hex dump")
    return bytes(out)


def parse_dump(data: bytes) -> bytes:
    """A saved dump: `ethtool -m … raw on` bytes as they are, or the `hex on` listing."""
    if data.lstrip().startswith(b"Offset") or data.lstrip().startswith(b"0x0000:"):
        try:
            return parse_hex_dump(data.decode("ascii"))
        except UnicodeDecodeError:
            raise EepromError("hex dump is not ASCII text") from None
    if len(data) > EEPROM_SIZE:
        raise EepromError(f"raw dump is {len(data)} bytes, more than {EEPROM_SIZE}")
    return data


ETHTOOL_TIMEOUT_S = 5.0


async def read_module_eeprom(iface: str, *, ethtool: str = "ethtool") -> bytes:
    """The module EEPROM of `iface` as `ethtool -m IFACE raw on` gives it (root or CAP_NET_ADMIN
    on most drivers). Raises EepromError saying why it could not be read."""
    import asyncio

    if not iface or len(iface) > 15 or "/" in iface or iface.startswith("-"):
        raise EepromError(f"{iface!r} is not an interface name")
    try:
        proc = await asyncio.create_subprocess_exec(
            ethtool, "-m", iface, "raw", "on",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        raise EepromError(f"cannot run {ethtool}: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), ETHTOOL_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise EepromError(f"ethtool -m {iface} did not answer in {ETHTOOL_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        why = err.decode("utf-8", "replace").strip().splitlines()
        raise EepromError(f"ethtool -m {iface}: {why[-1] if why else f'exit {proc.returncode}'}")
    return parse_dump(out)
