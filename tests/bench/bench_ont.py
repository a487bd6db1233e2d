"""Benchmark: one full ONT poll over OMCI, and what the OMCI code costs the agent in memory.

  .venv/bin/python tests/bench/bench_ont.py [--rounds N]

1. A full poll (MIB upload, health Gets, ANI-G Test, alarms, FEC current data) against the
   emulated ONT in its own process over UDP on loopback: median time and frames exchanged.
   Reference, measured in the same run: the same number of request/response round trips of
   48-byte datagrams against a bare UDP echo process, through the same asyncio machinery.
2. Resident memory of a Python process that has loaded the agent's OMCI code and done a poll,
   against a bare `python -c pass`; and, for scale, the same with the scapy layers loaded (what
   `--pcap` costs) and a bare `import scapy.all`.
Not pass/fail: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
PY = sys.executable
QIYAS = str(Path(PY).with_name("qiyas"))

ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(data, addr)
"""

RSS_PROBE = """
import sys
{body}
with open("/proc/self/status") as f:
    print(next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")))
"""

POLL_BODY = """
import asyncio
from agent.ont.source import make
from agent.ont.driver import poll_ont
asyncio.run(poll_ont(sys.argv[1]))
assert "scapy" not in sys.modules
"""
POLL_WITH_LAYERS_BODY = "import agent.ont.layers\n" + POLL_BODY.replace("assert", "# ")


async def _poll_times(url: str, rounds: int) -> tuple[list[float], int]:
    from agent.ont.driver import poll_ont

    times, frames = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        _, runner = await poll_ont(url)
        times.append(time.perf_counter() - started)
        frames = runner.stats.sent + runner.stats.received
    return times, frames


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.got.put_nowait(data)


async def _echo_times(port: int, round_trips: int, rounds: int) -> list[float]:
    loop = asyncio.get_running_loop()
    times = []
    payload = bytes(48)
    for _ in range(rounds):
        started = time.perf_counter()
        transport, proto = await loop.create_datagram_endpoint(
            _Echo, remote_addr=("127.0.0.1", port)
        )
        for _ in range(round_trips):
            transport.sendto(payload)
            await asyncio.wait_for(proto.got.get(), 5)
        transport.close()
        times.append(time.perf_counter() - started)
    return times


def _rss_kb(body: str, *args: str) -> int:
    out = subprocess.run(
        [PY, "-c", RSS_PROBE.format(body=body), *args],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return int(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    ont = subprocess.Popen(
        [QIYAS, "hil", "ont", "--listen", "udp://127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    echo = subprocess.Popen([PY, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    try:
        assert ont.stdout is not None and echo.stdout is not None
        url = json.loads(ont.stdout.readline())["listen"]
        echo_port = int(echo.stdout.readline())
        poll, frames = asyncio.run(_poll_times(url, args.rounds))
        # a poll's frames: each request has one answer, except the Test, which has two
        reference = asyncio.run(_echo_times(echo_port, frames // 2, args.rounds))
        rss_omci = statistics.median(_rss_kb(POLL_BODY, url) for _ in range(3))
        rss_layers = statistics.median(_rss_kb(POLL_WITH_LAYERS_BODY, url) for _ in range(3))
    finally:
        ont.terminate()
        echo.terminate()
        ont.wait(10)
        echo.wait(10)
    rss_bare = statistics.median(_rss_kb("pass") for _ in range(3))
    rss_scapy_all = statistics.median(_rss_kb("import scapy.all") for _ in range(3))

    p, r = statistics.median(poll), statistics.median(reference)
    print(f"full ONT poll over UDP (MIB upload, Gets, Test, alarms, FEC), {args.rounds} rounds")
    print(f"  frames exchanged per poll        {frames}")
    print(f"  poll median                      {p * 1000:8.2f} ms")
    print(f"  reference: {frames // 2} raw UDP round trips {r * 1000:8.2f} ms")
    print(f"  ratio poll / reference           {p / r:8.2f}")
    print("agent memory (VmRSS)")
    print(f"  bare python -c pass              {rss_bare / 1024:8.1f} MiB")
    print(f"  OMCI poll code, one poll done    {rss_omci / 1024:8.1f} MiB")
    print(f"  + scapy OMCI layers (for --pcap) {rss_layers / 1024:8.1f} MiB")
    print(f"  python + import scapy.all        {rss_scapy_all / 1024:8.1f} MiB")
    print(f"  ratio OMCI poll / bare           {rss_omci / rss_bare:8.2f}")
    print(f"  ratio with scapy layers / bare   {rss_layers / rss_bare:8.2f}")


if __name__ == "__main__":
    main()
