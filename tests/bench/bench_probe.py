"""Benchmark the probe on a shaped link against the reference tools, measured in the same run:

  capacity   ours (`qiyas probe capacity`) vs iperf3 -P N (-O 1), both directions, at 50, 200,
             1000 Mbit/s and unshaped; medians and the ratio ours/iperf3; our stability figure
             (CV of the steady window, docs/methodology.md §3.2) and how many runs found one
  cpu        CPU seconds (client + server processes) per GB moved on the veth, ours vs iperf3
  idle RTT   ours (STAMP) vs ping, median of the per-packet RTTs, on the idle link
  bufferbloat  loaded-latency increase (median under load − idle median) vs the tbf queue

Run as root: .venv/bin/python tests/bench/bench_probe.py [--reps 3] [--duration 4]
Numbers on a shared 2-core machine are noisy: read medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hil.link import ShapedLink
from hil.link.serve import probe, readline, start_server

RATES: list[float | None] = [50, 200, 1000, None]
QUEUES_MS = [10, 50, 200]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def veth_bytes(link: ShapedLink) -> int:
    from agent.probe.crosstraffic import read_counters

    rx, tx = link.call("a", read_counters, link.iface)
    return rx + tx


class Meter:
    """CPU of the children we wait for (client, one-off server) and of a long-running server
    (server_pid), and the bytes that crossed the veth meanwhile."""

    def __init__(self, link: ShapedLink, server_pid: int | None) -> None:
        self.link, self.server_pid = link, server_pid

    def _server(self) -> float:
        return 0.0 if self.server_pid is None else proc_cpu_s(self.server_pid)

    def __enter__(self) -> Meter:
        self.cpu0 = children_cpu_s() + self._server()
        self.bytes0 = veth_bytes(self.link)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = children_cpu_s() + self._server() - self.cpu0
        self.bytes = veth_bytes(self.link) - self.bytes0


def ours(link: ShapedLink, port: int, server_pid: int, duration: float, streams: int):
    with Meter(link, server_pid) as m:
        out = probe(link, port, "capacity", "--duration", str(duration), "--streams", str(streams))
    doc = json.loads(out.stdout)
    cap = doc["capacity"]
    steady = [(cap[d]["cv"], cap[d]["steady"]) for d in ("down", "up")]
    return cap["down_mbps"], cap["up_mbps"], m.cpu / (m.bytes / 1e9), steady


def iperf(link: ShapedLink, duration: float, streams: int):
    """iperf3 both ways, each against a fresh one-off server (`-s -1`): a client that hangs at
    the end, as iperf3 sometimes does on a saturated machine, cannot wedge the next run.
    None when it hung."""
    rates, cpu, moved = [], 0.0, 0
    for reverse in (["-R"], []):  # -R: the server sends, i.e. the household downloads
        with Meter(link, None) as m:
            server = link.popen(
                "b", ["iperf3", "-s", "-1", "-B", link.addr_b, "--forceflush"],
                stdout=subprocess.PIPE,
            )  # fmt: skip
            readline(server, 10)  # "Server listening on 5201"
            argv = ["iperf3", "-c", link.addr_b, "-P", str(streams), "-t", str(duration), "-O", "1"]
            try:
                out = link.run(
                    "a", [*argv, *reverse, "-J"], capture_output=True, text=True,
                    timeout=duration + 30,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return None
            finally:
                server.kill()
                server.wait()
        rates.append(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6)
        cpu += m.cpu
        moved += m.bytes
    return rates[0], rates[1], cpu / (moved / 1e9)


def rtts_ping(link: ShapedLink, count: int) -> list[float]:
    out = link.run(
        "a", ["ping", "-c", str(count), "-i", "0.01", link.addr_b], capture_output=True, text=True
    )
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out.stdout)]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per direction")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument(
        "--rates", type=float, nargs="*", help="Mbit/s to shape to (default 50 200 1000, unshaped)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces, tc)", file=sys.stderr)
        return 2
    with ShapedLink(None) as link:
        server, port = start_server(link)
        print(
            f"# capacity (Mbit/s), {args.streams} streams, {args.duration:g} s per direction, "
            f"median of {args.reps}; CPU s/GB: client + server CPU per GB on the veth"
        )
        header = ("rate", "dir", "ours", "iperf3", "ratio", "ours s/GB", "iperf3 s/GB", "ratio")
        print("{:>9} {:>4} {:>9} {:>9} {:>6}   {:>9} {:>11} {:>6}   {:>6} {:>6}".format(
            *header, "CV", "steady"))  # fmt: skip
        for rate in RATES if args.rates is None else args.rates:
            link.shape(rate, rate, 50)
            reps = range(args.reps)
            o = [ours(link, port, server.pid, args.duration, args.streams) for _ in reps]
            tries = [iperf(link, args.duration, args.streams) for _ in reps]
            i = [t for t in tries if t is not None]
            if len(i) < len(tries):
                print(f"  (iperf3 hung in {len(tries) - len(i)} of {len(tries)} runs: left out)")
            if not i:
                continue
            cpu_o, cpu_i = median([x[2] for x in o]), median([x[2] for x in i])
            for k, name in ((0, "down"), (1, "up")):
                mo, mi = median([x[k] for x in o]), median([x[k] for x in i])
                label = f"{rate:g}M" if rate else "unshaped"
                cvs = [x[3][k][0] for x in o if x[3][k][0] is not None]
                cv = f"{median(cvs):6.3f}" if cvs else f"{'-':>6}"
                steady = f"{sum(x[3][k][1] for x in o)}/{len(o)}"
                print(
                    f"{label:>9} {name:>4} {mo:9.1f} {mi:9.1f} {mo / mi:6.3f}   "
                    f"{cpu_o:9.2f} {cpu_i:11.2f} {cpu_o / cpu_i:6.2f}   {cv} {steady:>6}"
                )

        link.shape(50, 50, 50)
        print("\n# idle RTT on the 50 Mbit/s link, 200 packets 10 ms apart (ms)")
        o_rtt, p_rtt = [], []
        for _ in range(args.reps):
            out = json.loads(
                probe(link, port, "latency", "--count", "200", "--interval", "10").stdout
            )
            o_rtt.append(out["latency"]["rtt_ms"]["median"])
            p_rtt.append(median(rtts_ping(link, 200)))
        mo, mp = median(o_rtt), median(p_rtt)
        print(f"ours (STAMP) median {mo:.4f}   ping median {mp:.4f}   ratio {mo / mp:.2f}")

        print("\n# loaded latency vs tbf queue, 50 Mbit/s, median RTT (ms)")
        print(f"{'queue':>6} {'idle':>7} {'down':>7} {'up':>7} {'+down':>7} {'+up':>7}")
        for queue in QUEUES_MS:
            link.shape(50, 50, queue)
            runs = [
                json.loads(probe(link, port, "all", "--duration", str(args.duration)).stdout)
                for _ in range(args.reps)
            ]
            idle = median([r["latency"]["rtt_ms"]["median"] for r in runs])
            down = median([r["loaded_latency"]["down"]["rtt_ms_median"] for r in runs])
            up = median([r["loaded_latency"]["up"]["rtt_ms_median"] for r in runs])
            print(
                f"{queue:>4}ms {idle:7.2f} {down:7.2f} {up:7.2f} "
                f"{down - idle:7.2f} {up - idle:7.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
