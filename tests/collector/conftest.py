"""Collector fixtures: a store on each real engine, a running collector, an MQTT test client.

`store_url` runs each test that uses it twice: on a fresh SQLite file and on a fresh PostgreSQL
database (created on 127.0.0.1:5432 for the test and dropped after it). Helpers live in
`collector_helpers`: tests import them from there, never from a conftest (several folders have
one, and `from conftest import` would pick whichever was imported last).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from collector_helpers import ProbeSide, broker_of, postgres_database, running

from collector.ingest import Collector
from collector.store import Store, open_store
from hil.mosquitto import Mosquitto


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "collector.db")
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


@pytest.fixture
async def collector(store: Store, mosquitto: Mosquitto) -> AsyncIterator[Collector]:
    async with running(Collector(store, broker_of(mosquitto), f"c-{uuid.uuid4().hex[:8]}")) as c:
        yield c


@pytest.fixture
async def probe_side(mosquitto: Mosquitto) -> AsyncIterator[ProbeSide]:
    async with aiomqtt.Client(
        mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe("qiyas/v1/probes/+/acks", qos=1)
        await client.subscribe("qiyas/v1/feed/#", qos=0)
        side = ProbeSide(client)
        receiver = asyncio.create_task(side._receive())
        try:
            yield side
        finally:
            receiver.cancel()
