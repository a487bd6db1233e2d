"""Interop check (outside the pass/fail suite: pyspark is hundreds of MB): one archived day read
by the collector's API, DuckDB, pyarrow and Spark (local mode) must give the same medians.

    scripts/interop-spark            # makes .venv-spark with pyspark once, then runs this

A fleet of signed records (operators × regions × technologies, a diurnal load pattern) is stored
through the collector's batch path in a SQLite store, the day archived, and the median download
per operator × technology computed four ways. Exit 0 if all four agree to 0.001 Mbit/s.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "collector")]

from fastapi.testclient import TestClient  # noqa: E402
from probe_signing import SigningProbe  # noqa: E402

from agent.core import topics  # noqa: E402
from agent.keys import load_or_create  # noqa: E402
from collector import archive, archive_query, batch, registry  # noqa: E402
from collector.api import create_app  # noqa: E402
from collector.store import ProbeRow, open_store  # noqa: E402
from collector.times import iso_ms  # noqa: E402

OPERATORS = {"IAM": 1.0, "Orange": 1.1, "inwi": 0.85}
TECHNOLOGIES = {"FTTH": 300.0, "5G-FWA": 120.0, "4G": 30.0}
PROBES = 120
DAY_START = archive.day_start_ms(archive.day_of(1_764_000_000_000))

SPARK = """
import json, sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").appName("qiyas-interop")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
# The partition directory of one kind: Spark discovers day=… as a column from the path.
df = spark.read.parquet(sys.argv[1] + "/kind=capacity")
df.createOrReplaceTempView("capacity")
rows = spark.sql(
    "SELECT operator, technology, COUNT(*) AS n, percentile(down_mbps, 0.5) AS median"
    " FROM capacity WHERE day = '%s' AND down_mbps IS NOT NULL GROUP BY 1, 2" % sys.argv[2]
).collect()
print(json.dumps([[r.operator, r.technology, r.n, r.median] for r in rows]))
spark.stop()
"""


def seed(db: str) -> None:
    rng = random.Random(22)
    with open_store(db) as store:
        for i in range(PROBES):
            operator = list(OPERATORS)[i % 3]
            technology = list(TECHNOLOGIES)[(i // 3) % 3]
            probe = SigningProbe(f"ma-{i:04d}")
            registry.add_key(store, probe.probe, probe.public_key)
            region = f"MA-{i % 12 + 1:02d}"
            registry.set_probe(store, ProbeRow(probe.probe, operator, technology, region))
            base = TECHNOLOGIES[technology] * OPERATORS[operator] * rng.uniform(0.6, 1.2)
            messages = []
            for hour in range(24):
                # Evening peak: throughput dips up to 35 % around 21:00 local (UTC+1).
                load = 1 - 0.35 * math.exp(-(((hour + 1 - 21) / 3) ** 2))
                down = round(base * load * rng.lognormvariate(0, 0.15), 2)
                t = DAY_START + hour * 3_600_000 + rng.randrange(3_600_000)
                values = {"down_mbps": down, "up_mbps": round(down / 8, 2)}
                messages.append(
                    (topics.records(probe.probe), probe.record(hour + 1, kind="capacity",
                                                               values=values, time_ms=t))
                )  # fmt: skip
            batch.process(store, store.key, messages, DAY_START + archive.DAY_MS)


def main() -> int:
    spark_python = ROOT / ".venv-spark" / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        db, out = f"{tmp}/collector.db", f"{tmp}/archive"
        seed(db)
        key = load_or_create(Path(tmp) / "regulator.key")
        with open_store(db) as store:
            later = DAY_START + 2 * archive.DAY_MS
            archive.write_closed(store, archive.Root(out), key.public_key, key.sign, later, 0)
        day = archive.day_of(DAY_START).isoformat()
        results: dict[str, dict[tuple[str, str], tuple[int, float]]] = {}

        with TestClient(create_app(db, public=True)) as api:
            for technology in TECHNOLOGIES:
                params = {
                    "metric": "down_mbps", "group_by": "operator", "technology": technology,
                    "since": iso_ms(DAY_START), "until": iso_ms(DAY_START + archive.DAY_MS),
                }  # fmt: skip
                for g in api.get("/api/v1/aggregates", params=params).json()["groups"]:
                    results.setdefault("API", {})[(g["group"], technology)] = (
                        g["count"], g["median"]
                    )  # fmt: skip
        _, rows = archive_query.run(
            archive.Root(out),
            "SELECT operator, technology, COUNT(*), median(down_mbps) FROM capacity"
            f" WHERE day = '{day}' GROUP BY 1, 2",
        )
        results["DuckDB"] = {(o, t): (n, round(m, 3)) for o, t, n, m in rows}

        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        table = ds.dataset(f"{out}/kind=capacity", partitioning="hive").to_table(
            filter=ds.field("day") == day, columns=["operator", "technology", "down_mbps"]
        )
        arrow: dict[tuple[str, str], tuple[int, float]] = {}
        for o in OPERATORS:
            for t in TECHNOLOGIES:
                mask = pc.and_(pc.equal(table["operator"], o), pc.equal(table["technology"], t))
                values = table.filter(mask)["down_mbps"]
                median = pc.quantile(values, q=0.5, interpolation="linear")[0].as_py()
                arrow[(o, t)] = (len(values), round(median, 3))
        results["pyarrow"] = arrow

        spark = subprocess.run(
            [str(spark_python), "-c", SPARK, out, day], capture_output=True, text=True, check=False
        )
        if spark.returncode != 0:
            print(spark.stderr[-3000:], file=sys.stderr)
            return 2
        last = spark.stdout.strip().splitlines()[-1]
        results["Spark"] = {(o, t): (n, round(m, 3)) for o, t, n, m in json.loads(last)}

    groups = sorted(results["API"])
    print(f"{'operator':<8} {'technology':<8} {'tests':>6} " + " ".join(f"{k:>9}" for k in results))
    for g in groups:
        medians = " ".join(f"{results[k].get(g, (0, math.nan))[1]:>9.3f}" for k in results)
        print(f"{g[0]:<8} {g[1]:<8} {results['API'][g][0]:>6} {medians}")
    agree = all(results[k] == results["API"] for k in results)
    print("all four agree" if agree else "DISAGREEMENT")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
