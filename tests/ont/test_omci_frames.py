"""OMCI messages against bytes worked out by hand from G.988 (not produced by our encoder).

Each frame is written as its 40 header+contents bytes; the baseline trailer (CPCS-UU 0, CPI 0,
SDU length 0x0028, CRC-32) is appended by `baseline()` with a CRC computed by an independent
reference: zlib's reflected CRC-32 applied to bit-reversed bytes equals the AAL5 (MSB-first) CRC.
Message type byte = DB(0x80) | AR(0x40) | AK(0x20) | action number (G.988 Table 11.2.2-1).
Both the agent's codec (frames) and the scapy layers (layers) must read and build them.
"""

from __future__ import annotations

import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.cmac import CMAC
from scapy.layers.l2 import Ether

from agent.ont import frames, messages
from agent.ont.frames import MT, FrameError, Message
from agent.ont.layers import OmciBaseline, OmciExtended
from hil.ont.emulator import self_test_result


def _rev8(b: int) -> int:
    return int(f"{b:08b}"[::-1], 2)


def reference_crc(data: bytes) -> int:
    reflected = zlib.crc32(bytes(_rev8(b) for b in data))
    return int(f"{reflected:032b}"[::-1], 2)


def baseline(hexbody: str) -> bytes:
    body = bytes.fromhex(hexbody.replace(" ", ""))
    assert len(body) == 40, f"hand-written body is {len(body)} bytes"
    body += bytes.fromhex("00 00 00 28")
    return body + reference_crc(body).to_bytes(4, "big")


def z(n: int) -> str:
    return "00" * n


def test_crc_is_the_aal5_crc32() -> None:
    # The CRC-32/BZIP2 (= AAL5) check value of "123456789" is 0xFC891918.
    assert reference_crc(b"123456789") == 0xFC891918
    assert frames.crc32_aal5(b"123456789") == 0xFC891918


# (name, frame bytes, the Message it is). Contents are the 32 bytes after the 8-byte header.
HAND_FRAMES = [
    (
        "Get ONU-G vendor id + version",
        # TCI 0001 | MT 49 = AR + Get(9) | dev 0A | class 0100 (256) | inst 0000
        # mask C000: attribute 1 is bit 0x8000, attribute 2 0x4000
        baseline("0001 49 0A 0100 0000 C000" + z(30)),
        frames.request(1, MT.GET, 256, 0, bytes.fromhex("C000")),
    ),
    (
        "Get response ONU-G",
        # MT 29 = AK + Get(9) | result 00 | mask C000 | "QIYS" 51495953
        # | "QY-ONT-100" 51592D4F4E542D313030 + 4 zero bytes (14-byte field)
        # | 7 zero bytes to fill the 25 value bytes | optional mask 0000 | execution mask 0000
        baseline(
            "0001 29 0A 0100 0000 00 C000 51495953 51592D4F4E542D313030 00000000"
            + z(7)
            + "0000 0000"
        ),
        Message(
            1,
            9,
            False,
            True,
            256,
            0,
            bytes.fromhex("00C00051495953 51592D4F4E542D313030 00000000" + z(7) + "00000000"),
        ),
    ),
    (
        "MIB upload",
        # TCI 0002 | MT 4D = AR + MIB upload(13) | ONU data class 0002, instance 0
        baseline("0002 4D 0A 0002 0000" + z(32)),
        frames.request(2, MT.MIB_UPLOAD, 2, 0),
    ),
    (
        "MIB upload response",
        # MT 2D = AK + 13 | 000A: ten MIB upload next commands follow
        baseline("0002 2D 0A 0002 0000 000A" + z(30)),
        Message(2, 13, False, True, 2, 0, bytes.fromhex("000A") + bytes(30)),
    ),
    (
        "MIB upload next",
        # TCI 0003 | MT 4E = AR + 14 | command sequence number 0003
        baseline("0003 4E 0A 0002 0000 0003" + z(30)),
        frames.request(3, MT.MIB_UPLOAD_NEXT, 2, 0, bytes.fromhex("0003")),
    ),
    (
        "MIB upload next response ANI-G",
        # MT 2E | class 0107 (263) | inst 8001 | mask 0070 = attributes 10, 11, 12
        # (attribute n is bit 1 << (16 - n): 0x40, 0x20, 0x10)
        # | optical signal level -18.52 dBm = -9260 * 0.002 → 2s complement 0xDBD4
        # | lower threshold -28 dBm = 56 * -0.5 → 38 | upper -8 dBm = 16 * -0.5 → 10
        baseline("0003 2E 0A 0002 0000 0107 8001 0070 DBD4 38 10" + z(22)),
        Message(3, 14, False, True, 2, 0, bytes.fromhex("01078001 0070 DBD43810") + bytes(22)),
    ),
    (
        "Get all alarms",
        # MT 4B = AR + 11 | retrieval mode 00 = all alarms, whatever their ARC
        baseline("0004 4B 0A 0002 0000 00" + z(31)),
        frames.request(4, MT.GET_ALL_ALARMS, 2, 0, b"\x00"),
    ),
    (
        "Get all alarms next response",
        # MT 2C = AK + 12 | class 0107 | inst 8001 | bitmap: alarm 0 (low rx power) = MSB → 80
        baseline("0005 2C 0A 0002 0000 0107 8001 80" + z(27)),
        Message(5, 12, False, True, 2, 0, bytes.fromhex("0107800180") + bytes(27)),
    ),
    (
        "Alarm notification",
        # TCI 0000 (ONU-originated) | MT 10 = Alarm(16), neither AR nor AK | ANI-G 0107 8001
        # | bitmap: alarms 4 (0x80 >> 4 = 08) and 6 (0x80 >> 6 = 02) → 0A | 27 bytes | 3 zero
        # | alarm sequence number 05
        baseline("0000 10 0A 0107 8001 0A" + z(27) + "000000 05"),
        Message(0, 16, False, False, 263, 0x8001, bytes.fromhex("0A") + bytes(30) + b"\x05"),
    ),
    (
        "AVC notification",
        # MT 11 = AVC(17) | mask 0040 = attribute 10 | value DBD4 (-18.52 dBm)
        baseline("0000 11 0A 0107 8001 0040 DBD4" + z(28)),
        Message(0, 17, False, False, 263, 0x8001, bytes.fromhex("0040DBD4") + bytes(28)),
    ),
    (
        "Test ANI-G",
        # TCI 0010 | MT 52 = AR + Test(18) | select test 07 = self test
        baseline("0010 52 0A 0107 8001 07" + z(31)),
        frames.request(0x10, MT.TEST, 263, 0x8001, b"\x07"),
    ),
    (
        "Test result ANI-G",
        # MT 1B = Test result(27), TCI of the test | type 01 voltage 3.3 V / 20 mV = 165 = 00A5
        # | 03 rx in dBµW: -18.52 dBm + 30 = 11.48 / 0.002 = 5740 = 166C
        # | 05 tx 2.34 dBm + 30 = 32.34 / 0.002 = 16170 = 3F2A
        # | 09 bias 12.5 mA / 2 µA = 6250 = 186A | 0C temperature 45.5 °C * 256 = 11648 = 2D80
        # | general-purpose buffer pointer 0000
        baseline("0010 1B 0A 0107 8001 01 00A5 03 166C 05 3F2A 09 186A 0C 2D80 0000" + z(15)),
        Message(
            0x10,
            27,
            False,
            False,
            263,
            0x8001,
            bytes.fromhex("0100A503166C053F2A 09186A0C2D80 0000") + bytes(15),
        ),
    ),
    (
        "Get current data FEC PM",
        # MT 5C = AR + Get current data(28) | class 0138 (312) | mask 3800 = attributes 3, 4, 5
        baseline("0011 5C 0A 0138 8001 3800" + z(30)),
        frames.request(0x11, MT.GET_CURRENT_DATA, 312, 0x8001, bytes.fromhex("3800")),
    ),
    (
        "Synchronize time",
        # MT 58 = AR + 24 | ONU-G | 2026 = 07EA, 11 = 0B, 29 = 1D, 06:40:00 = 06 28 00
        baseline("0012 58 0A 0100 0000 07EA 0B 1D 06 28 00" + z(25)),
        frames.request(0x12, MT.SYNCHRONIZE_TIME, 256, 0, bytes.fromhex("07EA0B1D062800")),
    ),
    (
        "Reboot",
        # MT 59 = AR + 25 | ONU-G | reboot flag 00 = unconditionally
        baseline("0013 59 0A 0100 0000 00" + z(31)),
        frames.request(0x13, MT.REBOOT, 256, 0, b"\x00"),
    ),
]


def _padded(msg: Message) -> Message:
    return msg._replace(contents=msg.contents.ljust(32, b"\x00"))


@pytest.mark.parametrize("name,wire,msg", HAND_FRAMES, ids=[h[0] for h in HAND_FRAMES])
def test_baseline_frames_match_hand_encoding(name: str, wire: bytes, msg: Message) -> None:
    assert frames.encode(msg) == wire
    assert frames.decode(wire) == _padded(msg)


def test_content_parsers_read_hand_frames() -> None:
    by_name = {name: frames.decode(wire) for name, wire, _ in HAND_FRAMES}
    r = messages.parse_get_response(by_name["Get response ONU-G"])
    assert (r.result, r.mask, r.values[:4], r.optional_mask) == (0, 0xC000, b"QIYS", 0)
    assert messages.parse_count(by_name["MIB upload response"]) == 10
    [entry] = messages.parse_upload_next(by_name["MIB upload next response ANI-G"])
    assert (entry.me_class, entry.me_instance, entry.mask) == (263, 0x8001, 0x0070)
    assert messages.parse_alarms_next(by_name["Get all alarms next response"]).alarms == [0]
    alarm = messages.parse_alarm(by_name["Alarm notification"])
    assert (alarm.alarms, alarm.sequence) == ([4, 6], 5)
    avc = messages.parse_avc(by_name["AVC notification"])
    assert (avc.mask, avc.values[:2]) == (0x0040, b"\xdb\xd4")
    test = messages.parse_test_result(by_name["Test result ANI-G"])
    assert test == messages.OpticalTest(3.3, -18.52, 2.34, 12.5, 45.5)


def test_builders_give_hand_contents() -> None:
    assert messages.get(0xC000) == bytes.fromhex("C000")
    assert messages.sequence(3) == bytes.fromhex("0003")
    assert messages.self_test() == b"\x07" + bytes(4)
    assert messages.reboot() == b"\x00"
    assert messages.get_all_alarms() == b"\x00"
    assert messages.synchronize_time(2026, 11, 29, 6, 40, 0) == bytes.fromhex("07EA0B1D062800")
    assert messages.alarm_bitmap([4, 6])[:1] == b"\x0a"
    test = {"voltage_v": 3.3, "rx_dbm": -18.52, "tx_dbm": 2.34, "bias_ma": 12.5,
            "temperature_c": 45.5}  # fmt: skip
    assert self_test_result(test) == bytes.fromhex("0100A503166C053F2A 09186A0C2D80 0000")


def _cmac32(key: bytes, data: bytes) -> bytes:
    c = CMAC(AES(key))
    c.update(data)
    return c.finalize()[:4]


def test_extended_get_and_response_with_mic() -> None:
    ik = bytes(range(16))
    # TCI 0002 | MT 49 | dev 0B | ONU2-G 0101 0000 | length 0002 | mask 8000 (equipment id)
    head = bytes.fromhex("0002 49 0B 0101 0000 0002 8000")
    # MIC: AES-CMAC(IK, 0x01 (downstream) || message)[:4] (G.987.3 clause 14)
    wire = head + _cmac32(ik, b"\x01" + head)
    req = frames.request(2, MT.GET, 257, 0, bytes.fromhex("8000"), extended=True)
    assert frames.encode(req, ik=ik, upstream=False) == wire
    assert frames.decode(wire, ik=ik, upstream=False) == req
    # the same bytes read as if they came upstream fail: the direction is part of the MIC
    with pytest.raises(FrameError, match="MIC"):
        frames.decode(wire, ik=ik, upstream=True)

    # Get response, extended layout: result | mask | optional mask | execution mask | values
    # length = 1 + 2 + 2 + 2 + 20 = 27 = 0x001B; "QY-ONT-100-EU" is 13 bytes + 7 zero bytes
    head = bytes.fromhex("0002 29 0B 0101 0000 001B 00 8000 0000 0000")
    head += b"QY-ONT-100-EU" + bytes(7)
    wire = head + _cmac32(ik, b"\x02" + head)
    msg = frames.decode(wire, ik=ik, upstream=True)
    r = messages.parse_get_response(msg)
    assert (msg.extended, r.result, r.mask, r.values) == (
        True, 0, 0x8000, b"QY-ONT-100-EU" + bytes(7),
    )  # fmt: skip
    # Ethernet pads a short frame to 46 bytes; with padded=True the zeros are accepted
    padded = wire + bytes(46 - len(wire))
    assert frames.decode(padded, ik=ik, upstream=True, padded=True) == msg
    with pytest.raises(FrameError, match="after its MIC"):
        frames.decode(padded, ik=ik, upstream=True)


@pytest.mark.parametrize(
    "mutate,error",
    [
        (lambda w: w[:47], "expected 40, 44 or 48"),
        (lambda w: w[:3], "truncated"),
        (lambda w: w[:3] + b"\x0c" + w[4:], "device identifier"),
        (lambda w: w[:-1] + bytes([w[-1] ^ 1]), "CRC"),
        (lambda w: w[:42] + b"\x00\x20" + w[44:], "length"),
    ],
    ids=["short", "header only", "device id", "crc", "trailer length"],
)
def test_bad_frames_are_rejected_with_the_reason(mutate: object, error: str) -> None:
    wire = HAND_FRAMES[0][1]
    with pytest.raises(FrameError, match=error):
        frames.decode(mutate(wire))  # type: ignore[operator]


@pytest.mark.parametrize("name,wire,msg", HAND_FRAMES, ids=[h[0] for h in HAND_FRAMES])
def test_scapy_layers_read_and_build_the_hand_frames(name: str, wire: bytes, msg: Message) -> None:
    pkt = OmciBaseline(wire)
    assert (pkt.tci, pkt.ar, pkt.ak, pkt.mt, pkt.device_id) == (
        msg.tci, int(msg.ar), int(msg.ak), msg.mt, 0x0A,
    )  # fmt: skip
    assert (pkt.me_class, pkt.me_instance) == (msg.me_class, msg.me_instance)
    assert pkt.contents == msg.contents.ljust(32, b"\x00")
    assert (pkt.sdu_length, pkt.crc) == (40, int.from_bytes(wire[-4:], "big"))
    built = OmciBaseline(tci=msg.tci, ar=int(msg.ar), ak=int(msg.ak), mt=msg.mt,
                         me_class=msg.me_class, me_instance=msg.me_instance,
                         contents=msg.contents)  # fmt: skip
    assert bytes(built) == wire  # the layer fills in the CRC


def test_scapy_dispatches_extended_frames_over_ethernet() -> None:
    ik = bytes(16)
    wire = frames.encode(frames.request(9, MT.GET, 257, 0, b"\x80\x00", extended=True), ik=ik)
    frame = Ether(bytes(Ether(dst="02:00:00:00:00:02", type=0x88B5)) + wire)
    pkt = frame[OmciExtended]
    assert (pkt.tci, pkt.mt, pkt.length, pkt.contents) == (9, MT.GET, 2, b"\x80\x00")
    assert pkt.mic == int.from_bytes(wire[-4:], "big")
