"""The agent's own kinds (health, status) follow record.cddl, checked by pycddl as a peer."""

from __future__ import annotations

from pathlib import Path

import pycddl

from agent.core import record
from agent.health import HealthSource
from agent.outbox import Outbox
from agent.sources import LinkState

SCHEMA = pycddl.Schema((Path(record.__file__).parent / "record.cddl").read_text())
VERSIONS = {"agent": "0.1.0", "board": "generic-linux", "firmware": "linux"}


def encode(kind: str, values: dict[str, object]) -> bytes:
    return record.encode("ma-cas-0001", 1, 7, 1_796_000_000_000, True, kind, values, VERSIONS)


async def test_health_record_validates(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.add("health", lambda epoch, seq: b"x")
    [measurement] = await HealthSource(tmp_path / "outbox.db").measure(LinkState())
    assert measurement.values["outbox_depth"] == 1
    assert isinstance(measurement.values["load1"], float)
    SCHEMA.validate_cbor(encode("health", measurement.values))


def test_status_records_validate() -> None:
    SCHEMA.validate_cbor(encode("status", {"event": "birth", "detail": "epoch 3"}))
    SCHEMA.validate_cbor(encode("status", {"event": "outbox-full", "dropped": 12}))
