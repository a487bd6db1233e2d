"""The collector accepts every record schema version it knows and stays strict within each.

Agents in the field on version 1 keep reporting after the agent moves to version 2: their record
(a frozen version-1 payload, tests/core/vectors/record-v1-capacity.json, signed here by today's
COSE code) is verified, stored and acknowledged beside a version-2 one; a version-1 record carrying
a version-2 field is quarantined with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from collector_helpers import ProbeSide
from probe_signing import SigningProbe

from agent.core import acks, cbor, record, topics
from collector import registry
from collector.ingest import Collector
from collector.store import Store

V1 = json.loads((Path(__file__).parents[1] / "core/vectors/record-v1-capacity.json").read_text())


async def test_a_version_1_record_is_still_stored_beside_a_version_2_one(
    store: Store, collector: Collector, probe_side: ProbeSide
) -> None:
    probe = SigningProbe(V1["probe"])
    registry.add_key(store, probe.probe, probe.public_key)
    v1_payload = bytes.fromhex(V1["payload_hex"])
    v2_payload = record.encode(
        probe.probe,
        V1["epoch"],
        V1["seq"] + 1,
        V1["time_ms"] + 60_000,
        True,
        "capacity",
        {"down_mbps": 90.1},
        V1["versions"],
        extra={
            "started_ms": V1["time_ms"] + 45_000,
            "duration_ms": 14_000,
            "validity": {"verdict": "flagged", "reasons": ["cross-traffic"]},
            "queue": {"wait_ms": 800},
        },
    )
    v1_with_v2_field = cbor.loads(v1_payload)
    assert isinstance(v1_with_v2_field, dict)
    v1_with_v2_field[record.K_SEQ] = V1["seq"] + 2
    v1_with_v2_field[record.K_STARTED] = V1["time_ms"]
    on_topic = topics.records(probe.probe)

    for payload in (v1_payload, v2_payload, cbor.dumps(v1_with_v2_field)):
        await probe_side.publish(on_topic, probe.sign(payload))

    acked = await probe_side.next_acks(3)
    epoch, seq = V1["epoch"], V1["seq"]
    assert sorted(acked) == [
        (probe.probe, epoch, seq, acks.STORED),
        (probe.probe, epoch, seq + 1, acks.STORED),
        (probe.probe, epoch, seq + 2, acks.QUARANTINED),
    ]
    rows = {row.seq: row for row in store.records()}
    assert rows[seq].record["v"] == 1
    assert rows[seq].record["values"] == V1["values"]
    assert rows[seq + 1].record["v"] == 2
    assert rows[seq + 1].record["started_ms"] == V1["time_ms"] + 45_000
    assert rows[seq + 1].record["validity"] == {"verdict": "flagged", "reasons": ["cross-traffic"]}
    [quarantined] = store.quarantine()
    assert "unknown field 11 in schema version 1" in quarantined.reason
