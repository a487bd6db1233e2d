"""OMCI messages (G.988 clause 11.2) on the wire: encode, and decode with the trailer checked.

Baseline message (device identifier 0x0A): 40 bytes of header and contents, then a trailer:
  TCI(2) | DB,AR,AK,MT(1) | 0x0A | ME class(2) | ME instance(2) | contents(32) |
  CPCS-UU(1) | CPI(1) | SDU length(2)=40 | CRC-32 or MIC(4)
G-PON (G.984.3, I.363.5) ends it with the AAL5 CRC-32, XG(S)-PON (G.987.3, G.9807.1) with the MIC
in the same 4 bytes. What reaches us depends on the path: the full 48 bytes from an ONT's OMCC,
44 bytes (no CRC/MIC) from OLT adapters and BBSim, 40 bytes from tools that drop the trailer
(omci-lib-go's decoder accepts all three, omci.go decodeOMCI). CPCS-UU and CPI are not checked:
real ONTs put other values there (omci-lib-go mibupload_test.go, the ADTRAN 401 frame).
Extended message (device identifier 0x0B):
  TCI(2) | DB,AR,AK,MT(1) | 0x0B | ME class(2) | ME instance(2) | length(2) | contents | MIC(4)
again with the MIC absent on the adapter path. The MIC is AES-CMAC-32 (G.987.3 clause 14) keyed
with OMCI_IK over a direction byte (0x01 OLT→ONU, 0x02 ONU→OLT) and the message without its MIC.
A trailer that is present is always checked: a frame whose CRC or MIC does not verify is refused.

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
BASELINE_SIZES = (40, 44, 48)  # no trailer, SDU length only, full trailer
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


def encode(
    msg: Message,
    *,
    ik: bytes | None = None,
    upstream: bool = False,
    size: int = BASELINE_SIZE,
    mic_trailer: bool = False,
    with_mic: bool = True,
) -> bytes:
    """Bytes of one message. A baseline message is `size` (40, 44 or 48) bytes, its last four
    the CRC, or the MIC when `mic_trailer` (XG-PON); an extended one ends with its MIC unless
    `with_mic` is false (the adapter path). A MIC needs the integrity key."""
    if not msg.extended:
        if len(msg.contents) > BASELINE_CONTENTS:
            raise ValueError(f"baseline contents are at most 32 bytes, not {len(msg.contents)}")
        if size not in BASELINE_SIZES:
            raise ValueError(f"a baseline message is 40, 44 or 48 bytes, not {size}")
        raw = _header(msg, BASELINE) + msg.contents.ljust(BASELINE_CONTENTS, b"\x00") + _TRAILER
        if size < BASELINE_SIZE:
            return raw[:size]
        if mic_trailer:
            return raw + struct.pack("!I", mic(_need_ik(ik), upstream, raw))
        return raw + struct.pack("!I", crc32_aal5(raw))
    if len(msg.contents) > EXTENDED_MAX_CONTENTS:
        raise ValueError(f"extended contents are at most {EXTENDED_MAX_CONTENTS} bytes")
    raw = _header(msg, EXTENDED) + struct.pack("!H", len(msg.contents)) + msg.contents
    if not with_mic:
        return raw
    return raw + struct.pack("!I", mic(_need_ik(ik), upstream, raw))


def _need_ik(ik: bytes | None) -> bytes:
    if ik is None:
        raise ValueError("a MIC needs the OMCI integrity key")
    return ik


_TRAILER = bytes([0, 0, 0, 40])  # CPCS-UU 0, CPI 0, SDU length 40


def _baseline_body(data: bytes, ik: bytes | None, upstream: bool, padded: bool) -> bytes:
    """The 40 bytes of header and contents, once whatever trailer came with them checks."""
    size = len(data)
    if padded and 44 < size < BASELINE_SIZE:
        # Ethernet padded a 44-byte message to its 46-byte minimum payload; the SDU length says
        # where it ended. A 40-byte one padded looks like any truncated frame: refused below.
        if data[42:44] != b"\x00\x28" or any(data[44:]):
            raise FrameError(f"baseline message of {len(data)} bytes is neither 44 nor 48")
        size = 44
    if size not in BASELINE_SIZES:
        raise FrameError(f"baseline message is {len(data)} bytes, expected 40, 44 or 48")
    if size >= 44:
        sdu_length = int.from_bytes(data[42:44], "big")
        if sdu_length != 40:
            raise FrameError(f"baseline trailer says SDU length {sdu_length}, not 40")
    if size == BASELINE_SIZE:
        got, crc = int.from_bytes(data[44:48], "big"), crc32_aal5(data[:44])
        if got != crc and (ik is None or got != mic(ik, upstream, data[:44])):
            raise FrameError(
                f"baseline trailer {got:#010x} is neither the CRC ({crc:#010x})"
                + (" nor the MIC" if ik is not None else " (no key to check a MIC)")
            )
    return data[:40]


def _extended_body(data: bytes, ik: bytes | None, upstream: bool, padded: bool) -> bytes:
    if len(data) < EXTENDED_HEADER:
        raise FrameError(f"extended message truncated: {len(data)} bytes")
    length = int.from_bytes(data[8:10], "big")
    if length > EXTENDED_MAX_CONTENTS:
        raise FrameError(f"extended contents length {length} exceeds {EXTENDED_MAX_CONTENTS}")
    end = EXTENDED_HEADER + length
    if len(data) < end:
        raise FrameError(f"extended message truncated: {len(data)} of {end} bytes")
    rest = data[end:]
    if not rest:
        return data  # no MIC: the adapter path
    if padded and len(data) <= ETHERNET_MIN_PAYLOAD and not any(rest):
        return data[:end]  # Ethernet padding after a message without MIC
    if len(rest) < MIC_SIZE:
        raise FrameError(f"extended message has {len(rest)} bytes after its contents")
    if len(rest) > MIC_SIZE and not (
        padded and len(data) <= ETHERNET_MIN_PAYLOAD and not any(rest[MIC_SIZE:])
    ):
        raise FrameError(f"extended message has {len(rest) - MIC_SIZE} bytes after its MIC")
    if ik is None:
        raise FrameError("extended message received but no OMCI integrity key is set")
    got, expected = int.from_bytes(rest[:MIC_SIZE], "big"), mic(ik, upstream, data[:end])
    if got != expected:
        raise FrameError(f"extended MIC is {got:#010x}, computed {expected:#010x}")
    return data[:end]


def decode(
    data: bytes, *, ik: bytes | None = None, upstream: bool = True, padded: bool = False
) -> Message:
    """Parse and check one message. `upstream` is the direction it travelled (for the MIC);
    `padded` accepts the zero bytes Ethernet adds after a short message."""
    if len(data) < 4:
        raise FrameError(f"OMCI message truncated: {len(data)} bytes, less than a header")
    device = data[3]
    if device == BASELINE:
        body = _baseline_body(data, ik, upstream, padded)
        contents = body[8:40]
    elif device == EXTENDED:
        body = _extended_body(data, ik, upstream, padded)
        contents = body[EXTENDED_HEADER:]
    else:
        raise FrameError(f"device identifier {device:#04x} is neither 0x0a nor 0x0b")
    tci, mt_byte, _, me_class, me_instance = _HEADER.unpack_from(body)
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


def notification(
    mt: MT,
    me_class: int,
    me_instance: int,
    contents: bytes,
    tci: int = 0,
    *,
    extended: bool = False,
) -> Message:
    """ONU-originated: AVC and alarm carry TCI 0, a test result the TCI of its test."""
    return Message(tci, int(mt), False, False, me_class, me_instance, contents, extended)
