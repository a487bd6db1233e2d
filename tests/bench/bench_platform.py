"""The national data platform at scale: partitioned ingest, roll-ups, archive, DuckDB.

    .venv/bin/python tests/bench/bench_platform.py [--probes 3000] [--days 56] [--runs 5]

A synthetic national panel generated inside PostgreSQL as metric columns: --probes probes (three
operators, twelve regions, FTTH and 4G, two speed tiers, every combination), each with a latency
result every 12 minutes and a capacity result every hour (120 records a day), download and
latency following a diurnal load that peaks at 21:00 local time, one result in twenty flagged;
3000 probes × 56 days = 20.2 million records. Plus one day of fully signed records (real COSE
from real keys, through the collector's ingest) for the archive's bytes per record.

Each figure comes with the reference it is measured against in the same run:

1. bulk ingest rows/s into the partitioned table (with its unpartitioned identity table) against
   the unpartitioned table of schema v6 (with its unique key), the same generated rows;
2. a week's median download by operator × region (three calls, one per operator, grouped by
   region) from the roll-ups against the same from raw rows, and the largest relative error of
   the roll-up medians against the exact ones;
3. DuckDB over the archive (Hive-partitioned Parquet) against DuckDB over one plain Parquet file
   of the same rows and columns, for the same question, and their medians against the exact ones;
4. archive bytes per record (metric and label columns, signed original) against the COSE bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "collector")]

from collector_helpers import postgres_database  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from probe_signing import VERSIONS, SigningProbe  # noqa: E402

from agent.core import record, topics  # noqa: E402
from collector import archive, batch, partitions, queries, registry, rollups  # noqa: E402
from collector.queries import Filters  # noqa: E402
from collector.store import ProbeRow, Store, open_store  # noqa: E402

DAY = partitions.DAY_MS
T0 = 1_791_158_400_000  # 2026-10-05T00:00:00Z; Morocco at UTC+1 for the whole span
SLOTS = 120  # records per probe per day: every 12 minutes, each fifth a capacity result
SLOT_MS = DAY // SLOTS
OPERATORS = ["IAM", "Orange", "inwi"]
TECHNOLOGIES = ["FTTH", "4G"]
TIERS = ["100M", "20M"]

# One generated day of records for probes 0..{probes}-1 into {table}. The labels are functions of
# the probe number chosen so that every operator × region × technology × tier combination occurs.
_DAY_SQL = """
INSERT INTO {table} (probe, epoch, seq, kid, kind, time_ms, local_time_ms, synced,
                     received_at_ms, record, raw, validity, down_mbps, up_mbps,
                     loaded_rtt_ms_down, rtt_ms)
SELECT 'ma-bench-' || lpad(pr::text, 5, '0'), 1, {day} * {slots} + s, '\\x00'::bytea,
       CASE WHEN s % 5 = 0 THEN 'capacity' ELSE 'latency' END,
       t, t + 3600000, true, t + 2000, '{{"values": {{}}}}'::jsonb, '\\x00'::bytea,
       CASE WHEN random() < 0.05 THEN 'flagged' ELSE 'valid' END,
       CASE WHEN s % 5 = 0 THEN base * (1 - 0.35 * load) * exp(0.25 * z) END,
       CASE WHEN s % 5 = 0 THEN base / 5 * (1 - 0.2 * load) * exp(0.25 * z) END,
       CASE WHEN s % 5 = 0 THEN (20 + 80 * load) * exp(0.3 * z) END,
       CASE WHEN s % 5 <> 0 THEN 15 * (1 + 0.5 * load) * exp(0.2 * z) END
FROM generate_series(0, {probes} - 1) pr, generate_series(0, {slots} - 1) s,
LATERAL (SELECT {start}::bigint + s * {slot_ms} + (pr * 7919) % {slot_ms} AS t) tt,
LATERAL (SELECT
    (CASE WHEN (pr / 72) % 2 = 0 THEN 100.0 ELSE 20.0 END)
      * (CASE WHEN (pr / 36) % 2 = 0 THEN 1.0 ELSE 0.6 END)
      * (1.0 - 0.1 * ((pr / 12) % 3)) * (1.0 - 0.02 * (pr % 12)) AS base,
    0.5 + 0.5 * cos(2 * pi() * (((tt.t + 3600000) % 86400000) / 3600000.0 - 21) / 24) AS load,
    (random() + random() + random() + random() - 2) * 1.7320508 AS z) v
"""


def day_sql(table: str, day: int, probes: int) -> str:
    return _DAY_SQL.format(
        table=table, day=day, probes=probes, slots=SLOTS, start=T0 + day * DAY, slot_ms=SLOT_MS
    )


def identity_sql(day: int) -> str:
    """The identities of a generated day (their payload hash: of the generated row's identity,
    as cheap to compute as a real one and as unique)."""
    return (
        "INSERT INTO record_identity (probe, epoch, seq, payload_sha256, time_ms, flagged)"
        " SELECT probe, epoch, seq, sha256(convert_to(probe || ':' || seq, 'UTF8')), time_ms,"
        f" false FROM records WHERE time_ms >= {T0 + day * DAY}"
        f" AND time_ms < {T0 + (day + 1) * DAY}"
    )


def register_probes(store: Store, probes: int) -> None:
    with store.transaction():
        for pr in range(probes):
            store.execute(
                "INSERT INTO probes (probe, operator, technology, region, tier, updated_at_ms)"
                " VALUES (?, ?, ?, ?, ?, 0)",
                (
                    f"ma-bench-{pr:05d}",
                    OPERATORS[(pr // 12) % 3],
                    TECHNOLOGIES[(pr // 36) % 2],
                    f"MA-{pr % 12 + 1:02d}",
                    TIERS[(pr // 72) % 2],
                ),
            )


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def median_ms(call: Callable[[], Any], runs: int) -> float:
    return statistics.median(timed(call) * 1000 for _ in range(runs))


def bench_ingest(store: Store, probes: int, days: int) -> None:
    """Rows/s of the same generated days into both layouts, alternating, fresh tables each time."""
    store.execute("CREATE TABLE records_plain (LIKE records INCLUDING DEFAULTS)")
    store.execute("ALTER TABLE records_plain ADD PRIMARY KEY (id)")
    store.execute("ALTER TABLE records_plain ADD UNIQUE (probe, epoch, seq)")
    for i, index in enumerate(
        [
            "(time_ms)",
            "(kind, time_ms)",
            "(received_at_ms)",
            "(probe, time_ms)",
            "(probe, received_at_ms)",
            "(probe) WHERE flag IS NOT NULL",
        ]
    ):
        store.execute(f"CREATE INDEX plain_{i} ON records_plain {index}")
    rates: dict[str, list[float]] = {"partitioned + identity": [], "unpartitioned + unique": []}
    rows = probes * SLOTS * days
    partitions.ensure(store, [partitions.day_of(T0 + d * DAY) for d in range(days)])
    for _ in range(2):
        for layout in rates:

            def fill(layout: str = layout) -> None:
                with store.transaction():
                    for d in range(days):
                        if layout.startswith("partitioned"):
                            store.execute(day_sql("records", d, probes))
                            store.execute(identity_sql(d))
                        else:
                            store.execute(day_sql("records_plain", d, probes))

            rates[layout].append(rows / timed(fill))
        store.execute("TRUNCATE records, record_identity, records_plain")
    store.execute("DROP TABLE records_plain")
    part, plain = (statistics.median(r) for r in rates.values())
    print(f"ingest, {rows:,} generated rows per run, median of 2 runs each:")
    print(f"  partitioned (+ record_identity): {part:,.0f} rows/s")
    print(f"  unpartitioned (+ unique key), reference: {plain:,.0f} rows/s")
    print(f"  ratio partitioned / unpartitioned: {part / plain:.2f}")


def fill_panel(store: Store, probes: int, days: int) -> int:
    partitions.ensure(store, [partitions.day_of(T0 + d * DAY) for d in range(days)])
    start = time.perf_counter()
    for d in range(days):
        with store.transaction():
            store.execute(day_sql("records", d, probes))
        if d % 7 == 6 or d == days - 1:
            n = probes * SLOTS * (d + 1)
            elapsed = time.perf_counter() - start
            print(f"  filled {d + 1} days, {n:,} records, {n / elapsed:,.0f} rows/s", flush=True)
    store.execute("ANALYZE")
    return probes * SLOTS * days


def signed_day(store: Store, day: int, probes: int) -> tuple[int, int]:
    """A day of real signed records from `probes` probes through the collector's ingest; the
    number of records and their COSE bytes."""
    signers = [SigningProbe(f"ma-signed-{i:04d}") for i in range(probes)]
    total = 0
    for i, p in enumerate(signers):
        registry.add_key(store, p.probe, p.public_key)
        store.upsert_probe(
            ProbeRow(p.probe, OPERATORS[i % 3], TECHNOLOGIES[i % 2], f"MA-{i % 12 + 1:02d}")
        )
    start = T0 + day * DAY
    for s in range(SLOTS):
        messages = []
        for i, p in enumerate(signers):
            t = start + s * SLOT_MS + i
            if s % 5 == 0:
                kind = "capacity"
                values: dict[str, Any] = {"down_mbps": 80.5 + i % 7, "up_mbps": 20.25}
                values |= {"loaded_rtt_ms_median_down": 41.0, "loaded_rtt_ms_median_up": 38.0}
            else:
                kind, values = "latency", {"rtt_ms_median": 14.5 + i % 5, "loss_pct": 0.0}
            payload = record.encode(
                p.probe, 1, s + 1, t, True, kind, values, VERSIONS, extra={"validity": VALID}
            )
            raw = p.sign(payload)
            total += len(raw)
            messages.append((topics.records(p.probe), raw))
        outcome = batch.process(store, store.key, messages, start + s * SLOT_MS + 5000)
        assert outcome.stored == len(messages), outcome
    return probes * SLOTS, total


VALID = {"verdict": "valid", "reasons": []}


def bench_queries(store: Store, week: tuple[int, int], runs: int) -> None:
    def ask(read: Callable[..., Any]) -> dict[tuple[str, str | None], float]:
        out = {}
        for op in OPERATORS:
            f = Filters(operator=op, since_ms=week[0], until_ms=week[1], validity="usable")
            for agg in read(store, "down_mbps", "region", f):
                out[(op, agg.group)] = agg.percentiles[0.5]
        return out

    fast = median_ms(lambda: ask(queries.rollup_aggregate), runs)
    slow = median_ms(lambda: ask(queries.raw_aggregate), max(1, runs // 2))
    sketched, exact = ask(queries.rollup_aggregate), ask(queries.raw_aggregate)
    assert set(sketched) == set(exact) and len(exact) == 36, (len(sketched), len(exact))
    worst = max(abs(sketched[k] - exact[k]) / exact[k] for k in exact)
    print("a week's median download by operator × region (3 calls × 12 regions):")
    print(f"  from the roll-ups: median {fast:,.1f} ms")
    print(f"  from raw rows (percentile_cont), reference: median {slow:,.0f} ms")
    print(f"  ratio roll-ups / raw: {fast / slow:.4f} ({slow / fast:,.0f} × faster)")
    bound = rollups.RELATIVE_ERROR
    print(f"  largest relative error of a roll-up median: {worst:.5f} (bound {bound})")


def write_archive(store: Store, days: list[int], where: Path) -> tuple[int, float]:
    """Archive days (day numbers of the panel) under where; records written and seconds spent."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    root = archive.Root(str(where))
    rows = 0
    start = time.perf_counter()
    for d in days:
        day = partitions.day_of(T0 + d * DAY)
        written = archive.write_day(store, root, day, public, key.sign, T0 + (d + 2) * DAY)
        assert written is not None
        rows += written.rows
    return rows, time.perf_counter() - start


def bench_archive(store: Store, tmp: Path, runs: int, week: tuple[int, int]) -> None:
    import duckdb

    days = list(range((week[0] - T0) // DAY, (week[1] - T0) // DAY))
    rows, spent = write_archive(store, days, tmp / "archive")
    print(f"archive: {len(days)} days, {rows:,} records in {spent:.0f} s ({rows / spent:,.0f}/s)")
    con = duckdb.connect()
    hive = f"read_parquet('{tmp}/archive/kind=capacity/*/*.parquet', hive_partitioning = true)"
    plain = tmp / "plain.parquet"
    con.execute(f"COPY (SELECT * FROM {hive}) TO '{plain}' (FORMAT parquet, COMPRESSION zstd)")
    question = (
        "SELECT operator, region, median(down_mbps) FROM {source}"
        " WHERE validity IS DISTINCT FROM 'flagged' AND down_mbps IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    )
    over_archive = median_ms(lambda: con.execute(question.format(source=hive)).fetchall(), runs)
    over_plain = median_ms(
        lambda: con.execute(question.format(source=f"read_parquet('{plain}')")).fetchall(), runs
    )
    a = con.execute(question.format(source=hive)).fetchall()
    b = con.execute(question.format(source=f"read_parquet('{plain}')")).fetchall()
    exact = {}
    for op in OPERATORS:
        f = Filters(operator=op, since_ms=week[0], until_ms=week[1], validity="usable")
        for agg in queries.raw_aggregate(store, "down_mbps", "region", f):
            exact[(op, agg.group)] = agg.percentiles[0.5]
    worst = max(abs(m - exact[(op, region)]) for op, region, m in a)
    assert a == b and len(a) == 36
    print("DuckDB, the week's median download by operator × region:")
    print(f"  over the archive (Hive-partitioned): median {over_archive:,.1f} ms")
    print(f"  over one plain Parquet file, reference: median {over_plain:,.1f} ms")
    print(f"  ratio archive / plain: {over_archive / over_plain:.2f}")
    print(f"  largest difference from the collector's exact medians: {worst:.2e} Mbit/s")


def bytes_per_record(store: Store, tmp: Path, day: int, cose_bytes: int, n: int) -> None:
    import pyarrow.parquet as pq

    base = tmp / "signed"
    write_archive(store, [day], base)
    day_text = partitions.day_of(T0 + day * DAY).isoformat()
    signed_col = other_cols = rows = 0
    for path in base.glob(f"kind=*/day={day_text}/*.parquet"):
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                col = group.column(c)
                if col.path_in_schema == "cose":
                    signed_col += col.total_compressed_size
                else:
                    other_cols += col.total_compressed_size
    assert rows == n, (rows, n)
    print(f"archive bytes per record, one day of {n:,} signed records:")
    print(f"  signed original (cose column, zstd): {signed_col / n:,.1f} B")
    print(f"  metrics, labels, values and the rest: {other_cols / n:,.1f} B")
    print(f"  reference: the raw COSE_Sign1 bytes: {cose_bytes / n:,.1f} B")
    print(f"  ratio archive (all columns) / raw COSE: {(signed_col + other_cols) / cose_bytes:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=3000)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ingest-days", type=int, default=2, help="days per ingest run")
    parser.add_argument("--signed-probes", type=int, default=100)
    args = parser.parse_args()
    with postgres_database() as url, open_store(url) as store, tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        register_probes(store, args.probes)
        bench_ingest(store, args.probes, args.ingest_days)
        print(f"panel: {args.probes} probes × {args.days} days × {SLOTS} records a day")
        fill_panel(store, args.probes, args.days)
        signed = args.days  # the day after the panel
        n, cose_bytes = signed_day(store, signed, args.signed_probes)
        print(
            f"  + {n:,} signed records ingested for day {signed}; total {store.count_records():,}"
        )
        horizon = T0 + (args.days + 2) * DAY
        spent = timed(lambda: rollups.refresh(store, horizon, step_ms=DAY))
        total = store.count_records()
        print(f"roll-up job over {total:,} records: {spent:.0f} s ({total / spent:,.0f} records/s)")
        week = (T0 + (args.days - 7) * DAY, T0 + args.days * DAY)
        bench_queries(store, week, args.runs)
        bench_archive(store, tmp, args.runs, week)
        bytes_per_record(store, tmp, signed, cose_bytes, n)


if __name__ == "__main__":
    main()
