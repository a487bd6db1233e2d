"""Independent peers check our envelope and schema: pycose, the COSE WG examples, pycddl."""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pycddl
import pytest
from probe_signing import SigningProbe
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from agent.core import cbor, cose, record
from collector.store import KeyRow, now_ms
from collector.verify import Rejected, Verified, check_message, open_envelope

VECTOR_FILE = Path(__file__).parents[1] / "core" / "vectors" / "cose-eddsa-sig-01.json"
VECTOR = json.loads(VECTOR_FILE.read_text())
VECTOR_KEY = KeyRow(probe="cose-wg", kid=b"11", public_key=bytes.fromhex(VECTOR["key"]["x_hex"]))
CDDL = (Path(record.__file__).parent / "record.cddl").read_text()


def _vector_lookup(kid: bytes) -> KeyRow | None:
    return VECTOR_KEY if kid == VECTOR_KEY.kid else None


def _pycose_decode(signed: bytes) -> Sign1Message:
    """Sign1Message.decode, minus its type checks: cbor2 6 returns a tagged array as a tuple and
    a map in it as a frozendict, which pycose 1.1 (written for cbor2 5) refuses."""
    tagged = cbor2.loads(signed)
    assert tagged.tag == cose.TAG_SIGN1
    protected, unprotected, payload, signature = tagged.value
    parts = [protected, dict(unprotected), payload, signature]
    msg: Sign1Message = Sign1Message.from_cose_obj(parts, True)
    return msg


def test_pycose_verifies_our_records() -> None:
    probe = SigningProbe("ma-peer-0001")
    signed = probe.record(3, kind="capacity", values={"down_mbps": 312.4, "up_mbps": 48.0})

    msg = _pycose_decode(signed)
    msg.key = OKPKey(crv=Ed25519, x=probe.public_key)

    assert msg.verify_signature()
    assert msg.phdr_encoded  # alg and kid travel in the protected header
    assert record.decode(msg.payload)["values"] == {"down_mbps": 312.4, "up_mbps": 48.0}


def test_we_accept_a_record_pycose_signed() -> None:
    probe = SigningProbe("ma-peer-0002")
    private = OKPKey(crv=Ed25519, x=probe.public_key, d=probe.private_key.private_bytes_raw())
    msg = Sign1Message(phdr={1: -8, 4: probe.kid}, payload=probe.payload(9))
    msg.key = private
    key = KeyRow(probe=probe.probe, kid=probe.kid, public_key=probe.public_key)

    verdict = check_message(msg.encode(), lambda kid: key if kid == key.kid else None, now_ms())

    assert isinstance(verdict, Verified)
    assert verdict.record["seq"] == 9


def test_we_accept_the_cose_wg_example_eddsa_sig_01() -> None:
    opened = open_envelope(bytes.fromhex(VECTOR["cose_sign1_hex"]), _vector_lookup)

    assert not isinstance(opened, Rejected), opened
    msg, key = opened
    assert msg.payload == VECTOR["payload_text"].encode()
    assert msg.to_be_signed().hex() == VECTOR["to_be_signed_hex"]
    assert key is VECTOR_KEY


def _vector_parts() -> list[object]:
    tagged = cbor.loads(bytes.fromhex(VECTOR["cose_sign1_hex"]))
    assert isinstance(tagged, cbor.Tag) and tagged.tag == cose.TAG_SIGN1
    assert isinstance(tagged.value, list)
    return list(tagged.value)


def _remade(tag: int = cose.TAG_SIGN1, **parts: object) -> bytes:
    """The example with some of its four parts replaced (the fail cases of sign1-tests)."""
    names = ["protected", "unprotected", "payload", "signature"]
    values = _vector_parts()
    for name, value in parts.items():
        values[names.index(name)] = value
    return cbor.dumps(cbor.Tag(tag, values))


def _flipped(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


_PROTECTED, _UNPROTECTED, _PAYLOAD, _SIGNATURE = _vector_parts()
assert isinstance(_SIGNATURE, bytes) and isinstance(_PAYLOAD, bytes)

# The failure cases of the COSE WG sign1-tests, rebuilt on eddsa-sig-01: each must be refused.
SIGN1_FAIL_CASES = {
    "wrong tag": (_remade(tag=998), "tag 998"),
    "untagged": (cbor.dumps(_vector_parts()), "not tagged"),
    "payload changed": (_remade(payload=_PAYLOAD + b"!"), "bad signature"),
    "signature changed": (_remade(signature=_flipped(_SIGNATURE, 5)), "bad signature"),
    "protected header changed": (
        _remade(protected=cbor.dumps({1: -8, 3: 1})),
        "bad signature",
    ),
    "unknown alg": (_remade(protected=cbor.dumps({1: -999})), "alg -999 is not EdDSA"),
    "alg as text": (_remade(protected=cbor.dumps({1: "EdDSA"})), "is not EdDSA"),
    "alg in unprotected": (
        _remade(protected=b"", unprotected={1: -8, 4: b"11"}),
        "alg must be in the protected header",
    ),
    "critical header": (_remade(protected=cbor.dumps({1: -8, 2: [3]})), "critical"),
    "short signature": (_remade(signature=_SIGNATURE[:63]), "64-byte"),
    "detached payload": (_remade(payload=None), "detached"),
    "three parts": (cbor.dumps(cbor.Tag(18, _vector_parts()[:3])), "array of 4"),
    "unknown kid": (_remade(unprotected={4: b"12"}), "unknown kid 3132"),
}


@pytest.mark.parametrize("case", sorted(SIGN1_FAIL_CASES))
def test_we_refuse_the_sign1_fail_cases(case: str) -> None:
    raw, reason = SIGN1_FAIL_CASES[case]

    verdict = open_envelope(raw, _vector_lookup)

    assert isinstance(verdict, Rejected)
    assert reason in verdict.reason


def test_pycddl_validates_our_records_against_our_cddl() -> None:
    schema = pycddl.Schema(CDDL)
    probe = SigningProbe("ma-peer-0003")
    # Only the kinds whose values the spine defines; each kind's owner tests its own refinement.
    payloads = [
        probe.payload(1),
        probe.payload(2, kind="status", values={"event": "birth"}),
        probe.payload(3, context={"radio": {"rsrp_dbm": -95, "cell": "604-00-1234"}}),
    ]
    # Every schema version: a frozen version-1 payload, and version 2 with all its added fields.
    v1_path = Path(__file__).parents[1] / "core/vectors/record-v1-capacity.json"
    v1 = json.loads(v1_path.read_text())
    payloads.append(bytes.fromhex(v1["payload_hex"]))
    payloads.append(
        record.encode(
            probe.probe,
            1,
            4,
            v1["time_ms"],
            True,
            "capacity",
            v1["values"],
            v1["versions"],
            v1["context"],
            extra={
                "started_ms": v1["time_ms"] - 15_000,
                "duration_ms": 14_000,
                "validity": {"verdict": "flagged", "reasons": ["link-change"]},
                "link": {"before": {"time_ms": 1, "radio": {}}, "after": {"time_ms": 2}},
                "queue": {"wait_ms": 300, "attempt": 2, "retry_reason": "cross-traffic"},
            },
        )
    )
    for payload in payloads:
        schema.validate_cbor(payload)
    v1_with_v2_field = cbor.loads(payloads[3])
    assert isinstance(v1_with_v2_field, dict)
    v1_with_v2_field[record.K_STARTED] = 1
    with pytest.raises(pycddl.ValidationError):
        schema.validate_cbor(cbor.dumps(v1_with_v2_field))
    missing_seq = cbor.loads(payloads[0])
    assert isinstance(missing_seq, dict)
    del missing_seq[record.K_SEQ]
    with pytest.raises(pycddl.ValidationError):
        schema.validate_cbor(cbor.dumps(missing_seq))
