"""The spine end to end with real processes: agent → Mosquitto → collector → SQLite.

What a regulator depends on: every record an agent committed is stored exactly once, verified,
through broker outages and agent restarts.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.keys import load_or_create
from agent.outbox import peek
from hil.fleet import AgentProcess, QiyasProcess, qiyas, write_agent_config
from hil.mosquitto import Mosquitto


def cli(*argv: str) -> str:
    done = subprocess.run(qiyas(*argv), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def stored(db: Path) -> list[dict[str, object]]:
    out = cli("collector", "export", "--db", str(db), "--format", "jsonl", "--out", "-")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def issued(state: Path) -> int:
    return peek(state / "outbox.db").issued


def start_collector(broker: Mosquitto, db: Path, log: Path) -> QiyasProcess:
    return QiyasProcess(["collector", "run", "--broker", broker.url, "--db", str(db)], log).start()


@pytest.fixture
def collector(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[tuple[QiyasProcess, Path]]:
    db = tmp_path / "collector.db"
    process = start_collector(mosquitto, db, tmp_path / "collector.log")
    yield process, db
    process.stop()


def enrol(home: Path, probe: str, db: Path) -> None:
    key = load_or_create(home / "state" / "probe.key")
    cli("collector", "keys", "add", "--db", str(db), "--probe", probe, "--public-key",
        key.public_key.hex())  # fmt: skip


def test_agent_once_is_stored_verified_and_acknowledged(
    mosquitto: Mosquitto, collector: tuple[QiyasProcess, Path], tmp_path: Path
) -> None:
    _, db = collector
    home = tmp_path / "probe"
    config = write_agent_config(home, "ma-e2e-0001", mosquitto.url, {"health": 60})
    enrol(home, "ma-e2e-0001", db)

    out = cli("agent", "once", "-c", str(config), "--timeout", "30", "--json")
    summary = json.loads(out)
    assert summary["delivered"] is True and summary["pending"] == 0
    rows = stored(db)
    assert sorted(r["kind"] for r in rows) == ["health", "status"]
    assert {r["seq"] for r in rows} == {1, 2}

    signed = tmp_path / "records.cbor"
    cli("collector", "export", "--db", str(db), "--format", "cose", "--out", str(signed))
    verified = json.loads(cli("verify", str(signed), "--db", str(db), "--json"))
    assert [v["valid"] for v in verified] == [True, True]


def test_outage_and_restarts_lose_nothing_and_store_nothing_twice(
    mosquitto: Mosquitto, collector: tuple[QiyasProcess, Path], tmp_path: Path
) -> None:
    coll, db = collector
    probe = "ma-e2e-0002"
    home = tmp_path / "probe"
    config = write_agent_config(home, probe, mosquitto.url, {"health": 1})
    enrol(home, probe, db)
    agent = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        wait_until(lambda: len(stored(db)) >= 3, 30, "first records stored")

        mosquitto.stop()  # broker outage: the agent keeps measuring into its outbox
        before = issued(home / "state")
        wait_until(lambda: issued(home / "state") >= before + 3, 30, "records made offline")
        agent.kill()  # power cut while offline
        mosquitto.start()
        agent.start()  # a new boot: a new epoch, the old outbox is resent

        coll.stop()  # the collector restarts too; its broker session keeps what arrives
        wait_until(lambda: issued(home / "state") >= before + 6, 30, "records after reboot")
        coll.start()
    finally:
        assert agent.stop() == 0
    # A last boot delivers whatever the stop left in the outbox, then exits when all is acked.
    cli("agent", "once", "-c", str(config), "--timeout", "60")

    total = issued(home / "state")
    rows = stored(db)
    keys = [(r["epoch"], r["seq"]) for r in rows]
    assert len(keys) == len(set(keys)), "a record was stored twice"
    assert sorted(int(str(r["seq"])) for r in rows) == list(range(1, total + 1))
    first = min(int(str(r["epoch"])) for r in rows)  # a new outbox's epoch is random
    assert {r["epoch"] for r in rows} == {first, first + 1, first + 2}
    assert json.loads(cli("collector", "quarantine", "--db", str(db), "--json")) == []
