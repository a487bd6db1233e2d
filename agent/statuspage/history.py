"""The status page's small local history: the last days' latency and capacity, for the charts.

Filled as the agent commits records; the outbox cannot serve here, since records leave it once
the collector has stored them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

HISTORY_DAYS = 7
# series name → (record kind, value key)
SERIES = {
    "latency_ms": ("latency", "rtt_ms_median"),
    "down_mbps": ("capacity", "down_mbps"),
    "up_mbps": ("capacity", "up_mbps"),
}


class History:
    """The last HISTORY_DAYS of latency and capacity figures, for the charts."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        # Charts only: losing the last samples in a power cut is fine, wearing the flash is not.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS samples (time_ms INTEGER NOT NULL, series TEXT NOT NULL, "
            "value REAL NOT NULL)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS samples_time ON samples(time_ms)")
        self.db.execute("CREATE TABLE IF NOT EXISTS last (kind TEXT PRIMARY KEY, time_ms INTEGER)")

    def observe(self, kind: str, values: dict[str, Any], time_ms: int) -> None:
        """Called by the agent for each committed record."""
        if kind == "status":
            return
        rows = [
            (time_ms, series, float(values[key]))
            for series, (k, key) in SERIES.items()
            if k == kind and isinstance(values.get(key), (int, float))
        ]
        cutoff = time_ms - HISTORY_DAYS * 86_400_000
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows)
            self.db.execute("DELETE FROM samples WHERE time_ms < ?", (cutoff,))
            self.db.execute("INSERT OR REPLACE INTO last VALUES (?, ?)", (kind, time_ms))

    def series(self, name: str, since_ms: int) -> list[tuple[int, float]]:
        rows = self.db.execute(
            "SELECT time_ms, value FROM samples WHERE series = ? AND time_ms >= ? ORDER BY time_ms",
            (name, since_ms),
        ).fetchall()
        return [(int(t), float(v)) for t, v in rows]

    def last(self) -> tuple[str, int] | None:
        row = self.db.execute("SELECT kind, time_ms FROM last ORDER BY time_ms DESC").fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def close(self) -> None:
        self.db.close()
