"""OMCI procedures as sans-IO generators: each yields `Request`s and is sent the response.

`poll()` is what `qiyas ont info` and the optical source run: MIB upload (which instances exist),
the identity and health Gets, the ANI-G self test, and the FEC counters of the current interval.
"""

from __future__ import annotations

from typing import Any

from agent.ont import messages, pm
from agent.ont.alarms import AlarmState
from agent.ont.entities import (
    ANI_G,
    ANI_G_ALARMS,
    FEC_PM,
    ONU2_G,
    ONU_DATA,
    ONU_G,
    SOFTWARE_IMAGE,
    Entity,
    decode_attributes,
)
from agent.ont.frames import MT
from agent.ont.get import Mib, get
from agent.ont.session import OmciError, Procedure, Request

MAX_UPLOAD_COMMANDS = 4096  # a real MIB is a few hundred; more is a broken or hostile ONT
UPLOAD_ATTEMPTS = 2  # an ONT that reboots mid-upload forgets it: start over once


def mib_upload(*, extended: bool = False) -> Procedure:
    """Every (class, instance) the ONT has, with the attributes it uploads.

    In extended messages one response may report several entities (G.988 A.3.14).
    """
    for _ in range(UPLOAD_ATTEMPTS):
        reply = yield Request(MT.MIB_UPLOAD, ONU_DATA.class_id, 0, extended=extended)
        count = messages.parse_count(reply)
        if count > MAX_UPLOAD_COMMANDS:
            raise OmciError(
                f"MIB upload announces {count} entries, more than {MAX_UPLOAD_COMMANDS}"
            )
        mib: Mib = {}
        for number in range(count):
            reply = yield Request(
                MT.MIB_UPLOAD_NEXT, ONU_DATA.class_id, 0, messages.sequence(number),
                extended=extended,
            )  # fmt: skip
            entries = messages.parse_upload_next(reply)
            if entries[0].me_class == 0:
                break  # class 0 does not exist: the ONT lost the upload (it rebooted)
            for entry in entries:
                attrs = mib.setdefault((entry.me_class, entry.me_instance), {})
                attrs.update(decode_attributes(entry.me_class, entry.mask, entry.values))
        else:
            return mib
    raise OmciError(f"the MIB upload was interrupted {UPLOAD_ATTEMPTS} times")


# OMCC versions (ONU2-G attribute 2) whose ONUs answer the extended message set, as
# voltha-openonu-adapter-go decides (internal/pkg/mib/mib_sync.go,
# omccVersionSupportsExtendedOmciFormat): 0x96 and 0xB0..0xB4; 0x80..0x86 and 0xA0..0xA3 do not,
# and a version it does not know gets baseline too.
EXTENDED_OMCC_VERSIONS = frozenset({0x96, 0xB0, 0xB1, 0xB2, 0xB3, 0xB4})


def supports_extended(omcc_version: int | None) -> bool:
    return omcc_version in EXTENDED_OMCC_VERSIONS


def all_alarms() -> Procedure:
    """The alarms standing now: {(class, instance): [alarm numbers]} (Get all alarms + next)."""
    reply = yield Request(MT.GET_ALL_ALARMS, ONU_DATA.class_id, 0, messages.get_all_alarms())
    count = messages.parse_count(reply)
    if count > MAX_UPLOAD_COMMANDS:
        raise OmciError(
            f"Get all alarms announces {count} entries, more than {MAX_UPLOAD_COMMANDS}"
        )
    standing: dict[tuple[int, int], list[int]] = {}
    for number in range(count):
        reply = yield Request(MT.GET_ALL_ALARMS_NEXT, ONU_DATA.class_id, 0,
                              messages.sequence(number))  # fmt: skip
        entry = messages.parse_alarms_next(reply)
        if entry.alarms:
            standing.setdefault((entry.me_class, entry.me_instance), []).extend(entry.alarms)
    return standing


def optical_test(instance: int, *, extended: bool = False) -> Procedure:
    """ANI-G self test: received/launched power, bias, temperature, supply voltage."""
    reply = yield Request(
        MT.TEST, ANI_G.class_id, instance, messages.self_test(), test=True, extended=extended
    )
    if reply.mt != MT.TEST_RESULT:  # the ONT refused the test: nothing measured
        return messages.OpticalTest(None, None, None, None, None)
    return messages.parse_test_result(reply)


def _instances(mib: Mib, entity: Entity) -> list[int]:
    return sorted(inst for cls, inst in mib if cls == entity.class_id)


ANI_NAMES = [
    "optical_signal_level",
    "lower_optical_threshold",
    "upper_optical_threshold",
    "transmit_optical_level",
    "lower_transmit_power_threshold",
    "upper_transmit_power_threshold",
]
FEC_NAMES = [
    "interval_end_time",
    "corrected_bytes",
    "corrected_code_words",
    "uncorrectable_code_words",
    "total_code_words",
    "fec_seconds",
]


OPTICAL_KEYS = (
    "rx_dbm",
    "tx_dbm",
    "temperature_c",
    "bias_ma",
    "voltage_v",
    "rx_low_threshold_dbm",
    "rx_high_threshold_dbm",
    "tx_low_threshold_dbm",
    "tx_high_threshold_dbm",
)


def poll(
    *, extended: bool | None = None, lab: bool = False, alarms: AlarmState | None = None
) -> Procedure:
    """One full reading of the ONT, shaped as `qiyas ont info --json` prints it.

    `extended` None chooses the message set from the ONU2-G OMCC version, read first in a
    baseline Get as voltha-openonu-adapter-go does (mib_sync.go, GettingEquipIDAndOmccVers).
    """
    onu2_g = yield from get(ONU2_G, 0, ["equipment_id", "omcc_version"], missing_ok=True)
    if extended is None:
        extended = supports_extended(onu2_g.get("omcc_version"))
    mib = yield from mib_upload(extended=extended)
    if lab:  # only against an emulator or a lab OLT (pm.lab_setup says why)
        for inst in (yield from pm.lab_setup(mib)):
            mib[(FEC_PM.class_id, inst)] = {}
    onu_g = yield from get(ONU_G, 0, ["vendor_id", "version", "serial_number"], extended=extended)
    software = []
    for inst in _instances(mib, SOFTWARE_IMAGE):
        image = yield from get(
            SOFTWARE_IMAGE, inst, ["version", "is_committed", "is_active", "is_valid"],
            extended=extended,
        )  # fmt: skip
        software.append(
            {
                "instance": inst,
                "version": image.get("version"),
                "active": image.get("is_active"),
                "committed": image.get("is_committed"),
                "valid": image.get("is_valid"),
            }
        )
    ani_g = []
    for inst in _instances(mib, ANI_G):  # every ANI-G: a dual-PON or multi-port ONT has several
        ani = yield from get(ANI_G, inst, ANI_NAMES, extended=extended)
        test = yield from optical_test(inst, extended=extended)
        ani_g.append({
            "instance": inst,
            "rx_dbm": ani.get("optical_signal_level", test.rx_dbm),
            "tx_dbm": ani.get("transmit_optical_level", test.tx_dbm),
            "temperature_c": test.temperature_c,
            "bias_ma": test.bias_ma,
            "voltage_v": test.voltage_v,
            "rx_low_threshold_dbm": ani.get("lower_optical_threshold"),
            "rx_high_threshold_dbm": ani.get("upper_optical_threshold"),
            "tx_low_threshold_dbm": ani.get("lower_transmit_power_threshold"),
            "tx_high_threshold_dbm": ani.get("upper_transmit_power_threshold"),
        })  # fmt: skip
    # the record's levels: the first ANI-G (the PON port in use on a single-port ONT)
    optical: dict[str, Any] = dict.fromkeys(OPTICAL_KEYS)
    if ani_g:
        optical.update({k: ani_g[0][k] for k in OPTICAL_KEYS})
    state = alarms if alarms is not None else AlarmState()
    state.sync((yield from all_alarms()))
    fec = None
    fecs = _instances(mib, FEC_PM)
    if fecs:
        fec = yield from get(FEC_PM, fecs[0], FEC_NAMES, mt=MT.GET_CURRENT_DATA, extended=extended)
    history = yield from pm.read_history(mib, extended=extended)
    resyncs = 0
    if state.gap:  # an alarm notification was lost during the poll: read them all again
        state.sync((yield from all_alarms()))
        resyncs = 1
    ani_alarms = sorted({n for (cls, _), numbers in state.standing.items()
                         if cls == ANI_G.class_id for n in numbers})  # fmt: skip
    return {
        "vendor_id": onu_g.get("vendor_id"),
        "serial_number": onu_g.get("serial_number"),
        "version": onu_g.get("version"),
        "equipment_id": onu2_g.get("equipment_id"),
        "omcc_version": onu2_g.get("omcc_version"),
        "extended": extended,
        "software": software,
        "optical": optical,
        "fec": fec,
        "pm_history": history,
        "alarms": [ANI_G_ALARMS.get(n, f"alarm_{n}") for n in ani_alarms],
        "ani_g": ani_g,
        "ani_g_alarms": state.ani_alarms(),  # every ANI-G instance
        "alarm_resyncs": resyncs,
        "mib_entities": len(mib),
        # 0 after the ONT rebooted or reset its MIB, until an OLT provisions it again
        "mib_data_sync": mib.get((ONU_DATA.class_id, 0), {}).get("mib_data_sync"),
    }


def thresholds_crossed(optical: dict[str, Any]) -> list[str]:
    """Which of the ONT's own thresholds the levels are beyond (unknown thresholds say nothing)."""
    crossed = []
    checks = (
        ("rx_low", "rx_dbm", "rx_low_threshold_dbm", -1),
        ("rx_high", "rx_dbm", "rx_high_threshold_dbm", 1),
        ("tx_low", "tx_dbm", "tx_low_threshold_dbm", -1),
        ("tx_high", "tx_dbm", "tx_high_threshold_dbm", 1),
    )
    for name, level_key, limit_key, side in checks:
        level, limit = optical.get(level_key), optical.get(limit_key)
        if level is not None and limit is not None and (level - limit) * side > 0:
            crossed.append(name)
    return crossed
