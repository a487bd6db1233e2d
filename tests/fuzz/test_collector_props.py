"""Hostile input to the collector: whatever arrives, it is stored verified or quarantined with a
reason, never raises, and no altered record passes as genuine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "collector"))
from probe_signing import SigningProbe

from agent.core import acks, cbor, topics
from collector import batch, registry
from collector.store import Store, open_store
from collector.verify import Rejected, Verified, check_message

PROBE = SigningProbe("ma-fuzz-0001")
AT = 1_789_999_200_000  # 2026-09-21T14:00:00Z: when GENUINE was measured and when it arrives
GENUINE = PROBE.record(42, kind="latency", values={"rtt_ms_median": 20.5}, time_ms=AT)
KEY = registry.KeyRow(probe=PROBE.probe, kid=PROBE.kid, public_key=PROBE.public_key)


def lookup(kid: bytes) -> registry.KeyRow | None:
    return KEY if kid == KEY.kid else None


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with open_store(":memory:") as s:
        registry.add_key(s, PROBE.probe, PROBE.public_key)
        yield s


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.floats() | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.integers(-3, 12) | st.text(max_size=5), inner, max_size=5)
    | st.builds(cbor.Tag, st.sampled_from([17, 18, 96, 98]), inner),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400) | cbor_values.map(cbor.dumps))
def test_any_bytes_are_refused_with_a_reason(raw: bytes) -> None:
    verdict = check_message(raw, lookup, AT, topic_probe=PROBE.probe)
    assert isinstance(verdict, Rejected)
    assert verdict.reason


@settings(max_examples=300, deadline=None)
@given(at=st.integers(0, len(GENUINE) - 1), bits=st.integers(1, 255))
def test_no_altered_record_passes_as_genuine(at: int, bits: int) -> None:
    altered = bytearray(GENUINE)
    altered[at] ^= bits

    verdict = check_message(bytes(altered), lookup, AT, topic_probe=PROBE.probe)

    # Every byte is either signed (protected header, payload), the signature itself, or the
    # envelope's structure: any change must be refused.
    assert isinstance(verdict, Rejected), verdict


# The store is module-scoped on purpose: quarantine grows across examples, counted by difference.
@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    topics.records(PROBE.probe),
                    topics.status(PROBE.probe),
                    "qiyas/v1/probes/x y/records",
                    "a/b",
                ]
            ),
            st.binary(max_size=200) | st.just(GENUINE) | st.just(b'{"state": "online"}'),
        ),
        max_size=8,
    )
)
def test_a_batch_of_anything_is_stored_or_quarantined_never_raises(
    store: Store, messages: list[tuple[str, bytes]]
) -> None:
    before = len(store.quarantine())

    outcome = batch.process(store, lookup, messages, AT)

    good = [m for m in messages if m == (topics.records(PROBE.probe), GENUINE)]
    presence = [m for m in messages if m == (topics.status(PROBE.probe), b'{"state": "online"}')]
    assert outcome.stored + outcome.duplicates == len(good)
    assert outcome.presence == len(presence)
    assert outcome.quarantined == len(messages) - len(good) - len(presence)
    assert len(store.quarantine()) == before + outcome.quarantined
    statuses = [status for entries in outcome.acks.values() for _, _, status in entries]
    assert statuses.count(acks.STORED) + statuses.count(acks.DUPLICATE) == len(good)


def test_the_genuine_record_itself_is_accepted() -> None:
    # The property above would hold trivially if nothing were ever accepted.
    assert isinstance(check_message(GENUINE, lookup, AT, topic_probe=PROBE.probe), Verified)
