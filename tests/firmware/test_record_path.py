"""One record path for both runtimes (agent/core/recorder.py): the Linux agent and the firmware's
host build, fed the same measurement the schema refuses, leave the regulator the same evidence.

The Linux agent is built from its TOML config and records into its SQLite outbox; the firmware is
the host build (firmware.start.build on the host platform, its modem a real PTY) in its own
process, since its software watchdog ends the process it runs in, and records into its outbox
files. Both outboxes are then read back and decoded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import config
from agent.core import cose, record
from agent.supervisor import Agent
from firmware.outbox import Outbox as FirmwareOutbox

REPO = Path(__file__).resolve().parent.parent.parent

# Built by the firmware's host build: emit the records ([kind, values], ...) given, then leave.
EMIT = """
import json, sys
from firmware.start import build
app = build(sys.argv[1], sys.argv[2])
for kind, values in json.loads(sys.argv[3]):
    app.emit(kind, values)
"""
MAX_RECORDS = 10  # the smallest outbox either runtime takes

# (kind, values, what must not be kept): what a modem could make a dialect parser produce, that
# the schema refuses.
REFUSED = [
    # A subscriber identity (IMSI of the 3GPP test network 001/01) never leaves the device.
    ("radio", {"dialect": "simcom", "imsi": "001010123456789"}, "001010123456789"),
    # A text longer than the schema's bound (an operator name gone wrong).
    ("radio", {"dialect": "generic", "operator": {"name": "T" * 300}}, "T" * 300),
]


@pytest.fixture
def pty_path() -> Iterator[str]:
    """A real PTY for the firmware's modem UART; nothing answers on it (nothing is polled)."""
    controller, device = os.openpty()
    try:
        yield os.ttyname(device)
    finally:
        os.close(device)
        os.close(controller)


def decoded(bodies: list[bytes]) -> list[dict[str, Any]]:
    return [record.decode(cose.parse_sign1(body).payload) for body in bodies]


Feed = list[tuple[str, dict[str, Any]]]


def linux_agent_records(tmp_path: Path, feed: Feed) -> list[dict[str, Any]]:
    state = tmp_path / "linux"
    agent = Agent(
        config.parse(
            f'probe_id = "linux-1"\nstate_dir = "{state}"\n'
            '[broker]\nurl = "mqtt://127.0.0.1:1"\n[schedule]\nhealth = 300\n'
            f"[outbox]\nmax_records = {MAX_RECORDS}\n",
            "agent.toml",
        )
    )
    try:
        for kind, values in feed:
            agent.commit(kind, values)
        return decoded([p.body for p in agent.outbox.due(time.time(), 0)])
    finally:
        agent.outbox.close()


def firmware_records(tmp_path: Path, pty: str, feed: Feed) -> tuple[list[dict[str, Any]], str]:
    """The records the host build kept, and its log."""
    flash = tmp_path / "flash"
    flash.mkdir()
    (tmp_path / "probe.key").write_bytes(os.urandom(32))
    settings = tmp_path / "qiyas.json"
    settings.write_text(
        json.dumps(
            {
                "probe_id": "esp32-1",
                "board": "lilygo-t-sim7600",
                "state_dir": str(flash),
                "key_file": str(tmp_path / "probe.key"),
                "broker": {"host": "127.0.0.1"},
                "outbox_max_records": MAX_RECORDS,
                "modem": {"port": pty, "dialect": "simcom"},
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", EMIT, str(settings), str(tmp_path), json.dumps(feed)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    box = FirmwareOutbox(str(flash / "outbox"), MAX_RECORDS)
    return decoded([box.read(epoch, seq) for epoch, seq in box.pending()]), done.stderr


@pytest.mark.parametrize(("kind", "values", "refused_text"), REFUSED)
def test_a_refused_measurement_leaves_the_same_status_record_on_both_runtimes(
    tmp_path: Path, pty_path: str, kind: str, values: dict[str, Any], refused_text: str
) -> None:
    [linux] = linux_agent_records(tmp_path, [(kind, values)])
    [board], board_log = firmware_records(tmp_path, pty_path, [(kind, values)])
    assert f"record refused by the schema: {kind}: values." in board_log
    assert linux["kind"] == board["kind"] == "status"
    assert linux["values"] == board["values"]
    assert linux["values"]["event"] == "record-refused"
    assert linux["values"]["detail"].startswith(f"{kind}: values.")
    assert linux["context"] == board["context"] == {}
    assert refused_text not in json.dumps(linux) + json.dumps(board)
    # The refused record takes no seq on either: no gap in seq for the archive check to explain.
    assert linux["seq"] == board["seq"] == 1
    assert (linux["probe"], board["probe"]) == ("linux-1", "esp32-1")


def test_a_full_outbox_is_told_the_same_way_on_both_runtimes(tmp_path: Path, pty_path: str) -> None:
    # Two records more than the outbox holds: each makes room by dropping the oldest, and each
    # is followed by an outbox-full record. The room a report itself makes is told with the
    # next report, not by another report at once (which would drop another record, and so on).
    feed: Feed = [("health", {"uptime_s": n, "outbox_depth": 0}) for n in range(MAX_RECORDS + 2)]
    linux = linux_agent_records(tmp_path, feed)
    board, _ = firmware_records(tmp_path, pty_path, feed)

    def stream(records: list[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
        return [(r["seq"], r["kind"], r["values"]) for r in records]

    assert stream(linux) == stream(board)
    assert [v for _, kind, v in stream(linux) if kind == "status"] == [
        {"event": "outbox-full", "dropped": 1},
        {"event": "outbox-full", "dropped": 2},
    ]
    assert len(linux) == MAX_RECORDS
