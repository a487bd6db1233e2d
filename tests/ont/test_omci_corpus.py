"""The reference frames corpus (omci_corpus.py) through our codec and through the scapy layers,
compared with the values the reference implementations' tests assert; and the emulator's answers
compared with the corpus, so the emulator is held to outside data rather than to our tables."""

from __future__ import annotations

import pytest
from omci_corpus import CORPUS, REFUSED, Frame

from agent.ont import frames, messages
from agent.ont.entities import decode_attributes
from agent.ont.frames import MT, FrameError, Message
from agent.ont.layers import OmciBaseline
from hil.ont.emulator import Emulator, self_test_result

# Message types that are responses (AK) and that are autonomous (neither AR nor AK).
AUTONOMOUS = {MT.AVC, MT.ALARM, MT.TEST_RESULT}


def _decode(frame: Frame) -> Message:
    return frames.decode(bytes.fromhex(frame.hex))


@pytest.mark.parametrize("frame", CORPUS, ids=[f.name for f in CORPUS])
def test_header_as_the_reference_asserts(frame: Frame) -> None:
    msg = _decode(frame)
    h = frame.header
    assert (msg.tci, msg.mt, msg.me_class, msg.me_instance, msg.extended) == (
        h["tci"], h["mt"], h["me_class"], h["me_instance"], h["extended"],
    )  # fmt: skip
    raw = bytes.fromhex(frame.hex)
    # requests carry AR (the byte's 0x40), responses AK (0x20), autonomous messages neither
    assert (msg.ar, msg.ak) == (bool(raw[2] & 0x40), bool(raw[2] & 0x20))
    if msg.mt in AUTONOMOUS and not msg.ar and not msg.ak:
        assert msg.is_notification


@pytest.mark.parametrize("frame", CORPUS, ids=[f.name for f in CORPUS])
def test_scapy_layers_read_the_same_header_and_contents(frame: Frame) -> None:
    raw = bytes.fromhex(frame.hex)
    pkt = OmciBaseline(raw)  # dispatches to OmciExtended on device identifier 0x0B
    msg = _decode(frame)
    assert (pkt.tci, pkt.mt, pkt.ar, pkt.ak) == (msg.tci, msg.mt, int(msg.ar), int(msg.ak))
    assert (pkt.me_class, pkt.me_instance, pkt.device_id) == (
        msg.me_class, msg.me_instance, 0x0B if msg.extended else 0x0A,
    )  # fmt: skip
    assert bytes(pkt.contents) == msg.contents
    if not msg.extended and len(raw) >= 44:
        assert pkt.sdu_length == 40


def _check_ours(frame: Frame, msg: Message) -> None:
    ours = frame.ours
    if "get_mask" in ours:
        assert int.from_bytes(msg.contents[:2], "big") == ours["get_mask"]
    if "result" in ours:
        assert msg.contents[0] == ours["result"]
    if "mask" in ours:
        r = messages.parse_get_response(msg)
        assert (r.result, r.mask) == (ours["result"], ours["mask"])
        if "optional_mask" in ours:
            assert (r.optional_mask, r.execution_mask) == (
                ours["optional_mask"], ours["execution_mask"],
            )  # fmt: skip
        if "attributes" in ours:
            assert decode_attributes(msg.me_class, r.mask, r.values) == ours["attributes"]
        if "values" in ours:
            assert r.values.hex() == ours["values"]
    if "count" in ours:
        assert messages.parse_count(msg) == ours["count"]
    if "sequence" in ours:
        assert int.from_bytes(msg.contents[:2], "big") == ours["sequence"]
    if "entries" in ours:
        entries = messages.parse_upload_next(msg)
        assert [(e.me_class, e.me_instance, e.mask) for e in entries] == ours["entries"]
        if "values_size" in ours:
            assert {len(e.values) for e in entries} == {ours["values_size"]}
    if "alarm_entry" in ours:
        e = messages.parse_alarms_next(msg)
        assert (e.me_class, e.me_instance, e.alarms) == ours["alarm_entry"]
    if "alarm" in ours:
        a = messages.parse_alarm(msg)
        assert (a.alarms, a.sequence) == ours["alarm"]
    if "avc" in ours:
        avc = messages.parse_avc(msg)
        mask, attributes = ours["avc"]
        assert avc.mask == mask
        assert decode_attributes(msg.me_class, avc.mask, avc.values) == attributes
    if "test" in ours:
        assert tuple(messages.parse_test_result(msg)) == pytest.approx(ours["test"], abs=5e-4)
    if "synchronize_time" in ours:
        y, mo, d, h, mi, s = ours["synchronize_time"]
        assert msg.contents[:7] == messages.synchronize_time(y, mo, d, h, mi, s)


@pytest.mark.parametrize("frame", CORPUS, ids=[f.name for f in CORPUS])
def test_contents_decode_to_the_reference_values(frame: Frame) -> None:
    _check_ours(frame, _decode(frame))


@pytest.mark.parametrize("name,source,hexframe,why", REFUSED, ids=[r[0] for r in REFUSED])
def test_frames_we_refuse_name_the_reason(name: str, source: str, hexframe: str, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        frames.decode(bytes.fromhex(hexframe), ik=frames.integrity_key())


def test_every_baseline_corpus_frame_decodes_as_40_44_and_48_bytes() -> None:
    for frame in CORPUS:
        raw = bytes.fromhex(frame.hex)
        if raw[3] != frames.BASELINE:
            continue
        body = raw[:44]
        whole = body + frames.crc32_aal5(body).to_bytes(4, "big")
        assert frames.decode(raw[:40]) == frames.decode(body) == frames.decode(whole)


def test_an_unsupported_test_slot_is_null_and_the_others_stay() -> None:
    # The corpus test result with its second slot (received power) marked type 0, "not supported"
    frame = next(f for f in CORPUS if f.name == "Optical line supervision test result")
    raw = bytearray(bytes.fromhex(frame.hex))
    raw[8 + 3] = 0  # the type byte of slot 2
    test = messages.parse_test_result(frames.decode(bytes(raw)))
    assert test.rx_dbm is None
    assert (test.voltage_v, test.tx_dbm, test.bias_ma, test.temperature_c) == pytest.approx(
        (1.04, -29.71, 0.104, 0.402), abs=5e-4
    )


def test_the_emulator_writes_test_results_in_the_corpus_layout() -> None:
    # Values that in the reference frame's units are its raw numbers: the emulator must give the
    # very bytes omci-lib-go's test holds (test_test.go, OpticalLineSupervisionTestResult).
    frame = next(f for f in CORPUS if f.name == "Optical line supervision test result")
    values = {
        "voltage_v": 0x34 * 0.02,
        "rx_dbm": 0x67 * 0.002 - 30,
        "tx_dbm": 0x91 * 0.002 - 30,
        "bias_ma": 0x34 * 0.002,
        "temperature_c": 0x67 / 256,
        "buffer_pointer": 0x8901,
    }
    assert self_test_result(values) == bytes.fromhex(frame.hex)[8:25]


def test_the_emulator_answers_a_corpus_get_like_the_reference_response() -> None:
    # The corpus Get request for ANI-G attributes 10 and 14, asked of an emulator holding the
    # levels of the corpus response (-18.538 and 3.042 dBm): the bytes must be the reference's.
    request = next(f for f in CORPUS if f.name == "Get request ANI-G")
    response = next(f for f in CORPUS if f.name == "Get response ANI-G optical levels")
    levels = response.ours["attributes"]
    emulator = Emulator(
        {"entities": [{"class": 263, "instance": 0, "attributes": dict(levels)}]},
        {"frame": "44"},
    )
    [(_, answer)] = emulator.receive(bytes.fromhex(request.hex))
    assert answer == bytes.fromhex(response.hex)


def _answer(emulator: Emulator, request_hex: str, *, mic: bool) -> bytes:
    [(_, answer)] = emulator.receive(bytes.fromhex(request_hex))
    return answer[:-4] if mic else answer  # the corpus writes extended frames without MIC


def test_the_emulator_answers_the_corpus_extended_onu2g_get_like_the_reference() -> None:
    request = next(f for f in CORPUS if f.name == "Extended Get request ONU2-G")
    response = next(f for f in CORPUS if f.name == "Extended Get response ONU2-G")
    attributes = dict(response.ours["attributes"], equipment_id="")
    emulator = Emulator({"entities": [{"class": 257, "instance": 0, "attributes": attributes}]})
    # the corpus request has no MIC; the emulator takes it as the adapter path does
    assert _answer(emulator, request.hex, mic=True) == bytes.fromhex(response.hex)


def test_the_emulator_answers_get_current_data_like_the_reference() -> None:
    response = next(f for f in CORPUS if "Ethernet frame extended PM 64-bit" in f.name)
    # the request of getcurrent_test.go TestGetCurrentDataRequestDecode, class 0x01a9 mask 0x0044
    request = (
        "035e5c0a01a90000004400000000000000000000000000000000000000000000000000000000000000000028"
    )
    counters = dict(response.ours["attributes"])
    emulator = Emulator(
        {"entities": [{"class": 425, "instance": 0, "attributes": counters}]}, {"frame": "44"}
    )
    assert _answer(emulator, request, mic=False) == bytes.fromhex(response.hex)
