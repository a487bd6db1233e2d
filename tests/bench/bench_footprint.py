"""Agent footprint: resident memory and idle CPU of `qiyas agent run` with every poller on.

    .venv/bin/python tests/bench/bench_footprint.py [--duration 120] [--settle 40]

The agent is provisioned as a technician would (`qiyas provision`, board openwrt-5g-cpe: modem
and ONT), against an emulated Quectel modem, an emulated ONT, the measurement server, a private
Mosquitto and a collector that acknowledges, with the status page on. Its memory (RSS, and PSS:
shared libraries divided among their users) and CPU time are sampled from /proc every second.
The first `--settle` seconds hold the first cycle of every source (a speed test among them); the
idle figure is the CPU used after that, per 30 s window (the kernel counts CPU in 10 ms ticks).
The reference is `python3 -c pass` on the same interpreter, measured in the same run. The aim
(DESIGN principle 7): RSS ≤ 40 MB, idle CPU ≤ 0.5 % of a core. The last table says where the
memory goes, by import. `--off NAME` turns a source off, to see what it costs.

`--only NAME` (repeatable, e.g. `--only radio`) then runs the same agent again, in the same run,
with only those sources scheduled and no status page, and prints its memory beside the full
agent's: the agent imports what its configuration uses (docs/development.md), so a probe that
only polls its modem does not carry the ONT, the probe's tests or the page.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "people")]

from conftest import Announcing, run_qiyas, start_collector  # noqa: E402

from hil.fleet import AgentProcess  # noqa: E402
from hil.mosquitto import Mosquitto, free_port  # noqa: E402

AIM_RSS_MB = 40.0
AIM_CPU_PCT = 0.5
WINDOW_S = 30.0
RSS_LINE = r"VmRSS:\s+(\d+)"
TICK = os.sysconf("SC_CLK_TCK")
# What the agent loads, cumulatively: the memory each layer adds.
IMPORT_STEPS = [
    ("python -c pass", "pass"),
    ("+ asyncio (and ssl)", "import asyncio, ssl"),
    ("+ cryptography Ed25519", "import cryptography.hazmat.primitives.asymmetric.ed25519"),
    ("+ aiomqtt / paho", "import aiomqtt"),
    ("+ sqlite3", "import sqlite3"),
    ("+ agent.supervisor", "import agent.supervisor"),
    ("+ modem (pyserial)", "import agent.modem.source"),
    ("+ ONT (OMCI)", "import agent.ont.source"),
    ("+ probe (STAMP, capacity)", "import agent.probe.source"),
    ("+ status page", "import agent.statuspage"),
]
# Lighter ways to the same end, each measured on top of asyncio and ssl alone.
ALTERNATIVES = [
    ("Ed25519 from cryptography", "import cryptography.hazmat.primitives.asymmetric.ed25519"),
    ("Ed25519 from agent.core (pure)", "import agent.core.ed25519"),
]


def baseline_rss_mb(runs: int = 5) -> float:
    """Peak RSS (VmHWM) of an interpreter that does nothing but report it: `python -c pass`.

    Not wait4's ru_maxrss: that also counts the forking parent's pages before exec.
    """
    peaks = []
    for _ in range(runs):
        status = subprocess.run(
            [sys.executable, "-c", "print(open('/proc/self/status').read())"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status)[1]) / 1024)  # type: ignore[index]
    return statistics.median(peaks)


def rss_pss_mb(pid: int) -> tuple[float, float]:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    rss = int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    pss = int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return rss / 1024, pss / 1024


def cpu_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_announcing(stack: ExitStack, workdir: Path, *argv: str) -> dict[str, Any]:
    process = Announcing(list(argv), workdir / f"{argv[0]}-{argv[1]}.log")
    stack.callback(process.stop)
    return process.where


def run_cli(*argv: str) -> None:
    done = run_qiyas(*argv, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"qiyas {' '.join(argv)}: {done.stderr.strip()}")


def provision(workdir: Path, stack: ExitStack, off: list[str]) -> Path:
    broker = Mosquitto(workdir / "broker").start()
    stack.callback(broker.stop)
    modem = start_announcing(stack, workdir, "hil", "modem", "--dialect", "quectel")
    ont = start_announcing(stack, workdir, "hil", "ont", "--listen", "udp://127.0.0.1:0")
    server = start_announcing(stack, workdir, "server", "--listen", "127.0.0.1:0", "--json")
    config, bundle, db = workdir / "agent.toml", workdir / "bundle.json", workdir / "collector.db"
    run_cli(
        "provision", "--board", "openwrt-5g-cpe", "--probe-id", "ma-06-bench", "--operator",
        "inwi", "--technology", "5G-FWA", "--region", "MA-06", "--broker", broker.url,
        "--server", f"127.0.0.1:{server['port']}", "--dns-target", "localhost",
        "--statuspage", f"127.0.0.1:{free_port()}", "--state-dir", str(workdir / "state"),
        "--config", str(config), "--bundle", str(bundle), "--no-input", "--json",
    )  # fmt: skip
    text = config.read_text()
    for name in off:  # for finding out which source costs what
        text = re.sub(rf"^{name} = \d+$", f"{name} = 0", text, flags=re.M)
    config.write_text(text)
    with config.open("a") as f:
        f.write(f'[modem]\nport = "{modem["port"]}"\n[ont]\ntransport = "{ont["listen"]}"\n')
    run_cli("collector", "keys", "add", "--db", str(db), "--bundle", str(bundle))
    collector = start_collector(broker.url, db, workdir / "collector.log")
    stack.callback(collector.stop)
    return config


def only(config: Path, names: list[str]) -> Path:
    """A copy of the agent config with only these sources scheduled and no status page."""
    text = re.sub(r"\n\[statuspage\]\nlisten = [^\n]*\n", "\n", config.read_text())
    head, _, rest = text.partition("[schedule]")
    schedule, sep, tail = rest.partition("\n[")
    schedule = re.sub(
        r"^(\w+) = \d+$",
        lambda m: m[0] if m[1] in names else f"{m[1]} = 0",
        schedule,
        flags=re.M,
    )
    path = config.with_name("agent-only.toml")
    path.write_text(head + "[schedule]" + schedule + sep + tail)
    return path


def wait_ready(sock: socket.socket) -> None:
    while sock.recv(64) != b"READY=1":
        pass


def measure_agent(config: Path, workdir: Path, duration: float, settle: float) -> dict[str, float]:
    notify = workdir / f"notify-{config.stem}"  # one socket per agent run
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": str(notify)}
        agent = AgentProcess(config, workdir / "agent.log", env=env).start()
        assert agent.proc is not None
        pid = agent.proc.pid
        try:
            wait_ready(sock)
            start = time.monotonic()
            samples: list[tuple[float, float, float, float]] = []  # t, cpu s, rss, pss
            while (now := time.monotonic()) - start < duration:
                samples.append((now - start, cpu_seconds(pid), *rss_pss_mb(pid)))
                time.sleep(1.0)  # the sampling period
        finally:
            agent.stop()
    idle = [s for s in samples if s[0] >= settle]
    windows = [
        (b[1] - a[1]) / (b[0] - a[0]) * 100
        for a, b in zip(idle, idle[int(WINDOW_S) :], strict=False)
        if b[0] - a[0] > 0
    ][:: int(WINDOW_S)]
    whole = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]) * 100
    steady = (idle[-1][1] - idle[0][1]) / (idle[-1][0] - idle[0][0]) * 100
    return {
        "rss_median_mb": statistics.median(s[2] for s in samples),
        "rss_max_mb": max(s[2] for s in samples),
        "pss_median_mb": statistics.median(s[3] for s in samples),
        "cpu_idle_window_median_pct": statistics.median(windows) if windows else steady,
        "cpu_idle_pct": steady,
        "cpu_whole_pct": whole,
    }


def rss_after(code: str) -> float:
    report = f"import re\nprint(re.search({RSS_LINE!r}, open('/proc/self/status').read())[1])"
    out = subprocess.run(
        [sys.executable, "-c", code + "\n" + report],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return int(out.stdout) / 1024


def import_breakdown() -> list[tuple[str, float]]:
    rows = []
    code = ""
    for label, statement in IMPORT_STEPS:
        code += statement + "\n"
        rows.append((label, rss_after(code)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of agent run")
    parser.add_argument("--settle", type=float, default=40.0, help="first cycle, not idle")
    parser.add_argument(
        "--off", action="append", default=[], help="turn a source off (repeat), to compare"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="then run again with only this source (repeat) and no status page, to compare",
    )
    args = parser.parse_args()
    if not args.settle + 2 * WINDOW_S <= args.duration:
        parser.error(f"--duration must leave two {WINDOW_S:g} s windows after --settle")
    base = baseline_rss_mb()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="qiyas-footprint-") as tmp:
        workdir = Path(tmp)
        config = provision(workdir, stack, args.off)
        agent = measure_agent(config, workdir, args.duration, args.settle)
        lean = None
        if args.only:
            lean = measure_agent(only(config, args.only), workdir, args.duration, args.settle)
    print(f"reference: python -c pass          peak RSS {base:6.1f} MB (VmHWM, median of 5)")
    print(
        f"agent run, {'all pollers' if not args.off else 'off: ' + ','.join(args.off)}, "
        f"{args.duration:g} s: RSS median {agent['rss_median_mb']:6.1f} MB "
        f"(max {agent['rss_max_mb']:.1f}), PSS median {agent['pss_median_mb']:.1f} MB; "
        f"RSS ratio to reference {agent['rss_median_mb'] / base:.2f}x"
    )
    print(
        f"agent CPU: idle (after {args.settle:g} s) median "
        f"{agent['cpu_idle_window_median_pct']:.3f} % of a core per {WINDOW_S:g} s window, "
        f"{agent['cpu_idle_pct']:.3f} % overall; "
        f"whole run incl. first cycle {agent['cpu_whole_pct']:.3f} %"
    )
    if lean is not None:
        print(
            f"agent run, only {','.join(args.only)} (no status page), {args.duration:g} s: "
            f"RSS median {lean['rss_median_mb']:6.1f} MB (max {lean['rss_max_mb']:.1f}), "
            f"PSS median {lean['pss_median_mb']:.1f} MB; "
            f"RSS ratio to the full agent {lean['rss_median_mb'] / agent['rss_median_mb']:.3f}"
        )
    rss_ok = agent["rss_median_mb"] <= AIM_RSS_MB
    cpu_ok = agent["cpu_idle_window_median_pct"] <= AIM_CPU_PCT
    print(
        f"aim: RSS ≤ {AIM_RSS_MB:g} MB {'met' if rss_ok else 'MISSED'}; "
        f"idle CPU ≤ {AIM_CPU_PCT:g} % {'met' if cpu_ok else 'MISSED'}"
    )
    print("where the memory goes (RSS after each import, cumulative):")
    previous = 0.0
    for label, mb in import_breakdown():
        print(f"  {label:<28} {mb:6.1f} MB  (+{mb - previous:4.1f})")
        previous = mb
    floor = rss_after(IMPORT_STEPS[1][1])
    print("lighter alternatives (RSS added on top of asyncio + ssl):")
    for label, statement in ALTERNATIVES:
        added = rss_after(IMPORT_STEPS[1][1] + "\n" + statement) - floor
        print(f"  {label:<32} +{added:4.1f} MB")


if __name__ == "__main__":
    main()
