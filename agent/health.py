"""The `health` source: is the probe itself well (uptime, load, memory, outbox backlog)?"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from agent.boards import Board
from agent.config import AgentConfig
from agent.sources import LinkState, Measurement

_STARTED = time.monotonic()


def _meminfo_kb(field: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rss_kb() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


class HealthSource:
    def __init__(self, outbox_path: Path) -> None:
        self.outbox_path = outbox_path

    def _outbox(self) -> tuple[int, float | None]:
        """Backlog and age of the oldest record, read on a connection of our own (read-only)."""
        db = sqlite3.connect(f"file:{self.outbox_path}?mode=ro", uri=True)
        try:
            depth, oldest = db.execute("SELECT count(*), min(created) FROM records").fetchone()
        finally:
            db.close()
        return int(depth), None if oldest is None else max(0.0, time.time() - float(oldest))

    async def measure(self, link: LinkState) -> list[Measurement]:
        depth, oldest = self._outbox()
        values: dict[str, Any] = {
            "uptime_s": int(time.monotonic() - _STARTED),
            "load1": round(os.getloadavg()[0], 2),
            "outbox_depth": depth,
        }
        for key, value in (
            ("mem_available_kb", _meminfo_kb("MemAvailable")),
            ("rss_kb", _rss_kb()),
            ("outbox_oldest_s", None if oldest is None else int(oldest)),
        ):
            if value is not None:
                values[key] = value
        return [Measurement("health", values)]

    async def aclose(self) -> None:
        pass


def make(config: AgentConfig, board: Board) -> HealthSource:
    return HealthSource(config.outbox_path)
