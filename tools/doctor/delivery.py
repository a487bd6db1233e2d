"""Delivery: what waits in the agent's outbox, and for how long."""

from __future__ import annotations

import sqlite3
import time

from tools.doctor.results import FAIL, WARN, Context, Result, passed, unreadable

OUTBOX_LATE_S = 3600.0
OUTBOX_STUCK_S = 86400.0


async def check_outbox(ctx: Context) -> Result:
    from agent.outbox import peek

    path = ctx.config.outbox_path
    try:
        if not path.exists():
            return passed("outbox", "empty (the agent has not run yet)")
        seen = peek(path)
    except (PermissionError, sqlite3.OperationalError):
        return unreadable("outbox", path)
    if seen.oldest_created is None:
        return passed("outbox", "empty: everything was delivered")
    age = time.time() - seen.oldest_created
    text = f"{len(seen.waiting)} records waiting, the oldest for {_duration(age)}"
    fix = "the agent cannot deliver: see the broker check; journalctl -u qiyas-agent"
    if age > OUTBOX_STUCK_S:
        return Result("outbox", FAIL, text, fix)
    if age > OUTBOX_LATE_S:
        return Result("outbox", WARN, text, fix)
    return passed("outbox", text)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
