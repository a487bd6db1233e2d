"""The outbox under a wall clock that jumps: a record sent and not acknowledged before the clock
went back must not wait for the clock to catch up before it is sent again."""

from __future__ import annotations

from pathlib import Path

from agent.outbox import Outbox

ACK_TIMEOUT_S = 30.0


def test_a_backwards_jump_does_not_hold_back_resends(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        seq = outbox.add("health", lambda epoch, seq: b"signed record")
        sent_at = 1_800_000_000.0
        outbox.mark_sent([seq], sent_at)
        assert outbox.due(sent_at + 1, ACK_TIMEOUT_S) == []  # in flight: not due yet
        assert [r.seq for r in outbox.due(sent_at + ACK_TIMEOUT_S + 1, ACK_TIMEOUT_S)] == [seq]
        # The clock jumps an hour back: the ack is overdue all the same.
        assert [r.seq for r in outbox.due(sent_at - 3600, ACK_TIMEOUT_S)] == [seq]
    finally:
        outbox.close()


def test_a_forwards_jump_resends_at_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        seq = outbox.add("health", lambda epoch, seq: b"signed record")
        outbox.mark_sent([seq], 1_800_000_000.0)
        assert [r.seq for r in outbox.due(1_800_000_000.0 + 7200, ACK_TIMEOUT_S)] == [seq]
    finally:
        outbox.close()
