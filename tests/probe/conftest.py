"""A shaped link with a measurement server across it, for the probe's HIL tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hil.link import ShapedLink
from hil.link.serve import start_server


@pytest.fixture(scope="module")
def link20() -> Iterator[ShapedLink]:
    if os.geteuid() != 0:
        pytest.skip("shaped links need root (network namespaces, tc)")
    with ShapedLink(20, queue_ms=50) as link:
        yield link


@pytest.fixture(scope="module")
def server20(link20: ShapedLink) -> Iterator[int]:
    proc, port = start_server(link20)
    yield port
    proc.terminate()
    proc.wait(10)
