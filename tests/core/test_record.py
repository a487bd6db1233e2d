"""agent.core.record: the payload schema's required fields, bounds and privacy rule.

Runs under CPython (pytest) and MicroPython (tests/mpy/run.mjs).
"""

import json

from agent.core import cbor, record

VERSIONS = {"agent": "0.1.0", "board": "lilygo-t-sim7600", "firmware": "mpy-1.27"}


def _good(**changes):
    args = {
        "probe": "probe-01.example_A",
        "epoch": 3,
        "seq": 42,
        "time_ms": 1764400000000,
        "synced": True,
        "kind": "radio",
        "values": {"rsrp_dbm": -95.5, "band": "n78", "cells": [{"pci": 1}]},
        "versions": VERSIONS,
        "context": {"radio": {"rsrp_dbm": -95.5}},
    }
    args.update(changes)
    return args


def _rejected(expected_text, **changes):
    try:
        record.encode(**_good(**changes))
    except record.RecordError as exc:
        assert expected_text in str(exc), "%r does not say %r" % (str(exc), expected_text)
        return
    raise AssertionError("accepted %r" % (changes,))


def _decode_rejects(fields, expected_text):
    try:
        record.decode(cbor.dumps(fields))
    except record.RecordError as exc:
        assert expected_text in str(exc), "%r does not say %r" % (str(exc), expected_text)
        return
    raise AssertionError("decoded %r" % (fields,))


def test_encode_decode_round_trip_with_named_fields():
    raw = record.encode(**_good())
    rec = record.decode(raw)
    assert rec["v"] == record.SCHEMA_VERSION
    assert rec["probe"] == "probe-01.example_A"
    assert (rec["epoch"], rec["seq"], rec["time_ms"], rec["synced"]) == (3, 42, 1764400000000, True)
    assert rec["kind"] == "radio"
    assert rec["values"] == {"rsrp_dbm": -95.5, "band": "n78", "cells": [{"pci": 1}]}
    assert rec["context"] == {"radio": {"rsrp_dbm": -95.5}}
    assert rec["versions"] == VERSIONS


def test_encoding_is_deterministic_and_uses_integer_keys():
    raw = record.encode(**_good())
    # Same content in another insertion order gives the same bytes: one record, one encoding.
    values = {"cells": [{"pci": 1}], "band": "n78", "rsrp_dbm": -95.5}
    assert record.encode(**_good(values=values)) == raw
    fields = cbor.loads(raw)
    assert sorted(fields) == list(range(1, 11))


def test_context_is_optional_and_decodes_as_empty():
    raw = record.encode(**_good(context=None))
    assert record.K_CONTEXT not in cbor.loads(raw)
    assert record.decode(raw)["context"] == {}


def test_unknown_is_null_not_zero():
    rec = record.decode(record.encode(**_good(values={"rsrp_dbm": None})))
    assert rec["values"] == {"rsrp_dbm": None}


def test_probe_id_is_a_safe_topic_level():
    for probe in ("a", "A-z_0.9", "p" * 64):
        assert record.valid_probe_id(probe)
    for probe in ("", "p" * 65, "a/b", "a+b", "#", "a b", "caf\u00e9", "\u0661\u0662", None, 7):
        assert not record.valid_probe_id(probe), probe
    _rejected("probe id", probe="a/b")


def test_rejects_bad_counters_and_flags():
    _rejected("seq must be", seq=-1)
    _rejected("seq must be", seq=True)
    _rejected("seq must be", seq=2**64)
    _rejected("epoch must be", epoch=2**32)
    _rejected("epoch must be", epoch="3")
    _rejected("time_ms must be", time_ms=1.5)
    _rejected("synced must be", synced=1)
    _rejected("kind 'speed'", kind="speed")


def test_subscriber_identities_are_never_recorded():
    for key in ("imsi", "ICCID", "msisdn", "phone", "phone_number", "Imei"):
        _rejected("subscriber identity", values={key: "001010123456789"})
        _rejected("subscriber identity", context={"radio": {key: "x"}})
    _rejected("values.sim.imsi", values={"sim": {"imsi": "x"}})
    _rejected("subscriber identity", values={"cells": [{"iccid": "x"}]})
    # Any key naming one in one of its words, whatever the case or the separator (issue 19).
    for key in ("imsi_value", "subscriberImsi", "ICCID2", "phone-number", "msisdn.hash",
                "sim_imei", "IMEISV", "x_Imsi_y"):  # fmt: skip
        _rejected("subscriber identity", values={key: "x"})
    for key in ("headphone_count", "optimsize", "rsrp_dbm", "simsiX"):
        record.encode(**_good(values={key: 1}))


def test_value_trees_are_bounded():
    _rejected("nests deeper", values={"a": {"b": {"c": {"d": 1}}}})
    too_many = dict(("k%d" % i, i) for i in range(record.MAX_MAP + 1))
    _rejected("more than %d entries" % record.MAX_MAP, values=too_many)
    _rejected("more than %d items" % record.MAX_ARRAY, values={"a": [0] * (record.MAX_ARRAY + 1)})
    _rejected("longer than %d" % record.MAX_TEXT, values={"a": "x" * (record.MAX_TEXT + 1)})
    _rejected("not a short text", values={"": 1})
    _rejected("not a short text", values={"k" * 65: 1})
    _rejected("not a short text", values={1: 1})
    _rejected("not a finite number", values={"a": float("nan")})
    _rejected("not a finite number", values={"a": float("inf")})
    _rejected("type bytes", values={"a": b"\x00"})
    _rejected("values must be a map", values=[1])
    _rejected("context must be a map", context=[1])


def test_texts_and_keys_hold_only_what_every_store_keeps():
    # PostgreSQL text and JSONB refuse U+0000 (docs: "Character Types", "JSON Types");
    # SQLite keeps it: refused here so both engines hold the same records.
    _rejected("values.band holds a NUL", values={"band": "n7\x008"})
    _rejected("context.radio.cell holds a NUL", context={"radio": {"cell": "\x00"}})
    _rejected("versions.agent holds a NUL", versions=dict(VERSIONS, agent="0.1\x00"))
    _rejected("values.cells holds a NUL", values={"cells": ["a", "b\x00"]})
    for ch in ("\x00", "\n", "\t", "\x1f", "\x7f"):
        _rejected("control character", values={"rsrp" + ch + "dbm": 1})
    record.encode(**_good(values={"band": "n78 \u0628\u0645 \x80"}))  # printable and C1 stay


def test_versions_name_agent_board_and_firmware():
    _rejected("versions.firmware must be text", versions={"agent": "1", "board": "b"})
    _rejected("versions.agent must be text", versions={"agent": 1, "board": "b", "firmware": "f"})
    _rejected("versions must be a map", versions="1.0")


def test_oversized_payload_is_refused():
    values = dict(("k%02d" % i, "x" * record.MAX_TEXT) for i in range(40))
    _rejected("exceeds %d" % record.MAX_PAYLOAD, values=values)
    try:
        record.decode(b"\xa0" * (record.MAX_PAYLOAD + 1))
    except record.RecordError as exc:
        assert "exceeds" in str(exc)
    else:
        raise AssertionError("an oversized payload was decoded")


def test_decode_rejects_what_encode_would_not_make():
    fields = cbor.loads(record.encode(**_good()))
    _decode_rejects([1, 2], "payload must be a map")
    missing = dict(fields)
    del missing[record.K_SEQ]
    _decode_rejects(missing, "missing field seq")
    unknown = dict(fields)
    unknown[99] = 0
    _decode_rejects(unknown, "unknown field 99")
    wrong_version = dict(fields)
    wrong_version[record.K_VERSION] = 99
    _decode_rejects(wrong_version, "schema version 99 is not one of 1, 2")
    wrong_version[record.K_VERSION] = True
    _decode_rejects(wrong_version, "schema version True")
    try:
        record.decode(b"\xa1\x01")
    except record.RecordError as exc:
        assert "not well-formed" in str(exc)
    else:
        raise AssertionError("a truncated payload was decoded")
    try:
        record.decode(cbor.dumps(cbor.Tag(1, fields)))
    except record.RecordError as exc:
        assert "tag 1" in str(exc)
    else:
        raise AssertionError("a tagged payload was decoded")


# A version-1 payload as the agents in the field make it (the vector names the code that made it).
V1_PATH = __file__.rsplit("/", 1)[0] + "/vectors/record-v1-capacity.json"


def _v1():
    with open(V1_PATH) as f:
        return json.load(f)


V2_FIELDS = {
    "started_ms": 1764399990000,
    "duration_ms": 10000,
    "validity": {"verdict": "flagged", "reasons": ["link-change"]},
    "link": {"before": {"time_ms": 1764399989000}, "after": {"time_ms": 1764400000500}},
    "queue": {"wait_ms": 1200, "attempt": 1},
}


def test_a_version_1_record_from_the_field_still_decodes():
    v1 = _v1()
    rec = record.decode(bytes.fromhex(v1["payload_hex"]))
    assert rec["v"] == 1
    for name in ("probe", "epoch", "seq", "time_ms", "synced", "kind", "values", "context"):
        assert rec[name] == v1[name], name
    # Today's encoder asked for version 1 writes the very same bytes.
    again = record.encode(
        v1["probe"],
        v1["epoch"],
        v1["seq"],
        v1["time_ms"],
        v1["synced"],
        v1["kind"],
        v1["values"],
        v1["versions"],
        v1["context"],
        version=1,
    )
    assert again == bytes.fromhex(v1["payload_hex"])


def test_the_agent_writes_the_newest_version_with_its_added_fields():
    assert max(record.VERSIONS) == record.SCHEMA_VERSION
    rec = record.decode(record.encode(extra=V2_FIELDS, **_good(kind="capacity")))
    assert rec["v"] == record.SCHEMA_VERSION
    for name in V2_FIELDS:
        assert rec[name] == V2_FIELDS[name], name
    fields = cbor.loads(record.encode(extra={"started_ms": 1, "duration_ms": None}, **_good()))
    assert record.K_STARTED in fields and record.K_DURATION not in fields


def test_strictness_stays_within_each_version():
    v1 = cbor.loads(bytes.fromhex(_v1()["payload_hex"]))
    for key in (record.K_STARTED, record.K_VALIDITY, record.K_QUEUE):
        later = dict(v1)
        later[key] = 1
        _decode_rejects(later, "unknown field %d in schema version 1" % key)
    v2 = cbor.loads(record.encode(extra=V2_FIELDS, **_good(kind="capacity")))
    v2[99] = 0
    _decode_rejects(v2, "unknown field 99 in schema version 2")
    _rejected("kind 'speed' is not one of", kind="speed")
    try:
        record.encode(extra={"context": {}}, **_good())
    except record.RecordError as exc:
        assert "unknown field 'context'" in str(exc)
    else:
        raise AssertionError("extra may not replace a version-1 field")
    try:
        record.encode(extra={"speed": 1}, **_good())
    except record.RecordError as exc:
        assert "unknown field 'speed'" in str(exc)
    else:
        raise AssertionError("an unknown extra field was encoded")


def test_the_kinds_version_2_adds_are_refused_in_version_1():
    v1 = cbor.loads(bytes.fromhex(_v1()["payload_hex"]))
    for kind in ("web", "streaming"):
        later = dict(v1)
        later[record.K_KIND] = kind
        _decode_rejects(later, "kind %r is not one of" % kind)
        fields = cbor.loads(record.encode(**_good(kind=kind)))
        assert fields[record.K_VERSION] == 2 and fields[record.K_KIND] == kind


def test_version_2_fields_are_checked():
    def rejected(text, **extra):
        try:
            record.encode(extra=extra, **_good())
        except record.RecordError as exc:
            assert text in str(exc), "%r does not say %r" % (str(exc), text)
            return
        raise AssertionError("accepted %r" % (extra,))

    rejected("started_ms must be an integer", started_ms=1.5)
    rejected("duration_ms must be", duration_ms=-1)
    rejected("validity.verdict must be", validity={"verdict": "ok", "reasons": []})
    rejected("validity.reasons must be", validity={"verdict": "valid"})
    rejected("validity.reasons must be", validity={"verdict": "flagged", "reasons": [1]})
    rejected("flagged exactly when", validity={"verdict": "valid", "reasons": ["unstable"]})
    rejected("flagged exactly when", validity={"verdict": "flagged", "reasons": []})
    rejected("link must be a map", link=[1])
    rejected("queue must be a map", queue=3)
    rejected("subscriber identity", link={"before": {"imsi": "x"}})
