"""OMCI messages (G.988 clause 11.2) on the wire: encode, and decode with the trailer checked.

Baseline message (device identifier 0x0A), always 48 bytes:
  TCI(2) | DB,AR,AK,MT(1) | 0x0A | ME class(2) | ME instance(2) | contents(32) |
  CPCS-UU(1)=0 | CPI(1)=0 | SDU length(2)=40 | CRC-32(4)      (the G-PON trailer, G.984.3 / I.363.5)
Extended message (device identifier 0x0B):
  TCI(2) | DB,AR,AK,MT(1) | 0x0B | ME class(2) | ME instance(2) | length(2) | contents | MIC(4)
The MIC is AES-CMAC-32 (G.987.3 clause 14) keyed with OMCI_IK over a direction byte (0x01 OLT→ONU,
0x02 ONU→OLT) and the message without its MIC.

The same layout is declared as scapy packets in layers.py, which pcap capture and analysis use.
This codec does not import scapy: importing any of scapy loads its MAC-vendor and services tables,
about 25 MiB more resident memory (tests/bench/bench_ont.py), too much for the agent's periodic
poll on a household device. Tests check that both read and build frames alike.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.cmac import CMAC

from agent.core.errors import InvalidInput

BASELINE = 0x0A
EXTENDED = 0x0B
BASELINE_SIZE = 48
BASELINE_CONTENTS = 32
EXTENDED_HEADER = 10
EXTENDED_MAX_CONTENTS = 1966  # G.988 11.2.1: an extended message is at most 1980 bytes
MIC_SIZE = 4
ETHERNET_MIN_PAYLOAD = 46  # a shorter extended message arrives padded with zeros


class MT(IntEnum):
    """Message type (action) numbers, G.988 Table 11.2.2-1."""

    CREATE = 4
    DELETE = 6
    SET = 8
    GET = 9
    GET_ALL_ALARMS = 11
    GET_ALL_ALARMS_NEXT = 12
    MIB_UPLOAD = 13
    MIB_UPLOAD_NEXT = 14
    MIB_RESET = 15
    ALARM = 16
    AVC = 17
    TEST = 18
    SYNCHRONIZE_TIME = 24
    REBOOT = 25
    GET_NEXT = 26
    TEST_RESULT = 27
    GET_CURRENT_DATA = 28


class Result(IntEnum):
    """Result, reason codes of responses, G.988 11.2.4."""

    SUCCESS = 0
    PROCESSING_ERROR = 1
    NOT_SUPPORTED = 2
    PARAMETER_ERROR = 3
    UNKNOWN_ME = 4
    UNKNOWN_INSTANCE = 5
    DEVICE_BUSY = 6
    INSTANCE_EXISTS = 7
    ATTRIBUTE_FAILURE = 9


class FrameError(InvalidInput):
    """Bytes that are not a valid OMCI message; the text says what was wrong."""


class Message(NamedTuple):
    """A decoded OMCI message: header fields and the raw contents, trailer already checked."""

    tci: int
    mt: int
    ar: bool
    ak: bool
    me_class: int
    me_instance: int
    contents: bytes
    extended: bool = False

    @property
    def is_notification(self) -> bool:
        """ONU-originated and not answering anything (AVC, alarm, test result)."""
        return not self.ar and not self.ak


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        c = byte << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc32_aal5(data: bytes) -> int:
    """The AAL5 CRC-32 (I.363.5): polynomial 0x04C11DB7, MSB first, preset and inverted."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ b]
    return crc ^ 0xFFFFFFFF


# ASCII "OMCIINTEGRITYKEY": G.987.3 derives OMCI_IK = AES-CMAC(SK, this, 128).
_IK_LABEL = bytes.fromhex("4F4D4349494E544547524954594B4559")
LAB_SESSION_KEY = bytes(16)  # the emulator's and the default agent's session key (lab use only)


def _cmac(key: bytes, data: bytes) -> bytes:
    c = CMAC(AES(key))
    c.update(data)
    return c.finalize()


def integrity_key(session_key: bytes = LAB_SESSION_KEY) -> bytes:
    if len(session_key) != 16:
        raise ValueError("the OMCI session key is 16 bytes")
    return _cmac(session_key, _IK_LABEL)


def mic(ik: bytes, upstream: bool, message: bytes) -> int:
    """AES-CMAC-32 over the direction byte and the message without its MIC."""
    value: int = struct.unpack("!I", _cmac(ik, bytes([2 if upstream else 1]) + message)[:4])[0]
    return value


_HEADER = struct.Struct("!HBBHH")


def _header(msg: Message, device: int) -> bytes:
    mt_byte = (0x40 if msg.ar else 0) | (0x20 if msg.ak else 0) | (msg.mt & 0x1F)
    return _HEADER.pack(msg.tci, mt_byte, device, msg.me_class, msg.me_instance)


def encode(msg: Message, *, ik: bytes | None = None, upstream: bool = False) -> bytes:
    """Bytes of one message; an extended message needs the integrity key for its MIC."""
    if not msg.extended:
        if len(msg.contents) > BASELINE_CONTENTS:
            raise ValueError(f"baseline contents are at most 32 bytes, not {len(msg.contents)}")
        raw = _header(msg, BASELINE) + msg.contents.ljust(BASELINE_CONTENTS, b"\x00") + _TRAILER
        return raw + struct.pack("!I", crc32_aal5(raw))
    if len(msg.contents) > EXTENDED_MAX_CONTENTS:
        raise ValueError(f"extended contents are at most {EXTENDED_MAX_CONTENTS} bytes")
    if ik is None:
        raise ValueError("an extended message needs the OMCI integrity key")
    raw = _header(msg, EXTENDED) + struct.pack("!H", len(msg.contents)) + msg.contents
    return raw + struct.pack("!I", mic(ik, upstream, raw))


_TRAILER = bytes([0, 0, 0, 40])  # CPCS-UU 0, CPI 0, SDU length 40


def decode(
    data: bytes, *, ik: bytes | None = None, upstream: bool = True, padded: bool = False
) -> Message:
    """Parse and check one message. `upstream` is the direction it travelled (for the MIC);
    `padded` accepts the zero bytes Ethernet adds after a short extended message."""
    if len(data) < 4:
        raise FrameError(f"OMCI message truncated: {len(data)} bytes, less than a header")
    device = data[3]
    if device == BASELINE:
        if len(data) != BASELINE_SIZE:
            raise FrameError(f"baseline message is {len(data)} bytes, expected 48")
        if data[40:44] != _TRAILER:
            raise FrameError(
                "baseline trailer is not CPCS-UU 0, CPI 0, length 40: "
                f"{data[40]}, {data[41]}, {int.from_bytes(data[42:44], 'big')}"
            )
        crc, expected = int.from_bytes(data[44:48], "big"), crc32_aal5(data[:44])
        if crc != expected:
            raise FrameError(f"baseline CRC is {crc:#010x}, computed {expected:#010x}")
        contents = data[8:40]
    elif device == EXTENDED:
        if len(data) < EXTENDED_HEADER + MIC_SIZE:
            raise FrameError(f"extended message truncated: {len(data)} bytes")
        length = int.from_bytes(data[8:10], "big")
        if length > EXTENDED_MAX_CONTENTS:
            raise FrameError(f"extended contents length {length} exceeds {EXTENDED_MAX_CONTENTS}")
        size = EXTENDED_HEADER + length + MIC_SIZE
        if len(data) < size:
            raise FrameError(f"extended message truncated: {len(data)} of {size} bytes")
        if len(data) > size:
            padding_ok = padded and len(data) <= ETHERNET_MIN_PAYLOAD and not any(data[size:])
            if not padding_ok:
                raise FrameError(f"extended message has {len(data) - size} bytes after its MIC")
            data = data[:size]
        if ik is None:
            raise FrameError("extended message received but no OMCI integrity key is set")
        got, expected = int.from_bytes(data[-MIC_SIZE:], "big"), mic(ik, upstream, data[:-MIC_SIZE])
        if got != expected:
            raise FrameError(f"extended MIC is {got:#010x}, computed {expected:#010x}")
        contents = data[EXTENDED_HEADER:-MIC_SIZE]
    else:
        raise FrameError(f"device identifier {device:#04x} is neither 0x0a nor 0x0b")
    tci, mt_byte, _, me_class, me_instance = _HEADER.unpack_from(data)
    # The top bit (DB) is reserved; like AR and AK it is not part of the message type number.
    return Message(
        tci=tci,
        mt=mt_byte & 0x1F,
        ar=bool(mt_byte & 0x40),
        ak=bool(mt_byte & 0x20),
        me_class=me_class,
        me_instance=me_instance,
        contents=bytes(contents),
        extended=device == EXTENDED,
    )


def request(
    tci: int,
    mt: MT,
    me_class: int,
    me_instance: int,
    contents: bytes = b"",
    *,
    extended: bool = False,
) -> Message:
    """An OLT→ONU message that asks for a response (AR set)."""
    return Message(tci, int(mt), True, False, me_class, me_instance, contents, extended)


def response(req: Message, contents: bytes) -> Message:
    """The ONU's answer to `req`: same TCI, ME and format, AK set."""
    return Message(
        req.tci, req.mt, False, True, req.me_class, req.me_instance, contents, req.extended
    )


def notification(mt: MT, me_class: int, me_instance: int, contents: bytes, tci: int = 0) -> Message:
    """ONU-originated: AVC and alarm carry TCI 0, a test result the TCI of its test."""
    return Message(tci, int(mt), False, False, me_class, me_instance, contents, False)
