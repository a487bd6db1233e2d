"""The durable outbox: every record is signed and committed here before any network I/O.

SQLite in WAL mode with synchronous=FULL, so a committed record survives a power cut. A record
leaves only when the collector acknowledges that it stored it. The sequence number and the boot
epoch live in the same database and advance in the same transaction as the insert, so a seq is
never issued twice, whatever crashes in between.

Policy when full (max_records): the oldest records are dropped to make room, the count is kept,
and the agent reports it in a `status` record (event `outbox-full`) and in `health`. Newest-first
keeps the probe's picture of the present; the drop is never silent.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from agent.core import record
from agent.core.errors import QiyasError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    body BLOB NOT NULL,
    sent_at REAL
);
"""


class Pending(NamedTuple):
    seq: int
    epoch: int
    kind: str
    body: bytes


class Peek(NamedTuple):
    issued: int  # seqs ever issued on this probe (the last seq)
    waiting: set[int]  # seqs committed and not yet acknowledged
    oldest_created: float | None  # when the oldest waiting record was committed (Unix time)


def peek(path: Path) -> Peek:
    """The outbox at path seen from another process (tools, tests), read-only."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
        waiting = {seq for (seq,) in db.execute("SELECT seq FROM records")}
        (oldest,) = db.execute("SELECT min(created) FROM records").fetchone()
    finally:
        db.close()
    return Peek(int(row[0]) if row else 0, waiting, None if oldest is None else float(oldest))


class OutboxFull(QiyasError, OSError):
    """The disk refused the write: the record could not be kept."""


class Outbox:
    def __init__(self, path: Path, max_records: int = 20000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_records = max_records
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # The WAL is folded back every ~400 KB and cut to 1 MB, not left to grow to 4 MB (SQLite's
        # default): a board's small state partition must not fill up with an idle journal.
        self.db.execute("PRAGMA wal_autocheckpoint=100")
        self.db.execute("PRAGMA journal_size_limit=1048576")
        self.db.executescript(_SCHEMA)
        with self._tx():
            if not self._get("epoch"):  # a new outbox: see agent.core.record.first_epoch
                self._set("epoch", record.first_epoch(os.urandom(4)) - 1)
            self.epoch = self._bump("epoch")
        self._depth = self._count()
        self._issued = self._get("next_seq")

    def _tx(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def _get(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set(self, key: str, value: int) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def _bump(self, key: str) -> int:
        value = self._get(key) + 1
        self._set(key, value)
        return value

    def _count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM records").fetchone()[0])

    def add(self, kind: str, build: Callable[[int, int], bytes]) -> int:
        """Allocate the next seq, build the signed record with (epoch, seq), commit it.

        Returns the seq. Raises OutboxFull if the disk refuses the write (nothing was kept).
        """
        try:
            with self._tx():
                seq = self._bump("next_seq")
                body = build(self.epoch, seq)
                overflow = self._depth + 1 - self.max_records
                if overflow > 0:
                    self.db.execute(
                        "DELETE FROM records WHERE seq IN "
                        "(SELECT seq FROM records ORDER BY seq LIMIT ?)",
                        (overflow,),
                    )
                    self._set("dropped", self._get("dropped") + overflow)
                    self._depth -= overflow
                self.db.execute(
                    "INSERT INTO records(seq, epoch, kind, created, body) VALUES(?,?,?,?,?)",
                    (seq, self.epoch, kind, time.time(), body),
                )
        except sqlite3.OperationalError as exc:
            self._depth = self._count()
            raise OutboxFull(f"{self.path}: record not kept: {exc}") from None
        self._depth += 1
        self._issued = seq
        return seq

    def due(self, now: float, resend_after: float, limit: int = 100) -> list[Pending]:
        """Records never sent, or sent and not acknowledged for resend_after seconds.

        A record "sent" after now was sent before the wall clock jumped back: it is due too.
        """
        rows = self.db.execute(
            "SELECT seq, epoch, kind, body FROM records "
            "WHERE sent_at IS NULL OR sent_at < ? OR sent_at > ? ORDER BY seq LIMIT ?",
            (now - resend_after, now, limit),
        ).fetchall()
        return [Pending(*row) for row in rows]

    @contextlib.contextmanager
    def _bookkeeping(self, what: str) -> Iterator[None]:
        """A full disk also refuses the uplink's bookkeeping: OutboxFull (an OSError), which the
        uplink survives by reconnecting later, rather than an error that would end the agent."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise OutboxFull(f"{self.path}: cannot {what}: {exc}") from None

    def mark_sent(self, seqs: list[int], now: float) -> None:
        with self._bookkeeping("mark records sent"), self._tx():
            self.db.executemany(
                "UPDATE records SET sent_at=? WHERE seq=?", [(now, s) for s in seqs]
            )

    def forget_sent(self) -> None:
        """After a reconnect nothing is in flight: everything unacknowledged is due again."""
        with self._bookkeeping("reset records in flight"):
            self.db.execute("UPDATE records SET sent_at=NULL WHERE sent_at IS NOT NULL")

    def acknowledge(self, acks: list[tuple[int, int]]) -> int:
        """Remove the acknowledged (epoch, seq) records; returns how many were removed."""
        with self._bookkeeping("remove acknowledged records"), self._tx():
            cur = self.db.executemany("DELETE FROM records WHERE epoch=? AND seq=?", acks)
        removed = cur.rowcount
        self._depth -= removed
        return removed

    def meta(self, key: str) -> int:
        """A durable counter of the agent's own (e.g. the last accepted command); 0 if never set."""
        return self._get(key)

    def set_meta(self, key: str, value: int) -> None:
        with self._tx():
            self._set(key, value)

    @property
    def depth(self) -> int:
        return self._depth

    def oldest_age(self, now: float) -> float | None:
        row = self.db.execute("SELECT min(created) FROM records").fetchone()
        return None if row[0] is None else now - float(row[0])

    @property
    def issued(self) -> int:
        """How many seqs were ever issued on this probe (the last seq)."""
        return self._issued

    def take_dropped(self) -> int:
        """Records dropped for room since the last call (and reset the count)."""
        with self._tx():
            dropped = self._get("dropped")
            if dropped:
                self._set("dropped", 0)
        return dropped

    def close(self) -> None:
        self.db.close()
