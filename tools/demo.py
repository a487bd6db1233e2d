"""`qiyas demo`: the whole system on this machine — broker, collector, emulated hardware, agents.

Everything is a real process talking over real sockets and PTYs: a private Mosquitto, the
collector, the measurement server, emulated modems (5G fixed-wireless probes) and emulated ONTs
(FTTH probes), and the agents. What the collector verifies and stores is printed as it arrives;
at the end the counts are reconciled against what the agents committed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from agent.cli_contract import UsageError

console = Console(stderr=True)

FEED = "qiyas/v1/feed/#"
SCHEDULE = {"health": 10.0, "latency": 6.0, "capacity": 12.0}
PROBE_SETTINGS = '[probe]\nservers = ["{server}"]\nduration_s = 2\nstreams = 2\nstamp_count = 20\n'
# What the live feed shows of each kind: the figures a regulator would look at first.
HEADLINE = {
    "radio": ("tech", "rsrp_dbm", "sinr_db", "band"),
    "optical": ("rx_dbm", "tx_dbm", "temperature_c"),
    "latency": ("rtt_ms_median", "rtt_pdv_ms", "loss"),
    "capacity": ("down_mbps", "up_mbps", "loaded_rtt_ms_median_down"),
    "health": ("uptime_s", "outbox_depth", "rss_kb"),
    "status": ("event", "detail"),
}


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


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.05)


class Demo:
    def __init__(self, workdir: Path, agents: int, stack: ExitStack) -> None:
        self.workdir = workdir
        self.n_agents = agents
        self.stack = stack
        self.db = workdir / "collector.db"

    def _spawn(self, name: str, argv: list[str]) -> Path:
        """Start `qiyas ARGV` in the background, stopped when the demo ends; returns its log."""
        from hil.fleet import QiyasProcess

        log = self.workdir / f"{name}.log"
        proc = QiyasProcess(argv, log).start()
        self.stack.callback(proc.stop)
        return log

    def _cli(self, *argv: str) -> str:
        from hil.fleet import qiyas

        done = subprocess.run(qiyas(*argv), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"qiyas {' '.join(argv)} failed: {done.stderr.strip()}")
        return done.stdout

    def _access_link(self, index: int, probe: str) -> tuple[str, str]:
        """Emulated access hardware for one probe: (schedule entry, agent config section)."""
        from hil.mosquitto import free_port

        if index % 2:  # an FTTH home: an ONT answering OMCI over the UDP tunnel
            port = free_port()
            log = self._spawn(f"{probe}-ont", ["hil", "ont", "--listen", f"udp://127.0.0.1:{port}"])
            wait_for(lambda: '"listen"' in log.read_text(), 15, f"the emulated ONT of {probe}")
            console.print(f"[green]ONT[/] {probe}: emulated ONT on udp://127.0.0.1:{port}")
            return "optical", f'[ont]\ntransport = "udp://127.0.0.1:{port}"\n'
        # a 5G fixed-wireless home: a Quectel RM520N on 5G SA behind a PTY
        link = self.workdir / f"{probe}-modem"
        self._spawn(f"{probe}-modem", ["hil", "modem", "--dialect", "quectel", "--link", str(link)])
        wait_for(link.exists, 15, f"the emulated modem of {probe}")
        console.print(f"[green]modem[/] {probe}: emulated Quectel 5G SA on {link.resolve()}")
        return "radio", f'[modem]\nport = "{link}"\ndialect = "auto"\n'

    def run(self, duration: float) -> dict[str, Any]:
        from agent.keys import load_or_create
        from agent.outbox import peek
        from hil.fleet import AgentProcess, write_agent_config
        from hil.mosquitto import Mosquitto, free_port, wait_listening

        broker = Mosquitto(self.workdir / "broker")
        broker.start()
        self.stack.callback(broker.stop)
        console.print(f"[green]broker[/] Mosquitto on {broker.url}")

        server_port = free_port()
        server = f"127.0.0.1:{server_port}"
        self._spawn("server", ["server", "--listen", server, "--max-mbps", "200"])
        wait_listening("127.0.0.1", server_port, timeout=15)
        console.print(f"[green]server[/] measurement server on {server}")

        probes = [f"ma-demo-{i:04d}" for i in range(1, self.n_agents + 1)]
        configs = []
        for index, probe in enumerate(probes):
            home = self.workdir / probe
            link_kind, link_section = self._access_link(index, probe)
            schedule = {**SCHEDULE, link_kind: 5.0}
            extra = link_section + PROBE_SETTINGS.format(server=server)
            configs.append(write_agent_config(home, probe, broker.url, schedule, extra))
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

        sent = sum(peek(self.workdir / p / "state" / "outbox.db").issued for p in probes)
        wait_for(lambda: sum(self._stored_by_kind().values()) >= sent, 30, "storing every record")
        stored = self._stored_by_kind()
        db = str(self.db)
        quarantined = json.loads(self._cli("collector", "quarantine", "--db", db, "--json"))
        return {
            "records_sent": sent,
            "records_stored": sum(stored.values()),
            "by_kind": dict(stored),
            "quarantined": len(quarantined),
            "verified_live": feed.count,
            "workdir": str(self.workdir),
        }

    def _stored_by_kind(self) -> Counter[str]:
        db = str(self.db)
        out = self._cli("collector", "export", "--db", db, "--format", "jsonl", "--out", "-")
        return Counter(json.loads(line)["kind"] for line in out.splitlines() if line.strip())


class FeedPrinter:
    """Prints each record the collector verified and stored, from its live feed."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.count = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
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
        kind = rec.get("kind")
        values = rec.get("values", {})
        if kind == "radio":  # the radio snapshot nests its levels under the serving cell
            values = values.get("serving_cell") or {}
        shown = [
            f"{k}={values[k]:.3g}" if isinstance(values[k], float) else f"{k}={values[k]}"
            for k in HEADLINE.get(kind, ())
            if values.get(k) is not None
        ]
        console.print(
            f"[cyan]✔ verified[/] {rec.get('probe')} #{rec.get('seq'):<4} "
            f"[bold]{kind:<8}[/] {'  '.join(shown)}",
            highlight=False,
        )

    def start(self) -> None:
        self._client.loop_start()

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
