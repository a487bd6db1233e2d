"""Security fixtures: a device CA and a broker run from the generated production configuration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mtls import SecureBroker

from hil.fleet import QiyasProcess
from hil.pki import PKI, tls_args


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def secure_broker(pki: PKI, tmp_path: Path) -> Iterator[SecureBroker]:
    broker = SecureBroker(pki, tmp_path / "broker").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def tls_collector(
    secure_broker: SecureBroker, pki: PKI, tmp_path: Path
) -> Iterator[tuple[QiyasProcess, Path]]:
    """`qiyas collector run` over mutual TLS as the collector identity; (process, its database).

    The database exists (keys can be registered) before the process starts."""
    from collector.store import open_store

    db = tmp_path / "collector.db"
    open_store(str(db)).close()
    argv = ["collector", "run", "--broker", secure_broker.url, "--db", str(db),
            "--client-id", "collector-tls", *tls_args(pki.collector)]  # fmt: skip
    process = QiyasProcess(argv, tmp_path / "collector.log").start()
    try:
        # Until it has subscribed, what probes publish has no session to wait in.
        deadline = time.monotonic() + 30
        while "subscribed to" not in process.log.read_text():
            assert time.monotonic() < deadline, "the collector did not subscribe in 30 s"
            assert process.proc is not None and process.proc.poll() is None, "collector exited"
            time.sleep(0.05)
        yield process, db
    finally:
        process.stop()
