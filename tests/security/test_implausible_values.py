"""Values no access link gives stay out of the figures.

The attack (issue 19, medium): a signed capacity record with `down_mbps` of ±1.7e308 was stored
as a metric and reached the aggregates (and overflowed their interpolation to null). Now each
headline metric has a plausible range (collector.metrics): a value outside it is stored with the
record but is no figure (its metric column is null) and the record is flagged with why.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_signing import SigningProbe  # tests/collector, on the path by this folder's conftest

from agent.core import topics
from collector import batch, queries, registry
from collector.store import ProbeRow, Store, now_ms, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def test_implausible_values_are_flagged_and_left_out_of_the_aggregates(store: Store) -> None:
    honest, liar = SigningProbe("probe-a"), SigningProbe("probe-b")
    for probe in (honest, liar):
        registry.add_key(store, probe.probe, probe.public_key)
        registry.set_probe(store, ProbeRow(probe.probe, operator="IAM"))
    claims = [1.7e308, -1.7e308, -5.0, 100_001.0]
    messages = [
        (topics.records(honest.probe), honest.record(s, kind="capacity",
                                                     values={"down_mbps": 100.0 + s}))
        for s in range(3)
    ] + [
        (topics.records(liar.probe), liar.record(s, kind="capacity", values={"down_mbps": v}))
        for s, v in enumerate(claims)
    ]  # fmt: skip
    outcome = batch.process(store, store.key, messages, now_ms())
    assert outcome.stored == 7  # kept: signed, well-formed; only not a figure

    [iam] = queries.aggregate(store, "down_mbps", "operator", queries.Filters())
    assert (iam.count, iam.percentiles[0.5]) == (3, 101.0)
    flagged = {r.seq: r for r in store.records() if r.probe == liar.probe}
    assert all("down_mbps" in (r.flag or "") and not r.metrics for r in flagged.values())
    assert "outside 0..100000 Mbit/s" in (flagged[0].flag or "")
