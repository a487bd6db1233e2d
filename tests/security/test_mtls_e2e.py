"""End to end through the production transport: an agent and a collector, as real processes, over
the broker configuration `qiyas collector broker-config` generates (mutual TLS with the device CA,
per-probe ACL). Records are stored verified; the controller's signed command reaches the probe,
is carried out and reported; its replay is refused and reported too."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mtls import SecureBroker

from agent.keys import load_or_create
from collector.store import open_store
from hil.fleet import AgentProcess, QiyasProcess, qiyas
from hil.pki import PKI, Identity, tls_args

PROBE = "probe-tls"


def cli(*argv: str) -> dict[str, Any]:
    done = subprocess.run(qiyas(*argv), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll probe() until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return found


def write_config(home: Path, broker: SecureBroker, device: Identity, controller_key: str) -> Path:
    path = home / "agent.toml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'probe_id = "{PROBE}"\nstate_dir = "{home / "state"}"\n'
        f'[broker]\nurl = "{broker.url}"\n'
        f'ca = "{device.ca}"\ncert = "{device.cert}"\nkey = "{device.key}"\n'
        "[uplink]\nack_timeout_s = 2\n[schedule]\nhealth = 300\n"
        f'[commands]\ncontroller_key = "{controller_key}"\n'
    )
    return path


@pytest.fixture
def system(
    secure_broker: SecureBroker,
    pki: PKI,
    tls_collector: tuple[QiyasProcess, str],
    tmp_path: Path,
) -> Iterator[dict[str, Any]]:
    _, db = tls_collector
    controller = cli(
        "command", "keygen", "--signing-key", str(tmp_path / "controller.key"), "--json"
    )
    home = tmp_path / "probe"
    config = write_config(home, secure_broker, pki.device(PROBE), controller["public_key"])
    probe_key = load_or_create(home / "state" / "probe.key")
    cli("collector", "keys", "add", "--db", str(db), "--probe", PROBE,
        "--public-key", probe_key.public_key.hex(), "--json")  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        yield {"db": db, "controller_key": tmp_path / "controller.key"}
    finally:
        agent.stop()


def stored(db: Path) -> list[dict[str, Any]]:
    with open_store(str(db)) as store:
        return [row.record for row in store.records()]


def command_reports(db: Path) -> list[dict[str, Any]]:
    return [
        r["values"]
        for r in stored(db)
        if r["kind"] == "status" and r["values"].get("event") == "command"
    ]


def test_records_and_commands_travel_over_mutual_tls(
    system: dict[str, Any], secure_broker: SecureBroker, pki: PKI
) -> None:
    db = system["db"]
    wait_for(lambda: any(r["kind"] == "status" for r in stored(db)), 60, "the agent's birth")

    def command(identity: Identity, *argv: str) -> list[str]:
        key = str(system["controller_key"])
        return ["command", "send", "--signing-key", key, "--probe", PROBE,
                "--broker", secure_broker.url, *tls_args(identity), "--json", *argv]  # fmt: skip

    send = command(pki.controller)
    sent = cli(*send, "--action", "measure-now", "--source", "health")
    assert sent["published"] is True
    [report] = wait_for(lambda: command_reports(db), 60, "the command's report")
    assert report["outcome"] == "done" and report["counter"] == sent["counter"]
    wait_for(lambda: any(r["kind"] == "health" for r in stored(db)), 60, "the measurement asked")

    # The same command again (captured and replayed): refused, and the refusal is reported.
    cli(*send, "--action", "measure-now", "--source", "health", "--counter", str(sent["counter"]))
    reports = wait_for(lambda: command_reports(db)[1:], 60, "the replay's report")
    assert reports[0]["outcome"] == "refused" and "replay" in reports[0]["detail"]

    # A probe's (or a collector's) certificate cannot send commands: the broker refuses it.
    done = subprocess.run(
        qiyas(*command(pki.device(PROBE), "--action", "rebirth")),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Not authorized" in json.loads(done.stdout)["refused"]
