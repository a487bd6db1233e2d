"""Security fixtures: a device CA, a broker run from the generated production configuration, and
the collector's store on each real engine (`store_url`: SQLite, then PostgreSQL)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mtls import SecureBroker

# The collector tests' helpers (PostgreSQL databases made for a test), by their unique module name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collector"))
from collector_helpers import postgres_database

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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file, then a fresh PostgreSQL database (dropped after the test)."""
    if request.param == "sqlite":
        yield str(tmp_path / "collector.db")
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def collector_db(tmp_path: Path) -> str:
    """The database `tls_collector` runs on; a module overrides it with `store_url` to run on
    both engines."""
    return str(tmp_path / "collector.db")


@pytest.fixture
def tls_collector(
    secure_broker: SecureBroker, pki: PKI, tmp_path: Path, collector_db: str
) -> Iterator[tuple[QiyasProcess, str]]:
    """`qiyas collector run` over mutual TLS as the collector identity; (process, its database).

    The database exists (keys can be registered) before the process starts."""
    from collector.store import open_store

    db = collector_db
    open_store(db).close()
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
