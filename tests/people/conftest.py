"""Real parts for the people-facing tools: emulated modem and ONT, the measurement server, a
broker with mutual TLS from the generated production config, and a device CA (plus a rogue one)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector import broker_config
from hil.fleet import QiyasProcess, qiyas
from hil.mosquitto import free_port, wait_listening
from hil.pki import PKI, Identity

START_TIMEOUT_S = 15.0
PROBE = "ma-06-cas-0001"


class Announcing:
    """`qiyas ARGV` whose first line on stdout is a JSON document saying where it listens."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            qiyas(*argv), stdout=subprocess.PIPE, stderr=self.log, start_new_session=True
        )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(START_TIMEOUT_S):
                self.stop()
                raise TimeoutError(f"qiyas {' '.join(argv)} said nothing in {START_TIMEOUT_S}s")
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"qiyas {' '.join(argv)} exited: see {log}")
        self.where: dict[str, Any] = json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., dict[str, Any]]]:
    """start(*argv) → where it listens; everything started is stopped after the test."""
    started: list[Announcing] = []

    def _start(*argv: str) -> dict[str, Any]:
        process = Announcing(list(argv), tmp_path / f"{argv[0]}-{len(started)}.log")
        started.append(process)
        return process.where

    yield _start
    for process in reversed(started):
        process.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@dataclass(frozen=True)
class TlsBroker:
    url: str
    log: Path


@pytest.fixture
def tls_broker(pki: PKI, tmp_path: Path) -> Iterator[TlsBroker]:
    """Mosquitto from the production config: mutual TLS with the device CA, per-probe ACL."""
    workdir = tmp_path / "broker"
    (workdir / "persist").mkdir(parents=True)
    port = free_port()
    settings = broker_config.BrokerSettings(
        ca=pki.ca,
        cert=pki.broker.cert,
        key=pki.broker.key,
        port=port,
        listen="127.0.0.1",
        persistence_dir=workdir / "persist",
        log_file=workdir / "mosquitto.log",
        run_as="root" if os.geteuid() == 0 else "mosquitto",
    )
    conf, _ = broker_config.write(settings, workdir)
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening("127.0.0.1", port)
        yield TlsBroker(f"mqtts://127.0.0.1:{port}", workdir / "mosquitto.log")
    finally:
        proc.terminate()
        proc.wait(10)


def tls_args(identity: Identity) -> list[str]:
    return ["--ca", str(identity.ca), "--cert", str(identity.cert), "--key", str(identity.key)]


def run_qiyas(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(qiyas(*argv), capture_output=True, text=True, timeout=timeout)


def provision(
    home: Path, broker: str, identity: Identity | None, *extra: str
) -> tuple[Path, dict[str, Any]]:
    """What a technician runs on an FWA + FTTH board: the config path and the bundle printed."""
    config = home / "agent.toml"
    tls = [] if identity is None else tls_args(identity)
    done = run_qiyas(
        "provision", "--board", "openwrt-5g-cpe", "--probe-id", PROBE, "--operator", "inwi",
        "--technology", "5g-fwa", "--region", "MA-06", "--broker", broker,
        "--state-dir", str(home / "state"), "--config", str(config), "--no-input", "--json",
        *tls, *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    bundle: dict[str, Any] = json.loads(done.stdout)
    return config, bundle


def start_collector(broker: str, db: Path, log: Path, *tls: str) -> QiyasProcess:
    """`qiyas collector run`, returned once its group subscription is in place: a record the
    broker gets before that would wait for the probe's resend."""
    collector = QiyasProcess(
        ["collector", "run", "--broker", broker, "--db", str(db), "--client-id", "collector-people",
         *tls], log,
    ).start()  # fmt: skip
    try:
        wait_for(lambda: log.exists() and "subscribed to" in log.read_text(), START_TIMEOUT_S,
                 f"the collector to subscribe (see {log})")  # fmt: skip
    except AssertionError:
        collector.stop()
        raise
    return collector


def wait_for(found: Callable[[], Any], timeout: float, what: str) -> Any:
    """found()'s first truthy value, asked every 50 ms; AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value
