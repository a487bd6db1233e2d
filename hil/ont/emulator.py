"""The emulated ONT, sans-IO: downstream OMCI bytes in, (delay, upstream bytes) out.

It answers MIB upload, Get, Get current data, Test, Get all alarms, Synchronize time and Reboot from
a MIB in a data file (mib.json), and misbehaves as a scenario file (scenarios/*.json) says.
A retransmitted request (same TCI as the last one) gets the cached answer, as G.988 asks of an ONU.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.core.errors import InvalidInput
from agent.ont import frames, messages
from agent.ont.entities import (
    ENTITIES,
    EncodeError,
    bit,
    encode_attributes,
    indices,
    split_mask,
)
from agent.ont.frames import MT, FrameError, Message, Result

HERE = Path(__file__).resolve().parent
DEFAULT_MIB = HERE / "mib.json"
SCENARIOS_DIR = HERE / "scenarios"
MAX_DATA_FILE = 256 * 1024


class ScenarioError(InvalidInput):
    pass


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.json"))


def load_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_DATA_FILE:
        raise ScenarioError(f"{path}: larger than {MAX_DATA_FILE} bytes")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ScenarioError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: must hold a JSON object")
    return data


# What a scenario file may say, and of which type.
SCENARIO_KEYS: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "attributes": dict,  # "class/instance" → attribute values replacing the MIB's
    "test": dict,  # "class/instance" → self-test values replacing the MIB's
    "counters_growth": dict,  # "class/instance" → counter increments at each Get current data
    "alarms": dict,  # "class/instance" → standing alarm numbers
    "reboot_after_requests": int,
    "silent_requests": int,
    "delay_s": (int, float),
    "late_every": int,
    "late_delay_s": (int, float),
    "avc_per_request": int,
    "malformed_every": int,
    "corrupt_trailer_every": int,
    "frame": str,  # how its baseline messages travel: FRAME_FORMS
    "stray_failure_masks": int,  # written in the failure masks of every successful Get response
    "counts_per_interval": dict,  # "class/instance" → counts added in each 15-min interval
    "raise_alarms_at": int,  # the answer after which the scenario's alarms are notified
    "lose_alarms": int,  # notifications lost just before those (their sequence numbers skipped)
}
# baseline size and trailer: an ONT's G-PON OMCC (CRC), XG(S)-PON (MIC), an OLT adapter or BBSim
# handing over 44 bytes, a tool that drops the trailer.
FRAME_FORMS = {"48-crc": (48, False), "48-mic": (48, True), "44": (44, False), "40": (40, False)}


def check_scenario(scenario: dict[str, Any], origin: str) -> dict[str, Any]:
    for key, value in scenario.items():
        want = SCENARIO_KEYS.get(key)
        if want is None:
            raise ScenarioError(f"{origin}: unknown key {key!r}; known: {', '.join(SCENARIO_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, want):
            raise ScenarioError(f"{origin}: {key} has the wrong type ({type(value).__name__})")
        if key == "stray_failure_masks" or not isinstance(value, (int, float)):
            continue  # the masks have their own bound (below); lists and texts have none
        if not 0 <= value <= 10_000:
            raise ScenarioError(f"{origin}: {key} must be 0..10000")
    if "late_every" in scenario and "late_delay_s" not in scenario:
        raise ScenarioError(f"{origin}: late_every needs late_delay_s")
    if scenario.get("frame", "48-crc") not in FRAME_FORMS:
        raise ScenarioError(f"{origin}: frame must be one of {', '.join(FRAME_FORMS)}")
    if not 0 <= scenario.get("stray_failure_masks", 0) <= 0xFFFF:
        raise ScenarioError(f"{origin}: stray_failure_masks must be 0..65535")
    return scenario


def load_scenario(name: str) -> dict[str, Any]:
    if name not in scenario_names():
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(scenario_names())}")
    path = SCENARIOS_DIR / f"{name}.json"
    return check_scenario(load_json(path), str(path))


class Instance:
    """One ME instance of the emulated MIB: decoded attribute values, plus test data."""

    def __init__(self, class_id: int, instance: int, spec: dict[str, Any]) -> None:
        self.class_id = class_id
        self.instance = instance
        self.values: dict[str, Any] = dict(spec.get("attributes", {}))
        self.test: dict[str, Any] | None = spec.get("test")
        self.raw: dict[str, Any] | None = spec.get("raw")  # a class we do not model

    def encoded(self, names: list[str]) -> tuple[int, bytes]:
        entity = ENTITIES[self.class_id]
        return encode_attributes(entity, {n: self.values[n] for n in names})

    def upload_entries(self) -> list[messages.UploadEntry]:
        """Its attributes in MIB upload next entries of at most 26 value bytes each."""
        if self.raw is not None:
            values = bytes.fromhex(self.raw["values"])
            return [messages.UploadEntry(self.class_id, self.instance, self.raw["mask"], values)]
        entity = ENTITIES[self.class_id]
        all_mask, _ = self.encoded(list(self.values))
        entries = []
        for part in split_mask(self.class_id, all_mask, messages.UPLOAD_VALUES_BASELINE):
            names = [entity.attributes[i - 1].name for i in indices(part)]
            mask, data = self.encoded(names)
            entries.append(messages.UploadEntry(self.class_id, self.instance, mask, data))
        return entries


EXTENDED_TEST_CONTENTS = 5  # select test, buffer pointer, vendor parameters (G.988 A.3.27)


def self_test_result(test: dict[str, Any]) -> bytes:
    """An ANI-G self-test result as an ONU writes it, from G.988 A.2.27 and clause 9.2.1 (not from
    the agent's decoder): five (type, value) slots in this order, then the general-purpose
    buffer pointer; a value the ONU does not measure is written as type 0, value 0.
      1 power feed voltage, 2s complement, 20 mV
      3 received optical power, 2s complement dBµW, 0.002 dB  (dBm + 30)
      5 mean optical launch power, the same
      9 laser bias current, unsigned, 2 µA
      12 temperature, 2s complement, 1/256 °C
    """
    slots: list[tuple[int, str, Callable[[float], int], str]] = [
        (1, "voltage_v", lambda v: round(v / 0.02), ">h"),
        (3, "rx_dbm", lambda v: round((v + 30) / 0.002), ">h"),
        (5, "tx_dbm", lambda v: round((v + 30) / 0.002), ">h"),
        (9, "bias_ma", lambda v: round(v * 500), ">H"),
        (12, "temperature_c", lambda v: round(v * 256), ">h"),
    ]
    out = b""
    for kind, name, raw, fmt in slots:
        value = test.get(name)
        out += b"\x00\x00\x00" if value is None else bytes([kind]) + struct.pack(fmt, raw(value))
    return out + struct.pack(">H", test.get("buffer_pointer", 0))


def _pack_extended(entries: list[messages.UploadEntry]) -> list[bytes]:
    """Extended MIB upload next contents: as many entities per message as fit (G.988 A.3.14)."""
    packed: list[bytes] = []
    current = b""
    for e in entries:
        item = struct.pack("!HHHH", len(e.values), e.me_class, e.me_instance, e.mask) + e.values
        if current and len(current) + len(item) > frames.EXTENDED_MAX_CONTENTS:
            packed.append(current)
            current = b""
        current += item
    if current:
        packed.append(current)
    return packed


INTERVAL_S = 900
PM_CLASSES = (312, 341, 334, 425)


def _counter_names(class_id: int) -> list[str]:
    skip = {"interval_end_time", "threshold_data_id", "control_block"}
    return [a.name for a in ENTITIES[class_id].attributes if a.name not in skip]


def _continuous(values: dict[str, Any]) -> bool:
    """Ethernet frame extended PM in continuous accumulation (control fields bit 1)."""
    block = bytes.fromhex(values.get("control_block") or "")
    return len(block) == 16 and bool(block[11] & 0x01)


def _key(text: str) -> tuple[int, int]:
    cls, _, inst = text.partition("/")
    return int(cls), int(inst)


class Emulator:
    def __init__(
        self,
        mib: dict[str, Any] | None = None,
        scenario: dict[str, Any] | None = None,
        *,
        ik: bytes | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (seconds) makes PM intervals close every 15 minutes of it, and sets the
        ONT's up time; without one the PM history stays what the MIB file says."""
        mib = mib if mib is not None else load_json(DEFAULT_MIB)
        self.clock = clock
        self.booted_at = clock() if clock is not None else 0.0
        self.interval_start = self.booted_at
        self.scenario = scenario or {}
        self.ik = ik if ik is not None else frames.integrity_key()
        self.instances: dict[tuple[int, int], Instance] = {}
        for spec in mib.get("entities", []):
            inst = Instance(int(spec["class"]), int(spec["instance"]), spec)
            self.instances[(inst.class_id, inst.instance)] = inst
        for key, values in self.scenario.get("attributes", {}).items():
            self.instances[_key(key)].values.update(values)
        for key, values in self.scenario.get("test", {}).items():
            test = self.instances[_key(key)].test
            assert test is not None, f"scenario sets a test result on {key}, which has none"
            test.update(values)
        for inst in self.instances.values():
            try:
                inst.upload_entries()  # every value encodes: a bad MIB fails now, not mid-poll
            except (EncodeError, KeyError, ValueError, TypeError) as exc:
                raise ScenarioError(
                    f"MIB entity {inst.class_id}/{inst.instance}: {exc!r}"
                ) from None
        self.alarms = {_key(k): list(v) for k, v in self.scenario.get("alarms", {}).items()}
        self.requests = 0  # requests that reached the ONT, retransmissions included
        self.answers = 0
        self.rejected = 0  # frames from the OLT that did not decode
        self.alarm_sequence = 0
        self.seen: Counter[int] = Counter()  # requests answered, by message type
        self._upload: list[bytes] | None = None  # each MIB upload next answer's contents
        self._alarm_upload: list[tuple[int, int]] | None = None
        self._last: tuple[Message, list[bytes]] | None = None
        self._silent_left = 0
        self._rebooted = False
        self.history: dict[tuple[int, int], dict[str, Any]] = {}  # closed interval, per PM ME
        if clock is not None:  # the MIB file's PM values are the last closed interval
            for key, inst in self.instances.items():
                if key[0] in PM_CLASSES:
                    self.history[key] = dict(inst.values)
                    self._start_interval(inst)

    # --- the wire ----------------------------------------------------------------------------

    def receive(self, data: bytes, *, padded: bool = False) -> list[tuple[float, bytes]]:
        """Answer one downstream frame: what to send upstream, each after a delay in seconds."""
        try:
            req = frames.decode(data, ik=self.ik, upstream=False, padded=padded)
        except FrameError:
            self.rejected += 1
            return []
        if not req.ar:
            return []
        self.requests += 1
        self._close_intervals()
        if self._reboot_now():
            return []
        if self._last is not None and self._last[0] == req:
            out = self._last[1]  # a retransmission: same answer, do not act twice
        else:
            out = [self._encode(m) for m in self._answer(req)]
            self._last = (req, out)
        self.answers += 1
        self.seen[req.mt] += 1
        return self._spontaneous() + self._misbehave(out, req)

    def _encode(self, msg: Message) -> bytes:
        size, mic_trailer = FRAME_FORMS[self.scenario.get("frame", "48-crc")]
        return frames.encode(msg, ik=self.ik, upstream=True, size=size, mic_trailer=mic_trailer)

    def _reboot_now(self) -> bool:
        s = self.scenario
        after = s.get("reboot_after_requests")
        if after is None or self._rebooted:
            return False
        if self.requests == after + 1:
            self._silent_left = s.get("silent_requests", 1)
        if self._silent_left:
            self._silent_left -= 1
            if not self._silent_left:
                self._reset()
            return True
        return False

    def _spontaneous(self) -> list[tuple[float, bytes]]:
        """The scenario's standing alarms, reported once: when the OLT first talks to us, or at
        the answer `raise_alarms_at` says; `lose_alarms` notifications are lost just before."""
        if self.answers != self.scenario.get("raise_alarms_at", 1):
            return []
        out = []
        for _ in range(self.scenario.get("lose_alarms", 0)):
            self.alarm_sequence = self.alarm_sequence % 255 + 1  # sent, never arrived
        for (cls, inst), numbers in self.alarms.items():
            self.alarm_sequence = self.alarm_sequence % 255 + 1  # 1..255, 0 is never used
            body = messages.alarm_bitmap(numbers) + bytes(3) + bytes([self.alarm_sequence])
            out.append((0.0, self._encode(frames.notification(MT.ALARM, cls, inst, body))))
        return out

    # --- 15-minute PM intervals (with a clock) ------------------------------------------------

    def _close_intervals(self) -> None:
        if self.clock is None:
            return
        now = self.clock()
        per_interval = self.scenario.get("counts_per_interval", {})
        while now >= self.interval_start + INTERVAL_S:
            self.interval_start += INTERVAL_S
            for key, inst in self.instances.items():
                if key[0] not in PM_CLASSES:
                    continue
                for name, step in per_interval.get(f"{key[0]}/{key[1]}", {}).items():
                    width = 8 * ENTITIES[key[0]].attribute(name)[1].size
                    inst.values[name] = (inst.values.get(name, 0) + step) % (1 << width)
                self.history[key] = dict(inst.values)  # what Get now reads: the closed interval
                self._start_interval(inst)

    @staticmethod
    def _start_interval(inst: Instance) -> None:
        inst.values["interval_end_time"] = (inst.values["interval_end_time"] + 1) % 256
        if not _continuous(inst.values):
            for name in _counter_names(inst.class_id):
                inst.values[name] = 0  # a new interval counts from 0

    def reboot(self) -> None:
        """The ONT restarts: up time, interval numbering and continuous counters from 0."""
        self._reset()
        if self.clock is not None:
            self.booted_at = self.interval_start = self.clock()
        self.history.clear()
        for key, inst in self.instances.items():
            if key[0] in PM_CLASSES:
                inst.values["interval_end_time"] = 0
                for name in _counter_names(key[0]):
                    inst.values[name] = 0

    def _reset(self) -> None:
        """A reboot forgets every upload in progress and the MIB data sync counter."""
        self._rebooted = True
        self._upload = None
        self._alarm_upload = None
        self._last = None
        self.instances[(2, 0)].values["mib_data_sync"] = 0

    def _misbehave(self, out: list[bytes], req: Message) -> list[tuple[float, bytes]]:
        s = self.scenario
        n = self.answers
        delay = s.get("delay_s", 0.0)
        if s.get("late_every") and n % s["late_every"] == 0:
            delay = s["late_delay_s"]
        if s.get("malformed_every") and n % s["malformed_every"] == 0:
            junk = bytearray(out[0])
            junk[3] = 0x42  # neither baseline nor extended
            return [(delay, out[0][:20]), (delay, bytes(junk))]
        if s.get("corrupt_trailer_every") and n % s["corrupt_trailer_every"] == 0:
            bad = bytearray(out[0])
            bad[-1] ^= 0xFF  # the last byte is CRC or MIC (baseline 48 bytes, extended)
            out = [bytes(bad), *out[1:]]
        storm = []
        for i in range(s.get("avc_per_request", 0)):
            avc = frames.notification(MT.AVC, 263, 0x8001, bytes([0x00, 0x20, i % 256, 0]))
            storm.append((delay, self._encode(avc)))
        return [*storm, *((delay, frame) for frame in out)]

    # --- what an ONU answers --------------------------------------------------------------------

    def _answer(self, req: Message) -> list[Message]:
        handlers: dict[int, Callable[[Message], list[Message]]] = {
            MT.MIB_UPLOAD: self._mib_upload,
            MT.MIB_UPLOAD_NEXT: self._mib_upload_next,
            MT.GET: self._get,
            MT.GET_CURRENT_DATA: self._get,
            MT.TEST: self._test,
            MT.GET_ALL_ALARMS: self._get_all_alarms,
            MT.GET_ALL_ALARMS_NEXT: self._get_all_alarms_next,
            MT.SYNCHRONIZE_TIME: self._result_only,
            MT.REBOOT: self._reboot,
            MT.CREATE: self._create,
        }
        handler = handlers.get(req.mt)
        if handler is None:
            return [frames.response(req, bytes([Result.NOT_SUPPORTED]))]
        return handler(req)

    def _mib_upload(self, req: Message) -> list[Message]:
        entries = [e for inst in self.instances.values() for e in inst.upload_entries()]
        if req.extended:
            self._upload = _pack_extended(entries)
        else:
            self._upload = [messages.build_upload_next(e) for e in entries]
        return [frames.response(req, messages.sequence(len(self._upload)))]

    def _mib_upload_next(self, req: Message) -> list[Message]:
        number = int.from_bytes(req.contents[:2], "big")
        if self._upload is None or number >= len(self._upload):
            # nothing to upload: class 0, instance 0, no attributes
            body = bytes(8) if req.extended else bytes(6)
        else:
            body = self._upload[number]
        return [frames.response(req, body)]

    def _get(self, req: Message) -> list[Message]:
        def fail(result: Result) -> list[Message]:
            body = messages.build_get_response(result, 0, b"", extended=req.extended)
            return [frames.response(req, body)]

        if req.me_class not in ENTITIES:
            return fail(Result.UNKNOWN_ME)
        inst = self.instances.get((req.me_class, req.me_instance))
        if inst is None:
            return fail(Result.UNKNOWN_INSTANCE)
        if req.mt == MT.GET_CURRENT_DATA:
            self._grow_counters(inst)
        if req.me_class == 257 and self.clock is not None:
            inst.values["sys_up_time"] = round((self.clock() - self.booted_at) * 100)
        entity = ENTITIES[req.me_class]
        asked = int.from_bytes(req.contents[:2], "big")
        names, unsupported = [], 0
        for i in indices(asked):
            if i <= len(entity.attributes) and entity.attributes[i - 1].name in inst.values:
                names.append(entity.attributes[i - 1].name)
            else:
                unsupported |= bit(i)
        closed = self.history.get((req.me_class, req.me_instance))
        if req.mt == MT.GET and closed is not None:
            mask, data = encode_attributes(entity, {n: closed[n] for n in names})
        else:
            mask, data = inst.encoded(names)
        if not req.extended and len(data) > messages.GET_VALUES_BASELINE:
            return fail(Result.PARAMETER_ERROR)  # the OLT must split its mask
        result = Result.ATTRIBUTE_FAILURE if unsupported else Result.SUCCESS
        # Some XGS ONUs leave bytes in the failure masks of a successful response.
        optional = unsupported if unsupported else self.scenario.get("stray_failure_masks", 0)
        failed = 0 if unsupported else optional
        body = messages.build_get_response(
            result, mask, data, optional=optional, failed=failed, extended=req.extended
        )
        return [frames.response(req, body)]

    def _grow_counters(self, inst: Instance) -> None:
        growth = self.scenario.get("counters_growth", {}).get(f"{inst.class_id}/{inst.instance}")
        for name, step in (growth or {}).items():
            inst.values[name] = inst.values.get(name, 0) + step

    def _test(self, req: Message) -> list[Message]:
        inst = self.instances.get((req.me_class, req.me_instance))
        if inst is None or inst.test is None:
            return [frames.response(req, bytes([Result.NOT_SUPPORTED]))]
        if req.extended and len(req.contents) != EXTENDED_TEST_CONTENTS:
            return [frames.response(req, bytes([Result.PARAMETER_ERROR]))]
        body = self_test_result(inst.test)
        return [
            frames.response(req, bytes([Result.SUCCESS])),
            frames.notification(
                MT.TEST_RESULT, req.me_class, req.me_instance, body, tci=req.tci,
                extended=req.extended,
            ),
        ]  # fmt: skip

    def _get_all_alarms(self, req: Message) -> list[Message]:
        self._alarm_upload = [key for key, numbers in self.alarms.items() if numbers]
        self.alarm_sequence = 0  # the sequence starts over (alarm_manager.go resets it too)
        return [frames.response(req, messages.sequence(len(self._alarm_upload)))]

    def _get_all_alarms_next(self, req: Message) -> list[Message]:
        number = int.from_bytes(req.contents[:2], "big")
        if self._alarm_upload is None or number >= len(self._alarm_upload):
            return [frames.response(req, bytes(4 + messages.ALARM_BITMAP))]
        cls, inst = self._alarm_upload[number]
        body = messages.sequence(cls) + messages.sequence(inst)
        return [frames.response(req, body + messages.alarm_bitmap(self.alarms[(cls, inst)]))]

    def _create(self, req: Message) -> list[Message]:
        """Create a PM history ME (lab mode): set-by-create threshold data id, counters at 0."""
        key = (req.me_class, req.me_instance)
        if req.me_class not in PM_CLASSES:
            return [frames.response(req, bytes([Result.NOT_SUPPORTED]))]
        if key in self.instances:
            return [frames.response(req, bytes([Result.INSTANCE_EXISTS]))]
        values: dict[str, Any] = dict.fromkeys(_counter_names(req.me_class), 0)
        values["interval_end_time"] = 0
        values["threshold_data_id"] = int.from_bytes(req.contents[:2], "big")
        self.instances[key] = Instance(req.me_class, req.me_instance, {"attributes": values})
        mds = self.instances[(2, 0)].values
        mds["mib_data_sync"] = mds["mib_data_sync"] % 255 + 1  # the MIB changed
        return [frames.response(req, bytes([Result.SUCCESS]))]

    def _result_only(self, req: Message) -> list[Message]:
        return [frames.response(req, bytes([Result.SUCCESS]))]

    def _reboot(self, req: Message) -> list[Message]:
        self._reset()
        return [frames.response(req, bytes([Result.SUCCESS]))]
