"""Roll-ups: sketches within their stated bound of the exact percentiles, the aggregates read
from them (and from raw rows for what arrived since) agreeing with the raw path, a job killed
mid-run that restarts to the same roll-ups, peak hours on Morocco's clock. SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from probe_signing import VERSIONS, SigningProbe

from agent.core import record, topics
from collector import batch, queries, registry, rollups
from collector.queries import Filters
from collector.sketch import ALPHA, Sketch, key
from collector.store import ProbeRow, Store

ROOT = Path(__file__).resolve().parents[2]
HOUR = rollups.HOUR_MS
MIDNIGHT = 1_790_208_000_000  # 2026-09-24T00:00:00Z (Morocco at UTC+1)
START = MIDNIGHT - 20 * HOUR
END = MIDNIGHT + 20 * HOUR
LABELS = [  # operator, technology, region, tier
    ("IAM", "FTTH", "MA-06", "100M"),
    ("IAM", "4G", "MA-06", "20M"),
    ("Orange", "FTTH", "MA-01", "100M"),
    ("Orange", "5G-FWA", "MA-01", "100M"),
    ("inwi", "4G", "MA-06", "20M"),
    (None, None, None, None),  # a probe the registry knows no labels of
]
FLAGGED = {"verdict": "flagged", "reasons": ["cross-traffic"]}
VALID: dict[str, Any] = {"verdict": "valid", "reasons": []}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-3, max_value=1e5), min_size=1, max_size=300),
    st.sampled_from(queries.PERCENTILES),
)
def test_a_sketch_quantile_is_within_alpha_of_percentile_cont(
    values: list[float], p: float
) -> None:
    sk = Sketch()
    for v in values:
        sk.add(key(v))
    exact = queries.percentile_cont(sorted(values), p)
    assert abs(sk.quantiles([p])[p] - exact) <= ALPHA * exact * (1 + 1e-9)
    # Merging in any split gives the same sketch, and its encoding round-trips.
    half = len(values) // 2
    a, b = Sketch(), Sketch()
    for v in values[:half]:
        a.add(key(v))
    for v in values[half:]:
        b.add(key(v))
    b.merge_bytes(a.encode())
    assert b.counts == sk.counts and Sketch.decode(sk.encode()).counts == sk.counts


def capacity(probe: SigningProbe, seq: int, time_ms: int, down: float, validity: Any) -> bytes:
    values = {"down_mbps": down, "up_mbps": down / 5}
    payload = record.encode(
        probe.probe, 1, seq, time_ms, True, "capacity", values, VERSIONS, extra=validity
    )
    return probe.sign(payload)


def fill(store: Store, start: int, end: int, seed: int = 1) -> None:
    """Six probes, one capacity result each 30 minutes from start to end, arriving 10 s later;
    one in seven flagged."""
    rng = random.Random(seed)
    probes = [SigningProbe(f"ma-roll-{i:04d}") for i in range(len(LABELS))]
    for p, (operator, technology, region, tier) in zip(probes, LABELS, strict=True):
        registry.add_key(store, p.probe, p.public_key)
        if operator is not None:
            store.upsert_probe(ProbeRow(p.probe, operator, technology, region, tier=tier))
    for t in range(start, end, HOUR // 2):
        for i, p in enumerate(probes):
            seq = (t - START) // (HOUR // 2) + 1
            down = rng.lognormvariate(4, 0.8)
            verdict = {"validity": FLAGGED} if rng.random() < 1 / 7 else {"validity": VALID}
            raw = capacity(p, seq, t + i * 1000, down, verdict)
            batch.process(store, store.key, [(topics.records(p.probe), raw)], t + 10_000)


QUESTIONS = [
    (group_by, bucket, since, until, validity)
    for group_by in ("operator", "region", "technology")
    for bucket in (None, HOUR, rollups.DAY_MS)
    for since, until in ((None, None), (MIDNIGHT - 5 * HOUR, MIDNIGHT + 7 * HOUR))
    for validity in ("usable", "flagged", "all")
]


def assert_agree(store: Store, metric: str = "down_mbps") -> None:
    for group_by, bucket, since, until, validity in QUESTIONS:
        filters = Filters(since_ms=since, until_ms=until, validity=validity)
        sketched = queries.rollup_aggregate(store, metric, group_by, filters, bucket)
        assert sketched is not None
        raw = queries.raw_aggregate(store, metric, group_by, filters, None, bucket)
        exact = {(a.group, a.bucket_ms): a for a in raw}
        assert {(a.group, a.bucket_ms) for a in sketched} == set(exact)
        for a in sketched:
            x = exact[(a.group, a.bucket_ms)]
            assert (a.count, a.source) == (x.count, "rollup")
            for p, v in a.percentiles.items():
                assert abs(v - x.percentiles[p]) <= ALPHA * abs(x.percentiles[p]) + 1e-9


def test_the_rollups_answer_as_the_raw_rows_do_within_the_bound(store: Store) -> None:
    fill(store, START, END)
    # Run at END: the watermark stays below the arrival times of what comes next.
    slices = rollups.refresh(store, END)
    assert len(slices) >= 40  # one per hour of arrivals
    assert_agree(store)
    assert_agree(store, "up_mbps")
    # Records that arrive after the job ran are counted from raw rows and merged in.
    fill(store, END, END + 3 * HOUR, seed=2)
    [agg] = queries.aggregate(store, "down_mbps", "operator", Filters(operator="IAM"))
    [raw] = queries.raw_aggregate(
        store, "down_mbps", "operator", Filters(operator="IAM", validity="usable")
    )
    assert (agg.source, agg.count, agg.relative_error) == ("rollup", raw.count, ALPHA)
    assert_agree(store)


def test_what_the_rollups_cannot_answer_comes_from_raw_rows(store: Store) -> None:
    fill(store, START, START + 2 * HOUR)
    usable = Filters(validity="usable")
    assert queries.rollup_aggregate(store, "down_mbps", "operator", usable) is None  # never ran
    rollups.refresh(store, END)
    assert queries.rollup_aggregate(store, "down_mbps", "probe", usable) is None
    half_hour = Filters(since_ms=START + HOUR // 2, validity="usable")
    assert queries.rollup_aggregate(store, "down_mbps", "operator", half_hour) is None
    [with_threshold, *_] = queries.aggregate(store, "down_mbps", "operator", usable, threshold=30)
    assert with_threshold.source == "raw" and with_threshold.relative_error == 0


def test_per_probe_days_split_peak_hours_on_morocco_clock(store: Store) -> None:
    probe = SigningProbe("ma-roll-peak")
    registry.add_key(store, probe.probe, probe.public_key)
    # 17:30Z is 18:30 in Casablanca in September (peak), 17:30 during Ramadan (off-peak).
    september, ramadan = MIDNIGHT + 17 * HOUR + HOUR // 2, 1_772_386_200_000  # 2026-03-01T17:30Z
    for seq, t in ((1, september), (2, ramadan)):
        raw = capacity(probe, seq, t, 50.0, {"validity": VALID})
        batch.process(store, store.key, [(topics.records(probe.probe), raw)], t + 1000)
    rollups.refresh(store, september + 2 * HOUR)
    rows = store.query(
        "SELECT day_ms, peak, count FROM rollup_probe_day WHERE metric = 'down_mbps' ORDER BY 1"
    )
    assert [(d, bool(peak), n) for d, peak, n in rows] == [
        (1_772_323_200_000, False, 1),  # local 2026-03-01
        (MIDNIGHT, True, 1),  # local 2026-09-24
    ]


def snapshot(store: Store) -> list[Any]:
    fleet = store.query(
        "SELECT grain, metric, start_ms, operator, technology, region, tier, validity, count,"
        " sketch FROM rollup_fleet ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    per_probe = store.query(
        "SELECT metric, day_ms, probe, peak, validity, count, sketch FROM rollup_probe_day"
        " ORDER BY 1, 2, 3, 4, 5"
    )
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in fleet] + [
        tuple(
            bytes(v) if isinstance(v, memoryview) else bool(v) if i == 3 else v
            for i, v in enumerate(row)
        )
        for row in per_probe
    ]


_CHILD = """
import sys
sys.path.insert(0, {root!r})
from collector import rollups
from collector.store import open_store

def report(piece):
    print(piece.received_before_ms, flush=True)
    sys.stdin.readline()  # wait here, between two slices, until killed

with open_store({url!r}, migrate=False) as store:
    rollups.refresh(store, {now}, on_slice=report)
"""


def test_the_job_killed_mid_run_and_restarted_gives_the_same_rollups(
    store: Store, store_url: str
) -> None:
    fill(store, START, START + 6 * HOUR)
    now = END
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT), url=store_url, now=now)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        committed = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert rollups.watermark(store) == committed < START + 6 * HOUR  # one slice of several
    rollups.refresh(store, now)
    resumed = snapshot(store)
    assert resumed

    with store.transaction():
        for table in ("rollup_fleet", "rollup_probe_day", "rollup_state"):
            store.execute(f"DELETE FROM {table}")
    rollups.refresh(store, now, step_ms=rollups.DAY_MS)  # uninterrupted, in other slices
    assert snapshot(store) == resumed
