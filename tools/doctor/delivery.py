"""Delivery: what waits in the agent's outbox, and a test record through the agent's own path.

The test record is a `status` record (event `doctor`) signed with the probe's key by the agent's
recorder, committed to the agent's outbox and sent by the agent's uplink (agent/uplink.py): its
acknowledgement by the collector proves the path every measurement takes, signature and
registry included, not only that the broker accepts a connection. The uplink also sends what
was waiting in the outbox, as the agent would on starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tools.doctor.results import FAIL, SKIP, WARN, Context, Result, passed, unreadable

OUTBOX_LATE_S = 3600.0
OUTBOX_STUCK_S = 86400.0
ACK_WAIT_S = 10.0  # the collector acknowledges in well under a second when it runs
STOP_WAIT_S = 5.0
EVENT = "doctor"

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.outbox import Outbox


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


async def check_delivery(ctx: Context) -> Result:
    if not ctx.broker_accepted:
        return Result("delivery", SKIP, "the broker did not accept this probe")
    from agent import __version__, clock, keys
    from agent.core import acks
    from agent.core.recorder import Recorder
    from agent.outbox import Outbox

    config = ctx.config
    if not config.key_path.exists():
        return Result("delivery", SKIP, "no probe key to sign a test record with")
    try:
        key = keys.load_or_create(config.key_path)
        outbox = Outbox(config.outbox_path, config.outbox_max_records)
    except (PermissionError, sqlite3.OperationalError, keys.KeyFileError):
        return unreadable("delivery", config.outbox_path)
    try:
        versions = {"agent": __version__, "board": ctx.board.name, "firmware": config.firmware}
        recorder = Recorder(
            config.probe_id, versions, key.kid, key.sign, outbox,
            lambda: (int(time.time() * 1000), clock.synchronised()),
            lambda kind: {}, lambda *committed: None, lambda text: None,
        )  # fmt: skip
        first = outbox.issued + 1
        if recorder.status(EVENT, "a test of the delivery path by qiyas doctor") is None:
            return Result(
                "delivery", FAIL, f"{config.outbox_path} did not keep the test record",
                "the state partition is full or failing: df -h; journalctl -u qiyas-agent",
            )  # fmt: skip
        ours = {(outbox.epoch, seq) for seq in range(first, outbox.issued + 1)}
        answers = await _send(config, outbox, versions, ours)
    finally:
        outbox.close()
        _give_to_agent_user(config.outbox_path, config.key_path)
    if len(answers) < len(ours):
        return Result(
            "delivery", WARN,
            f"the broker took the test record; no collector acknowledged it in {ACK_WAIT_S:g} s "
            "(the collector is down, or does not know this probe's key)",
            "ask the regulator to register this probe's bundle (qiyas provision prints it) and "
            "to check the collector; the record waits in the outbox for the agent to resend",
        )  # fmt: skip
    if acks.QUARANTINED in answers.values():
        return Result(
            "delivery", FAIL, "the collector quarantined the test record",
            "the collector does not accept this probe's records (its key not registered, or "
            "revoked): register the bundle of qiyas provision with the regulator",
        )  # fmt: skip
    return passed("delivery", "a test record signed, sent and acknowledged by the collector")


async def _send(
    config: AgentConfig, outbox: Outbox, versions: dict[str, str], ours: set[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """Run the agent's uplink until the collector has answered for each of ours, or ACK_WAIT_S
    passed; the answers (epoch, seq) -> ack status."""
    from agent.uplink import Uplink

    answers: dict[tuple[int, int], int] = {}
    all_answered = asyncio.Event()

    def on_ack(epoch: int, seq: int, status: int) -> None:
        if (epoch, seq) in ours:
            answers[(epoch, seq)] = status
            if len(answers) == len(ours):
                all_answered.set()

    status = {"probe": config.probe_id, "epoch": outbox.epoch, **versions}
    uplink = Uplink(config, outbox, status, on_ack=on_ack)
    stop = asyncio.Event()
    running = asyncio.create_task(uplink.run(stop))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_answered.wait(), ACK_WAIT_S)
    stop.set()
    # Past STOP_WAIT_S wait_for cancels it: the connection drops and the broker sends the will.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(running, STOP_WAIT_S)
    return answers


def _give_to_agent_user(outbox: Path, key: Path) -> None:
    """The doctor runs with sudo; the agent as its own user, the owner of its key. Files the
    doctor made or left in the state directory (a first outbox, SQLite's -wal and -shm) go to
    that user, or the agent could not open its own outbox."""
    owner = key.stat()
    for path in (
        outbox,
        outbox.with_name(outbox.name + "-wal"),
        outbox.with_name(outbox.name + "-shm"),
    ):
        with contextlib.suppress(FileNotFoundError):
            info = path.stat()
            if (info.st_uid, info.st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(path, owner.st_uid, owner.st_gid)
