"""The household's own traffic, from the interface byte counters, so that a scheduled capacity
test can stand aside while the line is busy (and not measure a shared line as a slow one)."""

from __future__ import annotations

import asyncio

PROC_NET_DEV = "/proc/thread-self/net/dev"  # the calling thread's network namespace
MAX_BYTES = 256 * 1024


def read_counters(iface: str, path: str = PROC_NET_DEV) -> tuple[int, int]:
    """(received, transmitted) bytes of `iface`; ValueError when it is not there."""
    with open(path, "rb") as f:
        text = f.read(MAX_BYTES).decode("ascii", "replace")
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep or name.strip() != iface:
            continue
        fields = rest.split()
        if len(fields) < 16 or not (fields[0].isdigit() and fields[8].isdigit()):
            raise ValueError(f"{path}: unexpected counters for {iface}")
        return int(fields[0]), int(fields[8])
    raise ValueError(f"no interface {iface!r} in {path}")


async def traffic_kbps(iface: str, window_s: float = 1.0, path: str = PROC_NET_DEV) -> float:
    """Received plus transmitted kbit/s on `iface` over a window of `window_s` seconds."""
    loop = asyncio.get_running_loop()
    rx0, tx0 = read_counters(iface, path)
    t0 = loop.time()
    await asyncio.sleep(window_s)  # the observation window itself
    rx1, tx1 = read_counters(iface, path)
    elapsed = loop.time() - t0
    return ((rx1 - rx0) + (tx1 - tx0)) * 8 / 1000 / elapsed
