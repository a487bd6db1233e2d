"""Long chaos run: agents produce a record a second each while rounds of faults are injected at
random (broker restarts, collector and agent kill -9 mid-stream, disk-full outboxes, clock jumps,
a flapping link); then everything settles and the agents' outboxes are reconciled with the store.

Prints records produced / stored / duplicates / lost, faults injected, and the delivery delay
(received_at - measured) during the chaos against the same figure in a calm phase measured first
in the same run (the reference).

    .venv/bin/python tests/bench/bench_chaos.py [--agents N] [--rounds R] [--seed S] [--json]

Needs root for the tmpfs of the disk-full fault (skipped otherwise, and the report says so).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parents[1] / "chaos")]

from chaos_run import ChaosRun  # noqa: E402

from collector.store import open_store  # noqa: E402


def delays_ms(db: Path, since_ms: int, until_ms: int, skip: set[str]) -> list[int]:
    """Delivery delays of records received in [since_ms, until_ms), probes in skip left out
    (their clock was made to jump, so their measurement times are not comparable)."""
    with open_store(str(db)) as store:
        return [
            r.received_at_ms - r.time_ms
            for r in store.records()
            if since_ms <= r.received_at_ms < until_ms and r.probe not in skip
        ]


def chaos_round(run: ChaosRun, rng: random.Random) -> None:
    faults = [
        lambda: run.broker_outage(rng.randint(1, 4)),
        lambda: run.kill_collector_while_storing(rng.randint(2, 5)),
        lambda: run.kill_agent_while_publishing(rng.choice(run.probes), rng.randint(2, 5)),
        lambda: run.disk_full(rng.choice(run.probes), rng.randint(1, 3), hold_s=20),
        lambda: run.flap(rng.randint(2, 5), down=rng.uniform(0.2, 2.0), up=rng.uniform(0.5, 2.0)),
    ]
    rng.shuffle(faults)
    for fault in faults:
        fault()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the five faults")
    parser.add_argument("--calm", type=int, default=20, help="records per agent in the calm phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qiyas-chaos-"))

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    with ChaosRun(workdir, args.agents) as run:
        jumped = run.probes[-1]  # its clock jumps: its measurement times are not comparable
        calm_from = time.time_ns() // 1_000_000
        run.wait_stored(run.stored_count() + args.calm * args.agents, 60 + 2 * args.calm)
        chaos_from = time.time_ns() // 1_000_000
        say(f"calm phase done; {args.rounds} rounds of faults on {args.agents} agents")
        for i in range(args.rounds):
            run.clock_jump(jumped, rng.choice([-1, 1]) * rng.randint(60, 7200))
            chaos_round(run, rng)
            say(f"round {i + 1}: {dict(run.faults)}")
        chaos_until = time.time_ns() // 1_000_000
        report = run.settle(timeout=300)
    calm = delays_ms(run.db, calm_from, chaos_from, {jumped.name})
    during = delays_ms(run.db, chaos_from, chaos_until + 60_000, {jumped.name})
    calm_median = statistics.median(calm) if calm else None
    chaos_median = statistics.median(during) if during else None
    doc = {
        **report.as_dict(),
        "delivery_delay_ms_median_calm": calm_median,
        "delivery_delay_ms_median_chaos": chaos_median,
        "delay_ratio_chaos_vs_calm": round(chaos_median / calm_median, 1)
        if calm_median and chaos_median
        else None,
        "workdir": str(workdir),
    }
    if args.json:
        print(json.dumps(doc))
    else:
        say(
            f"\nproduced {report.produced}, stored {report.stored}, "
            f"duplicates {report.duplicates}, "
            f"lost {report.lost}, waiting {report.waiting} in {report.seconds:.0f}s\n"
            f"refused by a full disk (never committed) {report.refused_by_disk}, reported in "
            f"status records {report.refusals_reported}; births {report.births} for "
            f"{report.agent_starts} agent starts; redeliveries absorbed {report.redeliveries}\n"
            f"faults: {dict(report.faults)}\n"
            f"delivery delay median: calm {calm_median} ms, chaos {chaos_median} ms "
            f"(ratio {doc['delay_ratio_chaos_vs_calm']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
