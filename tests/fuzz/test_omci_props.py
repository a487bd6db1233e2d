"""Hostile input for the OMCI code: arbitrary bytes into the frame decoder, the client and the
emulator never crash them; well-formed frames with arbitrary contents neither."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agent.ont import frames, messages, procedures
from agent.ont.entities import ENTITIES, decode_attributes
from agent.ont.frames import FrameError, Message
from agent.ont.layers import OmciBaseline
from agent.ont.session import Runner
from hil.ont.emulator import Emulator

IK = frames.integrity_key()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sealed_baseline(first_44: bytes) -> bytes:
    """48 bytes with a correct trailer, so the decoder's checks pass and the contents reach the
    parsers behind it."""
    body = first_44[:3] + b"\x0a" + first_44[4:40] + b"\x00\x00\x00\x28"
    return body + struct.pack("!I", frames.crc32_aal5(body))


@FAST
@given(st.binary(max_size=2100), st.booleans(), st.booleans())
def test_decoder_raises_only_frame_error(data: bytes, upstream: bool, padded: bool) -> None:
    try:
        msg = frames.decode(data, ik=IK, upstream=upstream, padded=padded)
    except FrameError as exc:
        assert str(exc)  # says what was wrong
    else:
        assert msg.extended == (data[3] == frames.EXTENDED)


@FAST
@given(st.binary(min_size=44, max_size=44))
def test_sealed_frames_decode_and_their_contents_parse_or_fail_cleanly(first_44: bytes) -> None:
    msg = frames.decode(sealed_baseline(first_44))
    assert len(msg.contents) == 32
    for parse in (
        messages.parse_get_response,
        messages.parse_count,
        messages.parse_upload_next,
        messages.parse_alarms_next,
        messages.parse_alarm,
        messages.parse_avc,
        messages.parse_test_result,
    ):
        with contextlib.suppress(FrameError):  # refusing is fine, crashing is not
            parse(msg)


@FAST
@given(st.sampled_from([*ENTITIES, 0, 65300]), st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_attribute_decoder_never_fails(class_id: int, mask: int, data: bytes) -> None:
    values = decode_attributes(class_id, mask, data)
    assert isinstance(values, dict)


# What the ONT side of the wire does at each step: junk, a sealed frame, a well-formed answer
# to the outstanding request with arbitrary contents, the emulator's true answer (which takes the
# poll deeper), or nothing until the timeout.
# "true" is drawn most often so that examples get deep into the poll (Gets, Test, FEC).
KINDS = ["true"] * 10 + ["junk", "sealed", "answer", "test-result", "wait"]
step = st.tuples(st.sampled_from(KINDS), st.binary(max_size=120))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=60, max_size=200))
def test_client_never_crashes_on_what_the_ont_sends(steps: list[tuple[str, bytes]]) -> None:
    emulator = Emulator()
    runner = Runner(procedures.poll(), timeout_s=1.0, retries=1, ik=IK)
    now = 0.0
    wire = runner.start(now)[0]
    for kind, data in steps:
        if runner.done:
            break
        last = frames.decode(wire, upstream=False)
        now += 0.01
        if kind == "junk":
            out = runner.receive(data, now)
        elif kind == "sealed":
            out = runner.receive(sealed_baseline(data[:44].ljust(44, b"\x00")), now)
        elif kind == "answer":
            out = runner.receive(frames.encode(frames.response(last, data[:32])), now)
        elif kind == "test-result":
            note = Message(last.tci, frames.MT.TEST_RESULT, False, False,
                           last.me_class, last.me_instance, data[:32])  # fmt: skip
            out = runner.receive(frames.encode(note), now)
        elif kind == "true":
            out = []
            for _, answer in emulator.receive(wire):
                out += runner.receive(answer, now)
        else:
            now += 1.0
            out = runner.poll(now)
        assert len(out) <= 1  # never more than one request in flight
        wire = out[0] if out else wire
    assert runner.done or runner.deadline is not None
    if runner.done:
        assert (runner.error is None) != (runner.result is None)
    event(f"requests sent: {runner.stats.sent // 10}0s")


@FAST
@given(st.binary(max_size=120))
def test_emulator_never_crashes_on_junk(data: bytes) -> None:
    assert isinstance(Emulator().receive(data), list)


@FAST
@given(st.integers(0, 31), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=32))
def test_emulator_answers_any_well_formed_request(
    mt: int, me_class: int, me_instance: int, contents: bytes
) -> None:
    req = Message(1, mt, True, False, me_class, me_instance, contents)
    for _, answer in Emulator().receive(frames.encode(req)):
        assert frames.decode(answer, ik=IK).tci in (0, 1)


@FAST
@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 31),
    st.booleans(),
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=32),
)
def test_codec_and_scapy_layers_agree(
    tci: int, mt: int, ar: bool, ak: bool, me_class: int, me_instance: int, contents: bytes
) -> None:
    msg = Message(tci, mt, ar, ak, me_class, me_instance, contents)
    wire = frames.encode(msg)
    built = OmciBaseline(tci=tci, ar=int(ar), ak=int(ak), mt=mt, me_class=me_class,
                         me_instance=me_instance, contents=contents)  # fmt: skip
    assert bytes(built) == wire
    pkt = OmciBaseline(wire)
    decoded = frames.decode(wire)
    assert (pkt.tci, pkt.mt, bool(pkt.ar), bool(pkt.ak), pkt.contents) == (
        decoded.tci, decoded.mt, decoded.ar, decoded.ak, decoded.contents,
    )  # fmt: skip


_PM_VALUES = st.fixed_dictionaries(
    {
        "interval_end_time": st.integers(0, 255),
        "corrected_code_words": st.integers(0, 2**32 - 1) | st.none(),
        "octets": st.integers(0, 2**64 - 1),
        "control_block": st.sampled_from(["00" * 16, "00" * 11 + "01" + "00" * 4, "", "01"]),
    }
)


@FAST
@given(st.lists(st.tuples(_PM_VALUES, st.integers(0, 2**32 - 1) | st.none(),
                          st.floats(0, 1e6)), max_size=6))  # fmt: skip
def test_pm_tracker_never_fails_nor_reports_negative_counts(
    readings: list[tuple[dict[str, object], int | None, float]],
) -> None:
    from agent.ont.pm import PmTracker

    tracker = PmTracker()
    for values, up, now in readings:
        reading = {"sys_up_time": up, "instances": {"425/1": values, "312/1": values}}
        for interval in tracker.update(reading, now):
            for key, count in interval.items():
                assert count is None or not isinstance(count, int) or count >= 0, key


@FAST
@given(st.lists(st.tuples(st.integers(0, 255), st.lists(st.integers(0, 223), max_size=4)),
                max_size=20))  # fmt: skip
def test_alarm_state_takes_any_notification_sequence(events: list[tuple[int, list[int]]]) -> None:
    from agent.ont.alarms import AlarmState

    state = AlarmState()
    for sequence, numbers in events:
        state.notify(messages.Alarm(263, 0x8001, numbers, sequence))
    assert state.gaps <= len(events)
    assert all(isinstance(a["alarms"], list) for a in state.ani_alarms())
