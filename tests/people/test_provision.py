"""`qiyas provision`: the key made on the device, the config the agent runs with, the bundle the
collector registers — and, end to end, records from the provisioned probe stored and verified."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    PKI,
    PROBE,
    TlsBroker,
    provision,
    run_qiyas,
    start_collector,
    tls_args,
    wait_for,
)

from agent import config as agent_config
from agent.cli_contract import UsageError
from agent.keys import load_or_create
from collector.store import open_store
from hil.fleet import AgentProcess, qiyas
from tools.provision import region_code

BUNDLE_KEYS = {"probe", "kid", "public_key", "board", "firmware"} | {
    "operator",
    "technology",
    "region",
}


def stored(db: Path) -> list[dict[str, Any]]:
    with open_store(str(db)) as store:
        return [row.record for row in store.records()]


def test_provisioned_probe_is_registered_and_its_records_verified(
    tmp_path: Path, tls_broker: TlsBroker, pki: PKI
) -> None:
    # On the device: key, config and bundle (a board without modem or ONT: the spine is tested).
    config, bundle = provision(
        tmp_path / "probe", tls_broker.url, pki.device(PROBE),
        "--bundle", str(tmp_path / "bundle.json"), "--board", "generic-linux",
    )  # fmt: skip
    assert json.loads((tmp_path / "bundle.json").read_text()) == bundle
    # At the collector: the bundle, carried by the technician, registers the probe.
    db = tmp_path / "collector.db"
    done = run_qiyas("collector", "keys", "add", "--db", str(db), "--bundle",
                     str(tmp_path / "bundle.json"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kid"] == bundle["kid"]
    collector = start_collector(
        tls_broker.url, db, tmp_path / "collector.log", *tls_args(pki.collector)
    )
    agent = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        # The birth record at once, the first health record within the first 10 s.
        wait_for(lambda: {"status", "health"} <= {r["kind"] for r in stored(db)}, 60, "records")
    finally:
        assert agent.stop() == 0
        collector.stop()
    records = stored(db)
    assert {r["probe"] for r in records} == {PROBE}
    # Anyone with the export and the registry checks every signature offline.
    export = tmp_path / "records.cbor"
    assert run_qiyas("collector", "export", "--db", str(db), "--format", "cose",
                     "--out", str(export)).returncode == 0  # fmt: skip
    done = run_qiyas("verify", str(export), "--db", str(db), "--json")
    assert done.returncode == 0, done.stdout
    items = json.loads(done.stdout)
    assert len(items) == len(records)
    assert {item["kid"] for item in items if item["valid"]} == {bundle["kid"]}


def test_bundle_config_and_key(tmp_path: Path) -> None:
    config, bundle = provision(tmp_path, "mqtt://127.0.0.1:1883", None, "--server", "srv.ma:8620")
    assert set(bundle) == BUNDLE_KEYS
    assert bundle["probe"] == PROBE and bundle["region"] == "MA-06"
    assert bundle["board"] == "openwrt-5g-cpe" and bundle["technology"] == "5G-FWA"
    key_path = tmp_path / "state" / "probe.key"
    key = load_or_create(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert bundle["public_key"] == key.public_key.hex() and bundle["kid"] == key.kid.hex()
    # The private key is nowhere in what leaves the device.
    private = key_path.read_bytes().hex()
    assert private not in json.dumps(bundle) and private not in config.read_text()
    # The agent accepts the config; the board decides what is polled.
    cfg = agent_config.load(config)
    assert cfg.probe_id == PROBE
    assert set(cfg.schedule) == {"health", "radio", "optical", "latency", "capacity"}


def test_running_again_keeps_the_key_and_asks_before_replacing(tmp_path: Path) -> None:
    _, first = provision(tmp_path, "mqtt://127.0.0.1:1883", None)
    again = run_qiyas(
        "provision", "--probe-id", PROBE, "--operator", "inwi", "--technology", "ftth",
        "--region", "6", "--broker", "mqtt://127.0.0.1:1883",
        "--state-dir", str(tmp_path / "state"), "--config", str(tmp_path / "agent.toml"),
        "--no-input", "--json",
    )  # fmt: skip
    assert again.returncode == 2
    assert "--force" in again.stderr
    _, second = provision(tmp_path, "mqtt://127.0.0.1:1883", None, "--force")
    assert second["kid"] == first["kid"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--statuspage", "8.8.8.8:8080"], "not a LAN address"),
        (["--board", "esp32s3-sim7600"], "qiyas flash"),
        (["--board", "no-such-board"], "unknown board"),
        (["--broker", "http://example.net"], "broker.url"),
        (["--region", "MA-13"], "unknown region"),
        (["--ca", "/nonexistent/ca.pem"], "no such file"),
        (["--owner", "no-such-user-qiyas"], "no such user"),
        (["--server", "probe server.ma"], "probe.servers"),
    ],
)
def test_bad_answers_are_bad_usage(tmp_path: Path, extra: list[str], says: str) -> None:
    answers = {"--probe-id": PROBE, "--operator": "orange", "--technology": "ftth",
               "--region": "MA-01", "--broker": "mqtt://127.0.0.1:1883"}  # fmt: skip
    answers.update(zip(extra[::2], extra[1::2], strict=True))
    argv = [item for pair in answers.items() for item in pair]
    done = run_qiyas(
        "provision", *argv, "--state-dir", str(tmp_path / "state"),
        "--config", str(tmp_path / "agent.toml"), "--no-input",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert not (tmp_path / "agent.toml").exists()
    assert not (tmp_path / "state" / "probe.key").exists()


def test_missing_answers_without_a_terminal_are_named(tmp_path: Path) -> None:
    done = subprocess.run(
        qiyas("provision", "--probe-id", PROBE, "--state-dir", str(tmp_path / "s"),
              "--config", str(tmp_path / "a.toml")),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--operator, --technology, --region, --broker" in done.stderr


def test_human_output_shows_the_bundle_and_a_qr_code(tmp_path: Path) -> None:
    done = run_qiyas(
        "provision", "--probe-id", PROBE, "--operator", "inwi", "--technology", "ftth",
        "--region", "Casablanca-Settat", "--broker", "mqtt://127.0.0.1:1883",
        "--state-dir", str(tmp_path / "state"), "--config", str(tmp_path / "agent.toml"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "MA-06" in done.stderr and "Scan to register" in done.stderr
    assert "█" in done.stderr  # the QR code's modules


@pytest.mark.parametrize(
    ("text", "code"),
    [("MA-06", "MA-06"), ("6", "MA-06"), ("12", "MA-12"), ("fès-meknès", "MA-03")],
)
def test_region_codes(text: str, code: str) -> None:
    assert region_code(text) == code


def test_unknown_region() -> None:
    with pytest.raises(UsageError, match="MA-01"):
        region_code("Andalucía")
