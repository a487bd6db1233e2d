"""The outbox keeps what it committed, never reissues a seq, and says what it dropped."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.outbox import Outbox, OutboxFull, peek


def body(epoch: int, seq: int) -> bytes:
    return b"record %d/%d" % (epoch, seq)


def test_seq_never_repeats_and_epoch_counts_boots(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    first = Outbox(path)
    seqs = [first.add("health", body) for _ in range(3)]
    first.acknowledge([(first.epoch, s) for s in seqs])  # emptied: seqs must still not reset
    first.close()
    second = Outbox(path)
    assert second.epoch == first.epoch + 1
    assert second.add("health", body) == seqs[-1] + 1
    second.close()


def test_committed_record_survives_kill_9(tmp_path: Path) -> None:
    """A record is durable once add() returns: a process killed right after loses nothing."""
    path = tmp_path / "outbox.db"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from agent.outbox import Outbox\n"
        f"o = Outbox(Path({str(path)!r}))\n"
        "for i in range(50):\n"
        "    o.add('health', lambda e, s: b'x%d' % s)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    after = Outbox(path)
    assert after.depth == 50
    assert after.add("health", body) == 51
    after.close()


def test_build_failure_consumes_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")

    def broken(epoch: int, seq: int) -> bytes:
        raise ValueError("schema")

    with pytest.raises(ValueError):
        box.add("health", broken)
    assert box.depth == 0
    assert box.add("health", body) == 1


def test_full_outbox_drops_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_records=10)
    for _ in range(15):
        box.add("health", body)
    assert box.depth == 10
    assert box.take_dropped() == 5
    assert box.take_dropped() == 0
    kept = [p.seq for p in box.due(now=0.0, resend_after=1.0, limit=100)]
    assert kept == list(range(6, 16))


def test_resend_only_after_ack_timeout(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    seq = box.add("health", body)
    box.mark_sent([seq], now=100.0)
    assert box.due(now=101.0, resend_after=30.0) == []
    assert [p.seq for p in box.due(now=131.0, resend_after=30.0)] == [seq]
    box.forget_sent()
    assert [p.seq for p in box.due(now=101.0, resend_after=30.0)] == [seq]


def test_ack_must_match_epoch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    seq = box.add("health", body)
    assert box.acknowledge([(box.epoch + 1, seq)]) == 0
    assert box.acknowledge([(box.epoch, seq)]) == 1
    assert box.depth == 0


def test_wal_and_full_sync(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    box.close()


def test_peek_sees_the_agents_outbox_from_another_connection(tmp_path: Path) -> None:
    """What `qiyas doctor` reads while the agent holds the database open: the seqs issued, the
    records waiting and when the oldest of them was committed; acknowledged ones are gone."""
    path = tmp_path / "o.db"
    box = Outbox(path)
    assert peek(path) == (0, set(), None)
    seqs = [box.add("health", body) for _ in range(3)]
    created = box.db.execute("SELECT created FROM records WHERE seq=?", (seqs[0],)).fetchone()[0]
    box.acknowledge([(box.epoch, seqs[1])])
    seen = peek(path)
    assert seen == (3, {seqs[0], seqs[2]}, created)
    assert len(seen.waiting) == box.depth
    box.acknowledge([(box.epoch, s) for s in (seqs[0], seqs[2])])
    assert peek(path) == (3, set(), None)
    box.close()


def test_peek_of_no_outbox_creates_none(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):  # read-only: it cannot create one
        peek(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a tiny tmpfs")
def test_disk_full_is_reported_and_loses_only_the_new_record(tmp_path: Path) -> None:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        box = Outbox(mnt / "o.db")
        big = os.urandom(16 * 1024)
        committed = 0
        with pytest.raises(OutboxFull):
            for _ in range(100):
                box.add("health", lambda e, s: big)
                committed += 1
        assert 0 < committed < 100
        assert box.depth == committed
        rows = sqlite3.connect(mnt / "o.db").execute("SELECT count(*) FROM records").fetchone()
        assert rows[0] == committed
        box.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
