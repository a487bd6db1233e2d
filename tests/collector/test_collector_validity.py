"""The probe's validity verdict in a collector column of its own (docs/methodology.md §4).

Three capacity results of one probe — valid, flagged (cross-traffic), and a schema-version-1 one
with no verdict (tests/core/vectors/record-v1-capacity.json, the frozen field payload) — go
through ingest; the aggregates leave the flagged one out by default and count it on request, the
records API shows each verdict with its reasons, and the ingest `flag` stays untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from probe_signing import VERSIONS, SigningProbe

from agent.core import record, topics
from collector import apikeys, batch, registry, schema
from collector.api import create_app
from collector.store import Store, now_ms, open_store

V1 = json.loads((Path(__file__).parents[1] / "core/vectors/record-v1-capacity.json").read_text())
FLAGGED = {"verdict": "flagged", "reasons": ["cross-traffic"], "cross_traffic_bytes": 9_000_000}


def v2_capacity(probe: SigningProbe, seq: int, down: float, validity: dict[str, object]) -> bytes:
    payload = record.encode(
        probe.probe,
        V1["epoch"],
        seq,
        V1["time_ms"] + seq * 1000,
        True,
        "capacity",
        {"down_mbps": down},
        VERSIONS,
        extra={"validity": validity},
    )
    return probe.sign(payload)


@pytest.fixture
def stored(store: Store) -> Store:
    probe = SigningProbe(V1["probe"])
    registry.add_key(store, probe.probe, probe.public_key)
    messages = [
        probe.sign(bytes.fromhex(V1["payload_hex"])),
        v2_capacity(probe, V1["seq"] + 1, 200.0, {"verdict": "valid", "reasons": []}),
        v2_capacity(probe, V1["seq"] + 2, 20.0, FLAGGED),
    ]
    topic = topics.records(probe.probe)
    outcome = batch.process(store, store.key, [(topic, m) for m in messages], now_ms())
    assert outcome.stored == 3, outcome
    return store


@pytest.fixture
def client(store_url: str, stored: Store) -> Iterator[TestClient]:
    key = apikeys.create(stored, "test", "read")
    with TestClient(create_app(store_url), headers={"X-API-Key": key}) as c:
        yield c


def test_the_verdict_is_a_column_of_its_own(stored: Store) -> None:
    rows = {row.seq - V1["seq"]: row for row in stored.records()}
    assert [rows[i].validity for i in range(3)] == [None, "valid", "flagged"]
    assert all(row.flag is None for row in rows.values())  # not mixed with the ingest flag


def aggregate(client: TestClient, **params: str) -> tuple[int, float]:
    body = client.get(
        "/api/v1/aggregates", params={"metric": "down_mbps", "group_by": "probe", **params}
    ).json()
    [group] = body["groups"]
    return group["count"], group["median"]


def test_aggregates_leave_flagged_results_out_unless_asked(client: TestClient) -> None:
    v1_down = V1["values"]["down_mbps"]
    # Default: valid and verdict-less (v1) results; the flagged 20 Mbit/s is not in the median.
    assert aggregate(client) == (2, pytest.approx((200.0 + v1_down) / 2, abs=1e-3))
    assert aggregate(client, validity="flagged") == (1, 20.0)
    assert aggregate(client, validity="valid") == (1, 200.0)
    assert aggregate(client, validity="unknown") == (1, pytest.approx(v1_down, abs=1e-3))
    assert aggregate(client, validity="all")[0] == 3
    assert client.get("/api/v1/aggregates", params={"validity": "maybe"}).status_code == 422


def test_records_show_the_verdict_and_its_reasons(client: TestClient) -> None:
    items = client.get("/api/v1/records", params={"kind": "capacity"}).json()["items"]
    assert [item["validity"] for item in items] == [
        None,
        {"verdict": "valid", "reasons": []},
        FLAGGED,
    ]
    flagged = client.get("/api/v1/records", params={"validity": "flagged"}).json()["items"]
    assert [item["seq"] for item in flagged] == [V1["seq"] + 2]


def test_upgrading_fills_the_column_from_records_stored_before(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = SigningProbe("ma-val-0001")
    signed = v2_capacity(probe, 1, 50.0, FLAGGED)
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", [mig for mig in schema.MIGRATIONS if mig[0] < 6])
        with open_store(store_url) as before:
            registry.add_key(before, probe.probe, probe.public_key)
            before.execute(  # a row as migration 5 stored it: no validity column yet
                "INSERT INTO records (probe, epoch, seq, kid, kind, time_ms, synced,"
                " received_at_ms, record, raw) VALUES (?, 1, 1, ?, 'capacity', 0, ?, 0, ?, ?)",
                (probe.probe, probe.kid, True, json.dumps({"validity": FLAGGED}), signed),
            )
    with open_store(store_url) as upgraded:
        [row] = list(upgraded.records())
    assert row.validity == "flagged"
