"""Contents of the OMCI message types we use (G.988 Annex A: A.2 baseline, A.3 extended).

Builders return the contents bytes of a request (frames.encode pads baseline ones to 32);
parsers take the contents of a response or notification and raise FrameError naming what is short.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from agent.ont.frames import FrameError, Message

GET_VALUES_BASELINE = 25  # attribute bytes in a baseline Get response
UPLOAD_VALUES_BASELINE = 26  # attribute bytes in a baseline MIB upload next response
AVC_VALUES_BASELINE = 30
ALARM_BITMAP = 28
SELF_TEST = 0x07  # Test, "select test" for ONU-G / ANI-G / circuit pack: 7 = self test


def _need(contents: bytes, size: int, what: str) -> None:
    if len(contents) < size:
        raise FrameError(f"{what}: contents are {len(contents)} bytes, need {size}")


def _u16(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 2], "big")


# --- requests -----------------------------------------------------------------------------------


def get(mask: int) -> bytes:
    """Get and Get current data: the attribute mask."""
    return struct.pack("!H", mask)


def sequence(number: int) -> bytes:
    """MIB upload next and Get all alarms next: the command sequence number."""
    return struct.pack("!H", number)


def get_all_alarms(only_not_under_arc: bool = False) -> bytes:
    return bytes([int(only_not_under_arc)])


def self_test() -> bytes:
    return bytes([SELF_TEST])


def synchronize_time(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bytes:
    return struct.pack("!HBBBBB", year, month, day, hour, minute, second)


def reboot(flag: int = 0) -> bytes:
    """Reboot flag 0: reboot the ONU unconditionally. Sent only when a technician asks."""
    return bytes([flag])


# --- responses and notifications ----------------------------------------------------------------


class GetResponse(NamedTuple):
    result: int
    mask: int
    values: bytes
    optional_mask: int  # attributes the ONT does not support (result 9)
    execution_mask: int  # attributes that failed (result 9)


def parse_get_response(msg: Message) -> GetResponse:
    """Get / Get current data response: baseline puts the values before the two failure masks,
    extended after them."""
    c = msg.contents
    if msg.extended:
        _need(c, 7, "Get response")
        return GetResponse(c[0], _u16(c, 1), c[7:], _u16(c, 3), _u16(c, 5))
    _need(c, 32, "Get response")
    return GetResponse(c[0], _u16(c, 1), c[3:28], _u16(c, 28), _u16(c, 30))


def build_get_response(
    result: int, mask: int, values: bytes, optional: int = 0, failed: int = 0, *, extended: bool
) -> bytes:
    if extended:
        return struct.pack("!BHHH", result, mask, optional, failed) + values
    if len(values) > GET_VALUES_BASELINE:
        raise ValueError(f"{len(values)} attribute bytes do not fit a baseline Get response")
    return (
        struct.pack("!BH", result, mask)
        + values.ljust(25, b"\x00")
        + struct.pack("!HH", optional, failed)
    )


def parse_count(msg: Message) -> int:
    """MIB upload / Get all alarms response: how many 'next' commands to send."""
    _need(msg.contents, 2, "upload response")
    return _u16(msg.contents, 0)


class UploadEntry(NamedTuple):
    me_class: int
    me_instance: int
    mask: int
    values: bytes


def parse_upload_next(msg: Message) -> UploadEntry:
    c = msg.contents
    _need(c, 6, "MIB upload next response")
    return UploadEntry(_u16(c, 0), _u16(c, 2), _u16(c, 4), c[6:])


def build_upload_next(entry: UploadEntry) -> bytes:
    if len(entry.values) > UPLOAD_VALUES_BASELINE:
        raise ValueError(f"{len(entry.values)} attribute bytes do not fit a MIB upload next")
    return struct.pack("!HHH", entry.me_class, entry.me_instance, entry.mask) + entry.values


class AlarmEntry(NamedTuple):
    me_class: int
    me_instance: int
    alarms: list[int]  # alarm numbers 0..223 that are set


def _alarm_numbers(bitmap: bytes) -> list[int]:
    # Alarm number 0 is the most significant bit of the first byte.
    return [i for i in range(len(bitmap) * 8) if bitmap[i // 8] & (0x80 >> (i % 8))]


def alarm_bitmap(numbers: list[int]) -> bytes:
    bitmap = bytearray(ALARM_BITMAP)
    for n in numbers:
        bitmap[n // 8] |= 0x80 >> (n % 8)
    return bytes(bitmap)


def parse_alarms_next(msg: Message) -> AlarmEntry:
    c = msg.contents
    _need(c, 4 + ALARM_BITMAP, "Get all alarms next response")
    return AlarmEntry(_u16(c, 0), _u16(c, 2), _alarm_numbers(c[4 : 4 + ALARM_BITMAP]))


class Alarm(NamedTuple):
    me_class: int
    me_instance: int
    alarms: list[int]
    sequence: int  # alarm sequence number, 1..255, lets the OLT notice lost alarms


def parse_alarm(msg: Message) -> Alarm:
    c = msg.contents
    _need(c, 32, "Alarm notification")
    return Alarm(msg.me_class, msg.me_instance, _alarm_numbers(c[:ALARM_BITMAP]), c[31])


class Avc(NamedTuple):
    me_class: int
    me_instance: int
    mask: int
    values: bytes


def parse_avc(msg: Message) -> Avc:
    c = msg.contents
    _need(c, 2, "AVC notification")
    return Avc(msg.me_class, msg.me_instance, _u16(c, 0), c[2:])


class OpticalTest(NamedTuple):
    """ANI-G self-test result, in the units the record uses; None where the ONT did not say."""

    voltage_v: float | None
    rx_dbm: float | None
    tx_dbm: float | None
    bias_ma: float | None
    temperature_c: float | None


# Test result for ONU-G / ANI-G self test: a sequence of (type byte, 2-byte value), G.988 A.2.28.
# type → (field, scale, signed)
_TEST_TYPES = {
    1: ("voltage_v", 0.02, True),  # power feed voltage, 20 mV
    3: ("rx_dbm", 0.002, True),  # received optical power, 0.002 dB
    5: ("tx_dbm", 0.002, True),  # mean optical launch power, 0.002 dB
    9: ("bias_ma", 0.002, False),  # laser bias current, 2 µA
    12: ("temperature_c", 1 / 256, True),  # temperature, 1/256 °C
}


def parse_test_result(msg: Message) -> OpticalTest:
    found: dict[str, float] = {}
    c = msg.contents
    for at in range(0, len(c) - 2, 3):
        kind = c[at]
        if kind == 0:
            break  # the rest is padding
        if kind in _TEST_TYPES:
            field, scale, signed = _TEST_TYPES[kind]
            found[field] = round(
                int.from_bytes(c[at + 1 : at + 3], "big", signed=signed) * scale, 3
            )
    return OpticalTest(**{f: found.get(f) for f in OpticalTest._fields})


def build_test_result(result: OpticalTest) -> bytes:
    out = b""
    for kind, (field, scale, signed) in _TEST_TYPES.items():
        value = getattr(result, field)
        if value is not None:
            out += bytes([kind]) + round(value / scale).to_bytes(2, "big", signed=signed)
    return out
