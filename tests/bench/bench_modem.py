"""Modem poll cycle per dialect: time and bytes on the wire, over a real PTY at 115200 baud.

    .venv/bin/python tests/bench/bench_modem.py [--polls N]

For each emulated modem (healthy scenario, `qiyas hil modem` in its own process) the agent's
serial driver polls N times. Printed per dialect: commands and bytes per poll (both directions),
the median poll time, and two references from the same run:
- wire: the time those bytes need on a real 115200-baud 8N1 UART (10 bits a byte), which a PTY
  does not impose; the ratio poll/wire says how much of a real poll is the line, not us;
- core: the sans-IO session and parsers alone, replaying the same answers without I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.core import dialects  # noqa: E402
from agent.core.at import ATSession  # noqa: E402
from agent.core.radio import Poller, new_snapshot  # noqa: E402
from agent.modem.driver import ModemDriver, ModemSettings  # noqa: E402
from hil.modem.scenario import models  # noqa: E402

BAUD = 115200
BITS_PER_BYTE = 10  # start + 8 data + stop


class RecordingDriver(ModemDriver):
    """Keeps, per command, the bytes the modem answered, for the sans-IO replay."""

    def __init__(self, settings: ModemSettings) -> None:
        super().__init__(settings)
        self.answers: dict[str, bytes] = {}

    async def _read(self, timeout: float) -> bytes:
        pending = self.session._pending
        data = await super()._read(timeout)
        if pending is not None:
            self.answers[pending] = self.answers.get(pending, b"") + data
        return data


def start_emulator(dialect: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "hil", "modem", "--dialect", dialect],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    if not ready:
        proc.kill()
        raise SystemExit(f"emulator for {dialect} did not start")
    return proc, json.loads(proc.stdout.readline())["port"]


def replay(steps: tuple[object, ...], answers: dict[str, bytes]) -> float:
    start = time.perf_counter()
    poller = Poller(ATSession(), steps, new_snapshot())
    out = poller.start(0.0)
    while not poller.done:
        out = poller.receive(answers[out.decode().rstrip("\r")], 0.0)
    return time.perf_counter() - start


async def bench(dialect: str, polls: int) -> dict[str, float]:
    proc, port = start_emulator(dialect)
    driver = RecordingDriver(ModemSettings(port, BAUD))
    try:
        await driver.poll()  # open, resync, identify: not part of the steady cycle
        times, sizes = [], []
        for _ in range(polls):
            before = driver.bytes_in + driver.bytes_out
            driver.answers.clear()  # keep the last poll's answers for the replay
            start = time.perf_counter()
            await driver.poll()
            times.append(time.perf_counter() - start)
            sizes.append(driver.bytes_in + driver.bytes_out - before)
    finally:
        await driver.aclose()
        proc.terminate()
        proc.wait(timeout=10)
    steps = dialects.plan(dialect)
    core = [replay(steps, driver.answers) for _ in range(polls)]
    size = statistics.median(sizes)
    return {
        "commands": len(steps),
        "bytes": size,
        "poll_ms": statistics.median(times) * 1000,
        "wire_ms": size * BITS_PER_BYTE / BAUD * 1000,
        "core_ms": statistics.median(core) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=50)
    args = parser.parse_args()
    print(f"{args.polls} polls per dialect over a PTY; wire = bytes at {BAUD} baud 8N1")
    header = (
        f"{'dialect':<9} {'cmds':>4} {'bytes/poll':>10} {'poll ms':>8} {'wire ms':>8} "
        f"{'poll/wire':>9} {'core ms':>8} {'core/poll':>9}"
    )
    print(header)
    for dialect in models():
        r = await bench(dialect, args.polls)
        print(
            f"{dialect:<9} {r['commands']:>4} {r['bytes']:>10.0f} {r['poll_ms']:>8.2f} "
            f"{r['wire_ms']:>8.2f} {r['poll_ms'] / r['wire_ms']:>9.2f} {r['core_ms']:>8.3f} "
            f"{r['core_ms'] / r['poll_ms']:>9.3f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
