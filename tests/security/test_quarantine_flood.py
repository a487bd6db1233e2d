"""A quarantine flood, capped per probe.

The attack (issue 19, medium): one probe certificate publishing 16 KB junk messages grew the
quarantine by ~20 MB/s, every message kept. Now each probe (and all messages naming none, as
one) keeps at most `per_hour` quarantine rows per clock hour; beyond that a message is counted,
not kept, and the operator is told once per probe and hour. Other probes are not affected, and
a signed record refused beyond the cap is still acknowledged as quarantined (its probe need not
resend it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_signing import SigningProbe  # tests/collector, on the path by this folder's conftest

from agent.core import acks, topics
from collector import batch, registry
from collector.store import Store, now_ms, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def test_one_probes_junk_keeps_at_most_its_hourly_rows_and_the_rest_is_counted(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    honest, flooder = SigningProbe("probe-a"), SigningProbe("probe-b")
    other = SigningProbe("probe-c")  # a probe with one genuine fault in the same hour
    for probe in (honest, flooder, other):
        registry.add_key(store, probe.probe, probe.public_key)
    budget = batch.QuarantineBudget(per_hour=50)
    junk = [(topics.records(flooder.probe), bytes([n % 256]) * 16_384) for n in range(120)]
    # Signed but refused (a time before 2020): acknowledged even when not kept.
    refused = [(topics.records(flooder.probe), flooder.record(s, time_ms=1)) for s in range(5)]
    at = now_ms()
    total = batch.Outcome()
    for start in range(0, len(junk), 40):
        messages = junk[start : start + 40] + [
            (topics.records(honest.probe), honest.record(start + i)) for i in range(3)
        ]
        total.quarantined += batch.process(store, store.key, messages, at, None, budget).quarantined
    outcome = batch.process(
        store,
        store.key,
        [*refused, (topics.records(other.probe), other.record(1, time_ms=1))],
        at,
        None,
        budget,
    )

    kept = [q for q in store.quarantine()]
    assert len([q for q in kept if q.probe == flooder.probe]) == 50
    assert [q.probe for q in kept if q.probe != flooder.probe] == [other.probe]
    assert budget.counted == {flooder.probe: 120 + 5 - 50}
    assert len(list(store.records())) == 3 * 3  # the honest probe's, all stored
    assert sorted(outcome.acks[flooder.probe]) == [(1, s, acks.QUARANTINED) for s in range(5)]
    assert total.quarantined + outcome.quarantined == 120 + 5 + 1  # all refused, counted
    warned = [r.getMessage() for r in caplog.records if "beyond" in r.getMessage()]
    assert len(warned) == 1 and flooder.probe in warned[0]


def test_the_budget_opens_again_the_next_hour() -> None:
    budget = batch.QuarantineBudget(per_hour=2)
    hour = 3_600_000
    assert [budget.allow("p", 10 * hour + n) for n in range(3)] == [True, True, False]
    assert budget.allow("q", 10 * hour + 5)
    assert budget.allow("p", 11 * hour)
    assert budget.counted == {}
