"""`qiyas demo`: the whole system on this machine — broker, collector, emulated hardware, agents.

Everything is a real process talking over real sockets and PTYs: a private Mosquitto, the
collector, the measurement server, emulated modems and an emulated ONT, and the agents. What the
collector verifies and stores is printed as it arrives; at the end the counts are reconciled.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from tools.cli import UsageError

console = Console(stderr=True)

FEED = "qiyas/v1/feed/#"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measuring")
    parser.add_argument("--workdir", type=Path, help="where state and logs go (default: temp)")
    parser.add_argument("--agents", type=int, default=2, help="number of probes (1..20)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.agents <= 20:
        raise UsageError("--agents must be 1..20")
    if not 1 <= args.duration <= 3600:
        raise UsageError("--duration must be 1..3600 seconds")
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="qiyas-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        summary = Demo(workdir, args.agents, stack).run(args.duration)
    if args.json:
        print(json.dumps(summary))
    else:
        console.print(
            f"[bold]{summary['records_stored']}[/] of {summary['records_sent']} records stored "
            f"and verified; by kind: {summary['by_kind']}; quarantined: "
            f"{summary['quarantined']}. Collector database: {workdir / 'collector.db'}"
        )
    ok = summary["records_stored"] == summary["records_sent"] and not summary["quarantined"]
    return 0 if ok else 1


class Demo:
    def __init__(self, workdir: Path, agents: int, stack: ExitStack) -> None:
        self.workdir = workdir
        self.n_agents = agents
        self.stack = stack
        self.db = workdir / "collector.db"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        from hil.fleet import qiyas

        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed by the stack
        self.stack.callback(log.close)
        proc = subprocess.Popen(qiyas(*argv), stdout=log, stderr=log, start_new_session=True)
        self.stack.callback(_terminate, proc)
        return proc

    def _cli(self, *argv: str) -> str:
        from hil.fleet import qiyas

        done = subprocess.run(qiyas(*argv), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"qiyas {' '.join(argv)} failed: {done.stderr.strip()}")
        return done.stdout

    def run(self, duration: float) -> dict[str, Any]:
        from agent.keys import load_or_create
        from hil.fleet import AgentProcess, write_agent_config
        from hil.mosquitto import Mosquitto

        broker = Mosquitto(self.workdir / "broker")
        broker.start()
        self.stack.callback(broker.stop)
        console.print(f"[green]broker[/] Mosquitto on {broker.url}")

        probes = [f"ma-demo-{i:04d}" for i in range(1, self.n_agents + 1)]
        configs = []
        for probe in probes:
            home = self.workdir / probe
            configs.append(
                write_agent_config(home, probe, broker.url, {"health": 5.0}, board="generic-linux")
            )
            key = load_or_create(home / "state" / "probe.key")
            self._cli(
                "collector", "keys", "add", "--db", str(self.db),
                "--probe", probe, "--public-key", key.public_key.hex(),
            )  # fmt: skip
            console.print(f"[green]probe[/] {probe} key {key.kid.hex()} registered")

        self._spawn("collector", ["collector", "run", "--broker", broker.url, "--db", str(self.db)])
        console.print(f"[green]collector[/] ingesting into {self.db}")

        feed = FeedPrinter(broker.host, broker.port)
        feed.start()
        self.stack.callback(feed.stop)

        agents = [
            AgentProcess(cfg, self.workdir / f"{probe}.log").start()
            for probe, cfg in zip(probes, configs, strict=True)
        ]
        for a in agents:
            self.stack.callback(a.kill)
        console.print(f"[green]agents[/] {len(agents)} running for {duration:g}s …")
        time.sleep(duration)
        for a in agents:
            a.stop()

        sent = sum(_issued(self.workdir / p / "state" / "outbox.db") for p in probes)
        stored = self._stored_by_kind()
        deadline = time.monotonic() + 15
        while sum(stored.values()) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
            stored = self._stored_by_kind()
        quarantined = json.loads(
            self._cli("collector", "quarantine", "--db", str(self.db), "--json")
        )
        return {
            "records_sent": sent,
            "records_stored": sum(stored.values()),
            "by_kind": dict(stored),
            "quarantined": len(quarantined),
            "verified_live": feed.count,
            "workdir": str(self.workdir),
        }

    def _stored_by_kind(self) -> Counter[str]:
        out = self._cli(
            "collector", "export", "--db", str(self.db), "--format", "jsonl", "--out", "-"
        )
        return Counter(json.loads(line)["kind"] for line in out.splitlines() if line.strip())


def _issued(outbox: Path) -> int:
    import sqlite3

    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
    finally:
        db.close()
    return int(row[0]) if row else 0


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class FeedPrinter:
    """Prints each record the collector verified and stored, from its live feed."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.count = 0
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.on_connect = lambda c, *_: c.subscribe(FEED, qos=0)
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._lock = threading.Lock()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            rec = json.loads(message.payload)
        except ValueError:
            return
        with self._lock:
            self.count += 1
        values = ", ".join(f"{k}={v}" for k, v in list(rec.get("values", {}).items())[:5])
        console.print(
            f"[cyan]✔ verified[/] {rec.get('probe')} #{rec.get('seq')} "
            f"[bold]{rec.get('kind')}[/] {values}",
            highlight=False,
        )

    def start(self) -> None:
        self._client.loop_start()

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
