"""15-minute PM history, read only: the closed intervals of the PM MEs the OLT created.

The OLT owns the ONT's MIB. Creating or deleting an ME changes the MIB data sync counter and makes
the OLT audit or re-provision the ONT (the household's service can drop); Synchronize Time
restarts the operator's intervals. So by default we only Get: the PM history data MEs that the MIB
upload shows (instances the OLT made), whose attributes hold the counts of the last completed
15-minute interval, numbered by `interval_end_time` (0..255, wrapping; G.988 9.3, I.4).

- Each instance is read in as many Gets as its attributes need, and every Get repeats attribute
  1, interval end time: if an interval closed between two of them, the parts mix two intervals,
  so the instance is read again, and left out if it still does not hold still.
- A new interval number means a new closed interval: its counts are the per-interval counts.
  The same number as last time: nothing new (no counts reported twice). A jump of more than one:
  the intervals between are lost, and said so (`missed_intervals`).
- Ethernet frame extended PM (334, 425) may run in continuous accumulation (control block,
  control fields bit 1; G.988 9.3.32): its counters then never restart, and the per-interval
  count is the difference from the last reading, modulo 2^32 or 2^64 when a counter wrapped.
  After an ONT reboot (ONU2-G sys_up_time went down) a counter restarted at an unknown moment:
  those counts are null, never guessed.

Lab mode only (an emulator or a lab OLT): `lab_setup` creates the FEC PM ME of each ANI-G and
synchronises the ONT's time.
"""

from __future__ import annotations

import time
from typing import Any

from agent.ont import messages
from agent.ont.entities import (
    ANI_G,
    ETHERNET_EXT_PM,
    ETHERNET_EXT_PM64,
    FEC_PM,
    GEM_CTP_PM,
    ONU2_G,
    ONU_G,
    Entity,
    encode_attributes,
    indices,
    split_mask,
)
from agent.ont.frames import MT, Result
from agent.ont.get import Mib, get
from agent.ont.session import OmciError, Procedure, Request, describe_result

HISTORY_ENTITIES = (FEC_PM, GEM_CTP_PM, ETHERNET_EXT_PM, ETHERNET_EXT_PM64)
READ_ATTEMPTS = 2
GET_BUDGET = messages.GET_VALUES_BASELINE
INTERVALS = 256  # interval end time counts 0..255 and wraps
REBOOT_SLACK_S = 60.0  # clocks and poll durations differ by less than this


def _counters(entity: Entity) -> list[str]:
    return [a.name for a in entity.attributes if a.codec == "uint" and a.name not in _NOT_COUNTS]


_NOT_COUNTS = {"interval_end_time", "threshold_data_id"}


def _continuous(entity: Entity, values: dict[str, Any]) -> bool:
    if entity not in (ETHERNET_EXT_PM, ETHERNET_EXT_PM64):
        return False
    block = bytes.fromhex(values.get("control_block") or "")
    # control block: threshold data id, parent class, parent instance, accumulation disable,
    # TCA disable, control fields (bytes 10..11), TCI, reserved; control fields bit 1 (LSB)
    return len(block) == 16 and bool(block[11] & 0x01)


def _read_instance(entity: Entity, instance: int, extended: bool) -> Procedure:
    """One instance's attributes, every part of a split read carrying the interval end time."""
    control = ["control_block"] if entity in (ETHERNET_EXT_PM, ETHERNET_EXT_PM64) else []
    first = entity.mask_of("interval_end_time")
    rest = entity.mask_of(*control, *_counters(entity))
    # room for attribute 1 (1 byte) in each part of a baseline read
    parts = [rest] if extended else split_mask(entity.class_id, rest, GET_BUDGET - 1)
    for _ in range(READ_ATTEMPTS):
        values: dict[str, Any] = {}
        ends = set()
        for part in parts:
            wanted = [entity.attributes[i - 1].name for i in indices(part | first)]
            got = yield from get(entity, instance, wanted, extended=extended, missing_ok=True)
            if not got:
                return None  # the OLT removed it since the MIB upload
            ends.add(got.get("interval_end_time"))
            values.update(got)
        if len(ends) == 1 and None not in ends:
            return values
    return None  # an interval kept closing under us: nothing certain


def read_history(mib: Mib, *, extended: bool = False) -> Procedure:
    """Get the PM history MEs present in the MIB (never creates one), and the ONT's up time:
    {"sys_up_time": 10 ms units or None, "instances": {"CLASS/INSTANCE": values}}."""
    up = yield from get(ONU2_G, 0, ["sys_up_time"], extended=extended, missing_ok=True)
    instances: dict[str, dict[str, Any]] = {}
    for entity in HISTORY_ENTITIES:
        for cls, inst in sorted(k for k in mib if k[0] == entity.class_id):
            values = yield from _read_instance(entity, inst, extended)
            if values is not None:
                instances[f"{cls}/{inst}"] = values
    return {"sys_up_time": up.get("sys_up_time"), "instances": instances}


_ENTITY = {e.class_id: e for e in HISTORY_ENTITIES}


class PmTracker:
    """Turns successive readings into per-interval counts (see the module's text)."""

    def __init__(self) -> None:
        self._last: dict[str, Any] | None = None
        self._last_at = 0.0

    def update(self, reading: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """The intervals that closed since the previous reading (taken at `now`, seconds)."""
        last, self._last = self._last, reading
        elapsed, self._last_at = now - self._last_at, now
        up, up_before = reading["sys_up_time"], (last or {}).get("sys_up_time")
        # The ONT rebooted if it has been up for less than it was, plus the time since then.
        rebooted = (
            up is not None
            and up_before is not None
            and up / 100 < up_before / 100 + elapsed - REBOOT_SLACK_S
        )
        out = []
        for key, values in sorted(reading["instances"].items()):
            before = last["instances"].get(key) if last is not None else None
            cls, _, inst = key.partition("/")
            interval = self._interval(_ENTITY[int(cls)], values, before, rebooted)
            if interval is not None:
                out.append({"class": int(cls), "instance": int(inst), **interval})
        return out

    @staticmethod
    def _interval(
        entity: Entity, values: dict[str, Any], before: dict[str, Any] | None, rebooted: bool
    ) -> dict[str, Any] | None:
        end = values["interval_end_time"]
        if before is None:
            return None  # the first reading only sets where counting starts
        step = (end - before["interval_end_time"]) % INTERVALS
        if step == 0 and not rebooted:
            return None  # that interval was reported already
        result: dict[str, Any] = {"interval_end_time": end}
        if rebooted:
            result["after_reboot"] = True  # numbering restarted: how many were lost is unknown
        elif step > 1:
            result["missed_intervals"] = step - 1
        counters = _counters(entity)
        if _continuous(entity, values):
            width = 8 * next(a.size for a in entity.attributes if a.name == counters[0])
            counts: dict[str, int | None] = {}
            for name in counters:
                now, then = values.get(name), before.get(name)
                if now is None or then is None or rebooted:
                    counts[name] = None  # restarted at an unknown moment: not guessed
                else:
                    counts[name] = (now - then) % (1 << width)  # a wrapped counter too
            result["continuous"] = True
            result.update(counts)
        else:
            result.update({name: values.get(name) for name in counters})
        return result  # the counts beside the interval's own keys: records nest 4 deep at most


# --- lab mode ----------------------------------------------------------------------------------


def lab_setup(mib: Mib, *, now: float | None = None) -> Procedure:
    """Lab only: create a FEC PM history ME for each ANI-G that has none, and synchronise time.
    Never run against an operator's ONT (it changes the MIB the OLT owns)."""
    created = []
    for _, inst in sorted(k for k in mib if k[0] == ANI_G.class_id):
        if (FEC_PM.class_id, inst) in mib:
            continue
        _, data = encode_attributes(FEC_PM, {"threshold_data_id": 0})
        # Create carries the set-by-create attributes: threshold data 1/2 id (G.988 9.2.9)
        reply = yield Request(MT.CREATE, FEC_PM.class_id, inst, data)
        if reply.contents[:1] not in (bytes([Result.SUCCESS]), bytes([Result.INSTANCE_EXISTS])):
            raise OmciError(f"CREATE FEC PM {inst:#06x}: {describe_result(reply.contents[0])}")
        created.append(inst)
    t = time.gmtime(time.time() if now is None else now)
    reply = yield Request(
        MT.SYNCHRONIZE_TIME, ONU_G.class_id, 0,
        messages.synchronize_time(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec),
    )  # fmt: skip
    if reply.contents[:1] != bytes([Result.SUCCESS]):
        raise OmciError(f"SYNCHRONIZE_TIME: {describe_result(reply.contents[0])}")
    return created
