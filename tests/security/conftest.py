"""Security fixtures: a device CA and a broker run from the generated production configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mtls import PKI, SecureBroker


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
