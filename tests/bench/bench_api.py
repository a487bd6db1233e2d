"""API latency of aggregates over 1 million stored records, PostgreSQL and SQLite.

    .venv/bin/python tests/bench/bench_api.py [--records N] [--runs R] [--skip-sqlite]

The store is filled server-side (generate_series / a recursive CTE: 1000 probes of 4 operators,
3 technologies, 12 regions, one capacity record each 15 minutes per probe), then each API call is
timed through the real FastAPI app (in-process HTTP). Reference, same run: a plain full scan
`SELECT COUNT(*), AVG(down_mbps)` on the same table, so the ratio reads as "how many full scans
the API call costs".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "collector")]

from collector_helpers import postgres_database  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from collector import partitions  # noqa: E402
from collector.api import create_app  # noqa: E402
from collector.store import Store, open_store  # noqa: E402

PROBES = 1000
T0 = 1_790_000_000_000
STEP_MS = 900_000 // PROBES  # one record per probe every 15 minutes, probes interleaved

_FILL = """
INSERT INTO records (probe, epoch, seq, kid, kind, time_ms, local_time_ms, synced,
                     received_at_ms, record, raw, down_mbps, up_mbps, loaded_rtt_ms_down)
SELECT 'ma-bench-' || (g % {probes}), 1, g, {kid}, 'capacity', {t0} + g * {step},
       {t0} + g * {step} + 3600000, {true}, {t0} + g * {step} + 500, {record}, {kid},
       10 + ((g * 7919) % 490), 2 + ((g * 104729) % 60), 20 + ((g * 31) % 200)
FROM {series}
"""


def fill(store: Store, n: int) -> None:
    pg = store.dialect == "postgres"
    series = (
        f"generate_series(1::bigint, {n}) AS g"
        if pg
        else f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n})"
        " SELECT g FROM s)"
    )
    sql = _FILL.format(
        probes=PROBES,
        t0=T0,
        step=STEP_MS,
        kid="'\\x00'::bytea" if pg else "x'00'",
        true="true" if pg else "1",
        record="""'{"values": {}}'::jsonb""" if pg else """'{"values": {}}'""",
        series=series,
    )
    # Local time is UTC+1 throughout: 1M records from T0 span ten days of September 2026.
    partitions.ensure(store, {partitions.day_of(T0 + g * STEP_MS) for g in [*range(0, n, 1000), n]})
    operators = ["IAM", "Orange", "inwi", "Wana"]
    technologies = ["5G-FWA", "4G", "FTTH"]
    with store.transaction():
        store.execute(sql)
        for i in range(PROBES):
            store.execute(
                "INSERT INTO probes (probe, operator, technology, region, updated_at_ms)"
                " VALUES (?, ?, ?, ?, 0)",
                (f"ma-bench-{i}", operators[i % 4], technologies[i % 3], f"MA-{i % 12 + 1:02d}"),
            )
            key = i.to_bytes(32, "big")  # unique stand-ins: health lists probes by their keys
            store.execute(
                "INSERT INTO probe_keys (probe, kid, public_key, added_at_ms) VALUES (?, ?, ?, 0)",
                (f"ma-bench-{i}", key[-8:], key),
            )
    if pg:
        store.execute("ANALYZE")


def median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench(url: str, n: int, runs: int, label: str) -> None:
    with open_store(url) as store:
        start = time.perf_counter()
        fill(store, n)
        print(f"[{label}] filled {store.count_records():,} records in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        reference = median_ms(
            lambda: store.query("SELECT COUNT(*), AVG(down_mbps) FROM records"), runs
        )
    print(f"[{label}] reference full scan COUNT/AVG: median {reference:.0f} ms")
    with TestClient(create_app(url, public=True)) as client:
        calls = {
            "aggregate down_mbps by operator (p10..p90, share<30)": {
                "metric": "down_mbps", "group_by": "operator", "threshold": 30},
            "aggregate up_mbps by region": {"metric": "up_mbps", "group_by": "region"},
            "aggregate down_mbps by technology per day, one week": {
                "metric": "down_mbps", "group_by": "technology", "bucket": "day",
                "since": str(T0), "until": str(T0 + 7 * 86_400_000)},
        }  # fmt: skip
        for name, params in calls.items():

            def call(params: dict[str, object] = params) -> None:
                response = client.get("/api/v1/aggregates", params=params)
                assert response.status_code == 200, response.text

            ms = median_ms(call, runs)
            print(f"[{label}] {name}: median {ms:,.0f} ms = {ms / reference:.1f} × reference")
        page = median_ms(
            lambda: client.get("/api/v1/records", params={"probe": "ma-bench-7", "limit": 100}),
            runs,
        )
        print(f"[{label}] records page (one probe, 100): median {page:.1f} ms")

        def probes() -> None:
            assert len(client.get("/api/v1/probes").json()) == PROBES

        health = median_ms(probes, runs)
        print(f"[{label}] probe health ({PROBES} probes): median {health:,.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with postgres_database() as url:
        bench(url, args.records, args.runs, "postgres")
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            bench(str(Path(tmp) / "c.db"), args.records, args.runs, "sqlite")


if __name__ == "__main__":
    main()
