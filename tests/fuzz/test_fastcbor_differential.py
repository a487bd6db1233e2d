"""Differential test of the collector's fast CBOR decoder (collector.fastcbor, cbor2's C decoder
under a deterministic-encoding check) against the portable one (agent.core.cbor): on every input
they accept the same, refuse the same with the same text, and decode to the same values.

Inputs: random bytes; our own deterministic encodings of random values, and mutations of them
(one byte changed, truncated, bytes appended); cbor2's encodings of random values in its other
modes (non-deterministic floats, indefinite lengths, semantic tags such as bignums, datetimes and
sets, value sharing, string references); and every one-byte mutation of signed records as the
agent emits them. Each input is decoded under each bound profile the record path uses.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import cbor, cose, record
from collector import fastcbor

# (max_depth, max_items, tags) as agent.core.cose, agent.core.record and the cbor defaults use them.
PROFILES = [
    (4, 64, (cose.TAG_SIGN1,)),  # COSE_Sign1 envelope
    (2, 32, None),  # protected header
    (record.MAX_NEST + 2, 2048, ()),  # record payload
    (cbor.MAX_DEPTH, cbor.MAX_ITEMS, None),  # defaults
]


def outcome(loads: Any, data: bytes, profile: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "accepted", loads(data, *profile)
    except cbor.CBORError as exc:
        return "refused", str(exc)


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (True is not 1, 1.0 not 1, -0.0 not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            type(k) is type(j) and same(a[k], b[j]) for k, j in zip(a, b, strict=True)
        )
    if isinstance(a, cbor.Tag):
        return a.tag == b.tag and same(a.value, b.value)
    return bool(a == b)


def assert_agree(data: bytes) -> list[str]:
    verdicts = []
    for profile in PROFILES:
        portable = outcome(cbor.loads, data, profile)
        fast = outcome(fastcbor.loads, data, profile)
        assert portable[0] == fast[0], (data.hex(), profile, portable, fast)
        assert same(portable[1], fast[1]), (data.hex(), profile, portable, fast)
        verdicts.append(portable[0])
    return verdicts


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
# Keys the portable decoder refuses too (bool, float, bytes): the fast path must refuse the same.
KEYS = (
    st.integers(-(2**64), 2**64 - 1)
    | st.text(max_size=10)
    | st.booleans()
    | st.floats()
    | st.binary(max_size=3)
)


def trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.dictionaries(KEYS, inner, max_size=5)
            | st.builds(cbor.Tag, st.sampled_from([0, 1, 2, 18, 24, 55799, 2**32]), inner)
        ),
        max_leaves=30,
    )


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_agree(data: bytes) -> None:
    assert_agree(data)


@settings(max_examples=1500, deadline=None)
@given(trees(SCALARS), st.integers(0, 2**16), st.integers(0, 255), st.sampled_from("keep cut add"))
def test_deterministic_encodings_and_their_mutations_agree(
    value: Any, where: int, byte: int, how: str
) -> None:
    data = cbor.dumps(value)
    assert_agree(data)
    at = where % len(data)
    changed = {"keep": data[:at] + bytes([byte]) + data[at + 1 :], "cut": data[:at]}
    assert_agree(changed.get(how, data + bytes([byte])))


CBOR2_LEAVES = (
    SCALARS
    | st.integers(-(2**80), 2**80)  # bignums beyond 64 bits: tags 2 and 3
    | st.datetimes(timezones=st.just(datetime.UTC))
    | st.frozensets(st.integers(0, 5), max_size=3)
    | st.just(cbor2.undefined)
    | st.builds(cbor2.CBORSimpleValue, st.sampled_from([0, 16, 19, 32, 255]))
)


@settings(max_examples=1500, deadline=None)
@given(
    st.recursive(
        CBOR2_LEAVES,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
        max_leaves=20,
    ),
    st.fixed_dictionaries(
        {
            "canonical": st.booleans(),
            "value_sharing": st.booleans(),
            "string_referencing": st.booleans(),
        }
    ),
    st.booleans(),
)
def test_cbor2_encodings_agree(value: Any, options: dict[str, bool], self_describe: bool) -> None:
    data = cbor2.dumps(value, timezone=datetime.UTC, **options)
    assert_agree(b"\xd9\xd9\xf7" + data if self_describe else data)


def agent_messages() -> list[bytes]:
    """Signed records as the agent emits them (the signature is not the decoder's business)."""
    out = []
    for seq, (kind, values, context) in enumerate(
        [
            ("latency", {"rtt_ms_median": 18.4, "loss_pct": 0.0, "samples": 100}, None),
            ("capacity", {"down_mbps": 412.5, "up_mbps": 48.25, "streams": 4}, None),
            (
                "radio",
                {"rsrp_dbm": -92, "sinr_db": 14.5, "bands": [1, 3, 78]},
                {"radio": {"rat": "NR-SA", "cell": "604-00-12345", "rsrp_dbm": -92}},
            ),
            ("health", {"uptime_s": 2**40, "temp_c": -0.5, "note": None, "ok": True}, None),
        ]
    ):
        payload = record.encode(
            "ma-diff-0001", 7, seq, 1_800_000_000_000 + seq, True, kind, values,
            {"agent": "0.1", "board": "rpi4", "firmware": "x"}, context,
        )  # fmt: skip
        out.append(cose.sign1(payload, b"\x01\x02\x03\x04", lambda _: bytes(64)))
    return out


def test_agent_records_take_the_fast_path() -> None:
    """The agent's deterministic encoding is what makes the fast path pay: it must not fall back."""
    for message in agent_messages():
        parsed = cose.parse_sign1(message)
        for data, (max_depth, max_items, tags) in [
            (message, PROFILES[0]),
            (parsed.protected_raw, PROFILES[1]),
            (parsed.payload, PROFILES[2]),
        ]:
            assert same(fastcbor.fast_loads(data, max_depth, max_items, tags), cbor.loads(data))


def test_every_one_byte_mutation_of_agent_records_agrees() -> None:
    verdicts: dict[str, int] = {"accepted": 0, "refused": 0}
    for message in agent_messages():
        payload = cose.parse_sign1(message).payload
        for data in (message, payload):
            for at in range(len(data)):
                for byte in {0x00, 0x18, 0x1F, 0x5F, 0x7F, 0x9F, 0xBF, 0xC2, 0xF5, 0xF9, 0xFF,
                             data[at] ^ 0x01, data[at] ^ 0x20}:  # fmt: skip
                    mutated = data[:at] + bytes([byte]) + data[at + 1 :]
                    for verdict in assert_agree(mutated):
                        verdicts[verdict] += 1
    # The corpus exercises both answers, or agreement would prove nothing.
    assert verdicts["accepted"] > 1000 and verdicts["refused"] > 1000, verdicts
