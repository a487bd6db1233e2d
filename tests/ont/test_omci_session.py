"""The sans-IO OMCI client: correlation, one outstanding request, timeouts, retries, splitting."""

from __future__ import annotations

from typing import Any

import ont_expectations
import pytest

from agent.ont import frames, messages, procedures
from agent.ont.alarms import AlarmState
from agent.ont.entities import ONU_G
from agent.ont.frames import MT
from agent.ont.session import MAX_EVENTS, Request, Runner
from hil.ont.emulator import (
    DEFAULT_MIB,
    Emulator,
    ScenarioError,
    check_scenario,
    load_json,
    load_scenario,
    scenario_names,
    self_test_result,
)
from hil.ont.wire import simulate


def answer(req_bytes: bytes, contents: bytes, **change: Any) -> bytes:
    req = frames.decode(req_bytes, upstream=False)
    return frames.encode(frames.response(req, contents)._replace(**change))


def one_get() -> procedures.Procedure:
    return procedures.get(ONU_G, 0, ["vendor_id"])


def test_one_request_outstanding_and_matched_by_tci() -> None:
    runner = Runner(procedures.get(ONU_G, 0, ["vendor_id", "version", "serial_number"]))
    out = runner.start(0.0)
    assert len(out) == 1  # 26 attribute bytes need two Gets, but only one is in flight
    first = frames.decode(out[0], upstream=False)
    assert (first.mt, first.contents[:2]) == (MT.GET, b"\xc0\x00")
    body = messages.build_get_response(0, 0xC000, b"QIYS" + b"QY-ONT-100".ljust(14, b"\0"),
                                       extended=False)  # fmt: skip
    # a response with another TCI is not ours: dropped, still waiting
    assert runner.receive(answer(out[0], body, tci=first.tci + 1), 0.1) == []
    assert runner.stats.dropped == 1 and not runner.done
    second = runner.receive(answer(out[0], body), 0.2)
    assert frames.decode(second[0], upstream=False).contents[:2] == b"\x20\x00"
    body = messages.build_get_response(0, 0x2000, bytes.fromhex("514959530001A2B3"),
                                       extended=False)  # fmt: skip
    assert runner.receive(answer(second[0], body), 0.3) == []
    assert runner.done and runner.error is None
    assert runner.result == {
        "vendor_id": "QIYS",
        "version": "QY-ONT-100",
        "serial_number": "QIYS0001A2B3",
    }


def test_timeouts_retransmit_with_the_same_tci_then_give_up() -> None:
    runner = Runner(one_get(), timeout_s=0.5, retries=2)
    sent = runner.start(10.0)
    assert runner.poll(10.4) == []  # not yet
    again = runner.poll(10.5)
    assert again == sent  # same bytes, same TCI
    assert runner.poll(11.0) == sent
    assert runner.poll(11.5) == []
    assert runner.done
    assert runner.error == "the ONT did not answer GET of ME 256/0 after 3 tries of 0.5 s"
    assert runner.stats.sent == 3 and runner.stats.retransmitted == 2


def test_a_timeout_names_the_unusable_answers_it_got() -> None:
    runner = Runner(one_get(), timeout_s=0.5, retries=0)
    out = runner.start(0.0)
    good = answer(out[0], messages.build_get_response(0, 0x8000, b"QIYS", extended=False))
    runner.receive(good[:-1] + bytes([good[-1] ^ 0xFF]), 0.1)
    runner.poll(0.5)
    assert runner.error is not None
    assert runner.error.startswith("the ONT did not answer GET of ME 256/0 after 1 tries of 0.5 s")
    assert runner.error.endswith("; 1 unusable answer(s), the last: baseline trailer " + (
        f"{int.from_bytes(good[-4:], 'big') ^ 0xFF:#010x} is neither the CRC "
        f"({int.from_bytes(good[-4:], 'big'):#010x}) (no key to check a MIC)"
    ))  # fmt: skip


def test_refused_get_fails_with_the_result_named() -> None:
    runner = Runner(one_get())
    out = runner.start(0.0)
    body = messages.build_get_response(5, 0, b"", extended=False)
    runner.receive(answer(out[0], body), 0.1)
    assert runner.error == "GET ONU-G 0x0000: unknown instance"


def test_test_waits_for_the_result_message() -> None:
    runner = Runner(procedures.optical_test(0x8001), timeout_s=1.0)
    out = runner.start(0.0)
    req = frames.decode(out[0], upstream=False)
    runner.receive(answer(out[0], b"\x00"), 0.1)
    assert not runner.done  # accepted; the result comes separately
    result = self_test_result(
        {"voltage_v": 3.3, "rx_dbm": -20.0, "tx_dbm": 2.0, "bias_ma": 10.0, "temperature_c": 40.0}
    )
    note = frames.notification(MT.TEST_RESULT, 263, 0x8001, result, tci=req.tci)
    runner.receive(frames.encode(note), 0.5)
    assert runner.done and runner.result == messages.OpticalTest(3.3, -20.0, 2.0, 10.0, 40.0)


def test_refused_test_measures_nothing() -> None:
    runner = Runner(procedures.optical_test(0x8001))
    out = runner.start(0.0)
    runner.receive(answer(out[0], bytes([frames.Result.NOT_SUPPORTED])), 0.1)
    assert runner.done and runner.result == messages.OpticalTest(None, None, None, None, None)


def test_notifications_are_events_and_bounded() -> None:
    runner = Runner(one_get())
    runner.start(0.0)
    avc = frames.encode(frames.notification(MT.AVC, 263, 0x8001, b"\x00\x40\xdb\xd4"))
    for i in range(MAX_EVENTS * 3):
        runner.receive(avc, i / 1000)
    assert runner.stats.notifications == MAX_EVENTS * 3
    assert len(runner.notifications) == MAX_EVENTS
    assert runner.notifications[-1].detail == messages.Avc(263, 0x8001, 0x0040, avc[10:40])
    assert not runner.done  # the outstanding Get is still waited for


def test_a_request_from_the_ont_is_dropped() -> None:
    runner = Runner(one_get())
    runner.start(0.0)
    runner.receive(frames.encode(frames.request(7, MT.GET, 256, 0, b"\x80\x00")), 0.1)
    assert runner.drops[-1] == "a request (message type 9) came from the ONT"


def test_procedure_error_on_hostile_upload_count() -> None:
    runner = Runner(procedures.mib_upload())
    out = runner.start(0.0)
    runner.receive(answer(out[0], b"\xff\xff"), 0.1)
    assert runner.error == "MIB upload announces 65535 entries, more than 4096"


def test_hostile_alarm_count_is_refused() -> None:
    # 0x1001 = 4097, one more than the bound
    runner = Runner(procedures.all_alarms())
    out = runner.start(0.0)
    runner.receive(answer(out[0], b"\x10\x01"), 0.1)
    assert runner.error == "Get all alarms announces 4097 entries, more than 4096"


def test_extended_mib_upload_packs_several_entities_per_message() -> None:
    emulator = Emulator()
    runner = simulate(procedures.mib_upload(extended=True), emulator)
    baseline = simulate(procedures.mib_upload(), Emulator())
    assert runner.error is None
    # a vendor entity is kept raw: baseline pads it to 26 bytes, extended says its length
    assert runner.result.pop((65300, 0)) == {"raw": "0102030405"}
    assert baseline.result.pop((65300, 0))["raw"] == "0102030405" + "00" * 21
    assert runner.result == baseline.result
    # 12 instances in 14 baseline entries fit one extended message
    assert emulator.seen[MT.MIB_UPLOAD_NEXT] == 1 < baseline.stats.sent - 1


def test_tcis_skip_zero_and_the_priority_bit() -> None:
    def many() -> procedures.Procedure:
        for _ in range(3):
            yield Request(MT.SYNCHRONIZE_TIME, 256, 0)

    runner = Runner(many(), first_tci=0x7FFE)
    tcis = []
    out = runner.start(0.0)
    for i in range(3):
        req = frames.decode(out[0], upstream=False)
        tcis.append(req.tci)
        out = runner.receive(answer(out[0], b"\x00"), i + 0.1)
    assert tcis == [0x7FFE, 0x7FFF, 0x0001]


@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_over_the_virtual_wire(name: str) -> None:
    emulator = Emulator(scenario=load_scenario(name))
    runner = simulate(procedures.poll(), emulator, timeout_s=0.2, retries=2)
    assert runner.error is None
    ont_expectations.check(name, runner.result)
    stats = runner.stats
    if name == "healthy":
        assert (stats.retransmitted, stats.dropped, stats.notifications) == (0, 0, 0)
    assert (stats.retransmitted > 0) == (name in ont_expectations.RETRANSMITS)
    assert (stats.dropped > 0) == (name in ont_expectations.DROPS | {"slow-omcc"})
    if name == "dirty-fibre":
        alarms = [n.detail for n in runner.notifications if n.kind == "alarm"]
        assert [a.alarms for a in alarms] == [[0]]
    if name == "avc-storm":
        assert stats.notifications == 40 * emulator.answers


def test_rebooting_ont_restarts_the_mib_upload() -> None:
    emulator = Emulator(scenario=load_scenario("rebooting"))
    runner = simulate(procedures.mib_upload(), emulator, timeout_s=0.2, retries=2)
    assert runner.error is None
    assert emulator.instances[(2, 0)].values["mib_data_sync"] == 0  # it did reboot
    assert (256, 0) in runner.result and (263, 0x8001) in runner.result
    # a vendor entity: kept raw (with the padding, since its size is unknown)
    assert runner.result[(65300, 0)]["raw"].startswith("0102030405")
    # the upload was started twice: before the reboot (cut short) and after
    assert emulator.seen[MT.MIB_UPLOAD] == 2


def test_an_ont_that_stays_silent_fails_the_poll() -> None:
    scenario = {"reboot_after_requests": 0, "silent_requests": 100}
    runner = simulate(procedures.poll(), Emulator(scenario=scenario), timeout_s=0.2, retries=2)
    assert runner.error == "the ONT did not answer GET of ME 257/0 after 3 tries of 0.2 s"


def test_extended_messages_end_to_end() -> None:
    emulator = Emulator()
    runner = simulate(procedures.poll(extended=True), emulator)
    assert runner.error is None
    assert runner.result["serial_number"] == "QIYS0001A2B3"
    # extended Gets are never split: one Get for the three ONU-G attributes
    assert runner.stats.sent == emulator.requests


@pytest.mark.parametrize(
    "scenario,message",
    [
        ({"delay": 0.1}, "unknown key 'delay'"),
        ({"delay_s": "slow"}, "delay_s has the wrong type"),
        ({"avc_per_request": True}, "avc_per_request has the wrong type"),
        ({"silent_requests": -1}, "silent_requests must be 0..10000"),
        ({"late_every": 3}, "late_every needs late_delay_s"),
    ],
)
def test_scenario_files_are_checked(scenario: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        check_scenario(scenario, "test.json")


def test_a_bad_mib_fails_at_load_naming_the_entity() -> None:
    mib = {"entities": [{"class": 263, "instance": 1, "attributes": {"optical_signal_level": 99}}]}
    with pytest.raises(ScenarioError, match="MIB entity 263/1"):
        Emulator(mib)


def test_autonomous_messages_need_tci_0_and_tci_0_is_only_theirs() -> None:
    runner = Runner(one_get())
    out = runner.start(0.0)
    avc = frames.notification(MT.AVC, 263, 0x8001, b"\x00\x40\xdb\xd4")
    runner.receive(frames.encode(avc._replace(tci=5)), 0.1)
    assert runner.drops[-1] == "autonomous message type 17 with TCI 5, not 0"
    runner.receive(answer(out[0], b"\x00", tci=0), 0.2)
    assert runner.drops[-1] == "message type 9 with TCI 0, which only AVC and alarms use"
    assert runner.stats.notifications == 0 and not runner.done


def test_failure_masks_count_only_with_result_9() -> None:
    # An XGS ONU answering success with 0xFFFF in both mask fields: the values still stand.
    runner = Runner(one_get())
    out = runner.start(0.0)
    body = messages.build_get_response(0, 0x8000, b"QIYS", 0xFFFF, 0xFFFF, extended=False)
    runner.receive(answer(out[0], body), 0.1)
    assert runner.result == {"vendor_id": "QIYS"}
    # with result 9 the same masks do mean "not supported / failed"
    runner = Runner(one_get())
    out = runner.start(0.0)
    body = messages.build_get_response(9, 0x8000, b"QIYS", 0x8000, 0, extended=False)
    runner.receive(answer(out[0], body), 0.1)
    assert runner.result == {}


def test_an_extended_test_request_carries_5_bytes() -> None:
    runner = Runner(procedures.optical_test(0x8001, extended=True), ik=frames.integrity_key())
    [wire] = runner.start(0.0)
    req = frames.decode(wire, ik=frames.integrity_key(), upstream=False)
    assert (req.extended, req.contents) == (True, bytes.fromhex("0700000000"))


@pytest.mark.parametrize("version,extended", [(0xA3, False), (0xB4, True), (0x96, True),
                                              (0x42, False)])  # fmt: skip
def test_the_message_set_follows_the_omcc_version(version: int, extended: bool) -> None:
    emulator = Emulator(scenario={"attributes": {"257/0": {"omcc_version": version}}})
    runner = simulate(procedures.poll(), emulator)
    assert runner.error is None
    assert (runner.result["omcc_version"], runner.result["extended"]) == (version, extended)
    ont_expectations.check("healthy", runner.result)


def test_alarm_state_follows_sequence_numbers_as_openonu_does() -> None:
    # alarm_manager.go: after Get all alarms the next notification is 1; 255 is followed by 1
    state = AlarmState()
    state.sync({(263, 0x8001): [0]})
    state.notify(messages.Alarm(263, 0x8001, [], 1))  # the low-rx alarm cleared
    assert state.standing == {} and not state.gap
    state.last_sequence = 255
    state.notify(messages.Alarm(263, 0x8002, [4], 1))
    assert not state.gap and state.ani_alarms() == [
        {"instance": 0x8002, "alarms": ["low_tx_power"]}
    ]
    state.notify(messages.Alarm(263, 0x8002, [4, 6], 3))  # 2 never arrived
    assert state.gap and state.gaps == 1


def test_a_lost_alarm_during_the_poll_triggers_a_resync() -> None:
    # The ONT raises its alarm after the poll's Get all alarms, and one notification before it
    # was lost: the client must notice the gap and read all alarms again.
    scenario = {"alarms": {"263/32769": [0]}, "raise_alarms_at": 35, "lose_alarms": 1}
    emulator = Emulator(scenario=scenario)
    state = AlarmState()
    runner = simulate(procedures.poll(alarms=state), emulator, alarms=state)
    assert runner.error is None
    assert emulator.seen[MT.GET_ALL_ALARMS] == 2 and runner.result["alarm_resyncs"] == 1
    assert runner.result["alarms"] == ["low_rx_power"] and not state.gap
    without_loss = Emulator(scenario={**scenario, "lose_alarms": 0})
    runner = simulate(procedures.poll(), without_loss)
    assert without_loss.seen[MT.GET_ALL_ALARMS] == 1 and runner.result["alarm_resyncs"] == 0


def test_alarms_of_every_ani_g_instance() -> None:
    mib = load_json(DEFAULT_MIB)
    second = next(e for e in mib["entities"] if e["class"] == 263) | {"instance": 0x8002}
    mib["entities"].append(second)
    emulator = Emulator(mib, {"alarms": {"263/32769": [0], "263/32770": [4, 6]}})
    result = simulate(procedures.poll(), emulator).result
    assert [a["instance"] for a in result["ani_g"]] == [0x8001, 0x8002]
    assert result["ani_g"][1]["rx_dbm"] == -18.52 and result["ani_g"][1]["temperature_c"] == 45.5
    assert result["ani_g_alarms"] == [
        {"instance": 0x8001, "alarms": ["low_rx_power"]},
        {"instance": 0x8002, "alarms": ["low_tx_power", "laser_bias_current"]},
    ]
