"""Collector ingest rate, records/s through MQTT → verify → store → ack, against raw Ed25519 verify.

    .venv/bin/python tests/bench/bench_ingest.py [--records N] [--runs R] [--skip-postgres]

Each run: a private Mosquitto, a fresh store, K `qiyas collector run` processes in one shared
group; this process publishes N pre-signed records from 50 probes (QoS 1) and stops the clock when
it has received an acknowledgement for every one. The reference is how many Ed25519 signatures
`cryptography` verifies per second on this machine, in this run. Also prints the size of a
typical signed record against the same record as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "collector")]

import paho.mqtt.client as mqtt  # noqa: E402
from collector_helpers import postgres_database  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402
from probe_signing import SigningProbe  # noqa: E402

from agent.core import acks, cose, topics  # noqa: E402
from collector import registry  # noqa: E402
from collector.store import open_store  # noqa: E402
from hil.mosquitto import Mosquitto  # noqa: E402

PROBES = 50


def typical_record(probe: SigningProbe, seq: int) -> bytes:
    return probe.record(
        seq,
        kind="latency",
        values={"rtt_ms_median": 18.4, "rtt_ms_p95": 41.0, "loss_pct": 0.0, "samples": 100},
        context={
            "radio": {"rat": "NR-SA", "cell": "604-00-12345", "rsrp_dbm": -92, "sinr_db": 14.5}
        },
    )


def make_records(n: int) -> tuple[list[SigningProbe], list[tuple[str, bytes]]]:
    probes = [SigningProbe(f"ma-bench-{i:04d}") for i in range(PROBES)]
    msgs = [
        (topics.records(probes[i % PROBES].probe), typical_record(probes[i % PROBES], i))
        for i in range(n)
    ]
    return probes, msgs


def verify_rate(msgs: list[tuple[str, bytes]], keys: dict[bytes, bytes]) -> tuple[float, float]:
    """(signatures per wall-clock second, CPU seconds of this process per signature)."""
    parsed = [cose.parse_sign1(raw) for _, raw in msgs]
    loaded = {kid: Ed25519PublicKey.from_public_bytes(pk) for kid, pk in keys.items()}
    work = [(loaded[m.kid], m.signature, m.to_be_signed()) for m in parsed]
    start, cpu_start = time.perf_counter(), time.process_time()
    for key, sig, data in work:
        key.verify(sig, data)
    cpu = time.process_time() - cpu_start
    return len(work) / (time.perf_counter() - start), cpu / len(work)


def _stat(pid: int) -> list[str]:
    # proc(5): the fields after the command name, which may itself hold spaces and parentheses.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds so far of the processes pids and their descendants, all threads."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError):
                continue  # it ended meanwhile
    tree, frontier = set(pids), list(pids)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    ticks = 0
    for pid in tree:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (proc(5): stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


class AckCounter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.stored = 0
        self.done = threading.Event()

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.stored += sum(1 for _, _, status in acks.decode(msg.payload) if status == acks.STORED)
        if self.stored >= self.expected:
            self.done.set()


def start_collectors(
    broker: Mosquitto, db: str, k: int, workdir: Path, stack: ExitStack
) -> list[int]:
    logs = []
    for i in range(k):
        log = workdir / f"collector-{i}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tools.cli", "collector", "run", "--broker", broker.url,
                 "--db", db, "--client-id", f"bench-{i}", "--no-feed"],
                cwd=ROOT, stderr=err, stdout=subprocess.DEVNULL,
                env={**os.environ, "COLUMNS": "200"},
            )  # fmt: skip
        stack.callback(proc.wait, 20)
        stack.callback(proc.terminate)
        logs.append((proc, log))
    for proc, log in logs:
        # The collector logs a line once it is subscribed; poll its log for it.
        deadline = time.monotonic() + 30
        while b"subscribed to" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"collector did not subscribe:\n{log.read_text()}")
            time.sleep(0.05)
    return [proc.pid for proc, _ in logs]


@dataclass
class RunResult:
    rate: float  # records acknowledged per wall-clock second
    cpu_per_record: float  # CPU seconds of the collector processes per record
    machine_busy: float  # share of all cores busy during the run, everything included


def one_run(
    db: str, k: int, probes: list[SigningProbe], msgs: list[tuple[str, bytes]]
) -> RunResult:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        broker = stack.enter_context(Mosquitto(Path(tmp) / "mosq", persistence=False))
        with open_store(db) as store:
            for p in probes:
                registry.add_key(store, p.probe, p.public_key)
        pids = start_collectors(broker, db, k, Path(tmp), stack)
        counter = AckCounter(len(msgs))
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        client.on_message = counter.on_message
        client.on_subscribe = lambda *_: subscribed.set()
        client.max_inflight_messages_set(1000)
        client.connect(broker.host, broker.port)
        client.loop_start()
        stack.callback(client.loop_stop)
        client.subscribe("qiyas/v1/probes/+/acks", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK for the acks subscription")
        start, cpu_start, busy_start = time.perf_counter(), cpu_seconds(pids), machine_busy()
        for topic, raw in msgs:
            client.publish(topic, raw, qos=1)
        if not counter.done.wait(60):
            logs = "\n".join(p.read_text()[-3000:] for p in Path(tmp).glob("collector-*.log"))
            raise RuntimeError(f"only {counter.stored} of {len(msgs)} acknowledged\n{logs}")
        elapsed = time.perf_counter() - start
        cpu, busy_end = cpu_seconds(pids) - cpu_start, machine_busy()
        with open_store(db) as store:
            assert store.count_records() == len(msgs)
        busy = (busy_end[0] - busy_start[0]) / (busy_end[1] - busy_start[1])
        return RunResult(len(msgs) / elapsed, cpu / len(msgs), busy)


def sizes(probe: SigningProbe) -> None:
    signed = typical_record(probe, 123456)
    payload = cose.parse_sign1(signed).payload
    from agent.core import record

    as_json = json.dumps(record.decode(payload), separators=(",", ":")).encode()
    print(f"typical latency record: CBOR payload {len(payload)} B, COSE_Sign1 {len(signed)} B,")
    cbor_ratio, cose_ratio = len(payload) / len(as_json), len(signed) / len(as_json)
    print(f"  same record as compact JSON {len(as_json)} B (unsigned):")
    print(f"  CBOR/JSON = {cbor_ratio:.2f}, COSE/JSON = {cose_ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    probes, msgs = make_records(args.records)
    keys = {p.kid: p.public_key for p in probes}
    sizes(probes[0])
    references = [verify_rate(msgs, keys) for _ in range(args.runs)]
    reference = statistics.median(r for r, _ in references)
    reference_cpu = statistics.median(c for _, c in references)
    print(
        f"reference: Ed25519 verify (cryptography), median {reference:,.0f} signatures/s,"
        f" {reference_cpu * 1e6:.1f} µs CPU each"
    )
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")

    setups: list[tuple[str, int]] = [("sqlite", 1)]
    if not args.skip_postgres:
        setups += [("postgres", 1), ("postgres", 2), ("postgres", 3)]
    for engine, k in setups:
        runs = []
        for _ in range(args.runs):
            with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
                if engine == "sqlite":
                    db = str(Path(tmp) / "c.db")
                else:
                    db = stack.enter_context(postgres_database())
                runs.append(one_run(db, k, probes, msgs))
        rate = statistics.median(r.rate for r in runs)
        cpu = statistics.median(r.cpu_per_record for r in runs)
        busy = statistics.median(r.machine_busy for r in runs)
        print(
            f"ingest {engine:8} × {k} collector(s), {args.records} records:"
            f" median {rate:,.0f} records/s = {rate / reference:.3f} × verify rate"
            f"  (runs: {', '.join(f'{r.rate:,.0f}' for r in runs)})"
        )
        print(
            f"    collector CPU {cpu * 1e6:.1f} µs/record:"
            f" verify/record CPU = {reference_cpu / cpu:.3f}"
            f"  (machine {busy:.0%} busy during the runs, all processes)"
        )


if __name__ == "__main__":
    main()
