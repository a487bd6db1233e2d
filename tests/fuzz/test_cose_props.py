"""Hostile and random input to the record path: CBOR, COSE_Sign1, the record schema, and the
collector's gate (`collector.verify.check_message`). Each refuses with its own error type and a
reason, never another exception; what we encode, the peers (cbor2) read back unchanged."""

from __future__ import annotations

import math
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import cbor, cose, record
from agent.core.keyid import kid_for
from collector import verify
from collector.store import KeyRow
from collector.verify import Rejected, Verified, check_message

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
KID = kid_for(PUBLIC)
PROBE = "probe-1"
ROW = KeyRow(probe=PROBE, kid=KID, public_key=PUBLIC, added_at_ms=0)
NOW_MS = 1_800_000_000_000


def lookup(kid: bytes) -> KeyRow | None:
    return ROW if kid == KID else None


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.binary(max_size=30)
)
TREES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.integers(-100, 100) | st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(st.binary(max_size=2000))
def test_cbor_decoder_takes_any_bytes(data: bytes) -> None:
    try:
        cbor.loads(data)
    except cbor.CBORError as exc:
        assert " at byte " in str(exc)


@given(TREES)
def test_cbor_round_trips_and_cbor2_agrees(value: Any) -> None:
    raw = cbor.dumps(value)
    assert cbor.loads(raw) == value
    assert cbor2.loads(raw) == value
    # Deterministic: one value, one encoding (cbor2's reading re-encodes to the same bytes).
    assert cbor.dumps(cbor2.loads(raw)) == raw


@given(st.binary(max_size=3000))
def test_cose_parser_takes_any_bytes(data: bytes) -> None:
    try:
        cose.parse_sign1(data)
    except cose.COSEError as exc:
        assert str(exc)


@settings(max_examples=50)
@given(st.binary(max_size=4000), st.binary(min_size=1, max_size=32))
def test_what_we_sign_parses_back_and_verifies(payload: bytes, kid: bytes) -> None:
    msg = cose.parse_sign1(cose.sign1(payload, kid, KEY.sign))
    assert (msg.payload, msg.kid) == (payload, kid)
    KEY.public_key().verify(msg.signature, msg.to_be_signed())  # raises if it does not


@given(st.binary(max_size=9000))
def test_record_decoder_takes_any_bytes(data: bytes) -> None:
    try:
        record.decode(data)
    except record.RecordError as exc:
        assert str(exc)


VALUE_KEYS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
    lambda k: not record.names_subscriber_identity(k)
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    # Any text but NUL, which no PostgreSQL text holds (issue 19).
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
)
# values is level 1 of the record's nesting; two more levels stay within record.MAX_NEST.
VALUES = st.dictionaries(
    VALUE_KEYS,
    LEAVES | st.dictionaries(VALUE_KEYS, LEAVES | st.dictionaries(VALUE_KEYS, LEAVES, max_size=3)),
    max_size=8,
)
RECORDS = st.fixed_dictionaries(
    {
        "epoch": st.integers(0, 2**32 - 1),
        "seq": st.integers(0, 2**63 - 1),
        # Any time the collector's window around arrival takes (issue 19).
        "time_ms": st.integers(NOW_MS - verify.MAX_AGE_MS, NOW_MS + verify.MAX_AHEAD_MS),
        "synced": st.booleans(),
        "kind": st.sampled_from(record.KINDS),
        "values": VALUES,
    }
)
VERSIONS = {"agent": "0.1", "board": "b", "firmware": "f"}


def signed_record(fields: dict[str, Any]) -> bytes:
    payload = record.encode(
        PROBE,
        fields["epoch"],
        fields["seq"],
        fields["time_ms"],
        fields["synced"],
        fields["kind"],
        fields["values"],
        VERSIONS,
    )
    return cose.sign1(payload, KID, KEY.sign)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@settings(max_examples=200)
@given(RECORDS)
def test_collector_accepts_a_signed_record_as_it_was_measured(fields: dict[str, Any]) -> None:
    outcome = check_message(signed_record(fields), lookup, NOW_MS, PROBE)
    assert isinstance(outcome, Verified), outcome
    for name, value in fields.items():
        assert _same(outcome.record[name], value), name


@settings(max_examples=200)
@given(RECORDS, st.data())
def test_collector_refuses_any_single_byte_change(fields: dict[str, Any], data: Any) -> None:
    raw = bytearray(signed_record(fields))
    at = data.draw(st.integers(0, len(raw) - 1), label="at")
    raw[at] ^= data.draw(st.integers(1, 255), label="xor")
    outcome = check_message(bytes(raw), lookup, NOW_MS, PROBE)
    assert isinstance(outcome, Rejected), f"accepted a record changed at byte {at}"
    assert outcome.reason


@settings(max_examples=200)
@given(st.binary(max_size=20000), st.sampled_from([None, PROBE, "other"]))
def test_collector_gate_takes_any_bytes(data: bytes, topic_probe: str | None) -> None:
    outcome = check_message(data, lookup, NOW_MS, topic_probe)
    assert isinstance(outcome, Rejected) and outcome.reason
