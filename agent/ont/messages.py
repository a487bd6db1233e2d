"""Contents of the OMCI message types we use (G.988 Annex A: A.2 baseline, A.3 extended).

Builders return the contents bytes of a request (frames.encode pads baseline ones to 32);
parsers take the contents of a response or notification and raise FrameError naming what is short.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
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
    """Select test, then the general-purpose buffer pointer and vendor-specific parameters (none):
    5 bytes, which an extended Test request carries as they are (G.988 A.3.27; omci-lib-go
    test.go OpticalLineSupervisionTestRequest)."""
    return bytes([SELF_TEST]) + bytes(4)


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
    optional_mask: int  # attributes the ONT does not support (result 9, else 0)
    execution_mask: int  # attributes that failed (result 9, else 0)


ATTRIBUTE_FAILURE = 9


def parse_get_response(msg: Message) -> GetResponse:
    """Get / Get current data response: baseline puts the values before the two failure masks,
    extended after them. The masks mean something only with result 9 (G.988 A.2.x Get response:
    "otherwise zero"); some XGS ONUs leave other bytes there, so they are ignored otherwise."""
    c = msg.contents
    if msg.extended:
        _need(c, 7, "Get response")
        result, values, masks_at = c[0], c[7:], 3
    else:
        _need(c, 32, "Get response")
        result, values, masks_at = c[0], c[3:28], 28
    if result != ATTRIBUTE_FAILURE:
        return GetResponse(result, _u16(c, 1), values, 0, 0)
    return GetResponse(result, _u16(c, 1), values, _u16(c, masks_at), _u16(c, masks_at + 2))


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


def parse_upload_next(msg: Message) -> list[UploadEntry]:
    """The entities one MIB upload next response reports: one in baseline; in extended, one or
    more, each as attribute-bytes length(2) | class(2) | instance(2) | mask(2) | values
    (G.988 A.3.14; omci-lib-go mibupload_test.go ...DecodeExtendedThreeMe)."""
    c = msg.contents
    if not msg.extended:
        _need(c, 6, "MIB upload next response")
        return [UploadEntry(_u16(c, 0), _u16(c, 2), _u16(c, 4), c[6:])]
    entries, at = [], 0
    while at < len(c):
        _need(c[at:], 8, "extended MIB upload next entry")
        size = _u16(c, at)
        _need(c[at + 8 :], size, "extended MIB upload next values")
        values = c[at + 8 : at + 8 + size]
        entries.append(UploadEntry(_u16(c, at + 2), _u16(c, at + 4), _u16(c, at + 6), values))
        at += 8 + size
    if not entries:
        raise FrameError("extended MIB upload next response reports no entity")
    return entries


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
    """Bitmap, then the sequence number: the last of 32 contents bytes in baseline, right after
    the bitmap in extended (omci-lib-go alarms_test.go TestExtendedAlarmNotificationDecode)."""
    c = msg.contents
    at = ALARM_BITMAP if msg.extended else 31
    _need(c, at + 1, "Alarm notification")
    return Alarm(msg.me_class, msg.me_instance, _alarm_numbers(c[:ALARM_BITMAP]), c[at])


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


# Test result for an ANI-G self test (G.988 A.2.27, optical line supervision): five fixed slots of
# (type, 2-byte value), then the general-purpose buffer pointer. Type 0 says "not supported" for
# that slot alone. Units as voltha-openonu-adapter-go converts them
# (internal/pkg/omcitst/omci_self_test_handler.go, handleOmciTestResult): voltage 20 mV signed;
# optical powers in dBµW, 0.002 dB signed, minus 30 for dBm; bias 2 µA unsigned; 1/256 °C signed.
# slot → (type, field, signed, to the record's unit)
_TEST_SLOTS: tuple[tuple[int, str, bool, Callable[[int], float]], ...] = (
    (1, "voltage_v", True, lambda raw: raw * 0.02),
    (3, "rx_dbm", True, lambda raw: raw * 0.002 - 30),
    (5, "tx_dbm", True, lambda raw: raw * 0.002 - 30),
    (9, "bias_ma", False, lambda raw: raw * 0.002),
    (12, "temperature_c", True, lambda raw: raw / 256),
)
TEST_RESULT_SIZE = 3 * len(_TEST_SLOTS) + 2


def parse_test_result(msg: Message) -> OpticalTest:
    """A slot of type 0 (not supported) or of a type other than its own is null; the rest stand."""
    c = msg.contents
    _need(c, TEST_RESULT_SIZE, "ANI-G test result")
    found: dict[str, float | None] = {}
    for slot, (kind, field, signed, convert) in enumerate(_TEST_SLOTS):
        at = 3 * slot
        if c[at] == kind:
            raw = int.from_bytes(c[at + 1 : at + 3], "big", signed=signed)
            found[field] = round(convert(raw), 3)
    return OpticalTest(**{f: found.get(f) for f in OpticalTest._fields})
