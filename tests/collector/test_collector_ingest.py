"""The collector on the real path: publisher → Mosquitto → collector → store → ack and feed."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest
from collector_helpers import ProbeSide, broker_of, postgres_database, running
from probe_signing import SigningProbe

from agent.core import acks, cbor, cose, record, topics
from collector import queries, registry
from collector.ingest import Collector
from collector.store import Store, open_store
from hil.mosquitto import Mosquitto


async def test_a_record_is_stored_acked_and_fed(
    store: Store, store_url: str, collector: Collector, probe_side: ProbeSide
) -> None:
    probe = SigningProbe("ma-cas-0001")
    registry.add_key(store, probe.probe, probe.public_key)
    signed = probe.record(7, kind="latency", values={"rtt_ms_median": 12.5})

    await probe_side.publish(topics.records(probe.probe), signed)

    assert await probe_side.next_acks(1) == [(probe.probe, 1, 7, acks.STORED)]
    # The ack promises durability: a fresh connection must already see the row.
    with open_store(store_url) as other:
        [row] = list(other.records())
    assert row.raw == signed
    assert (row.probe, row.epoch, row.seq, row.kind, row.kid) == (
        probe.probe,
        1,
        7,
        "latency",
        probe.kid,
    )
    assert row.record["values"] == {"rtt_ms_median": 12.5}
    topic, payload = await probe_side.feed.get()
    assert topic == "qiyas/v1/feed/latency"
    fed = json.loads(payload)
    assert (fed["probe"], fed["seq"], fed["kid"]) == (probe.probe, 7, probe.kid.hex())
    assert fed["values"] == {"rtt_ms_median": 12.5}
    assert fed["received_at"].endswith("Z")


async def test_a_resent_record_is_stored_once_and_acked_twice(
    store: Store, collector: Collector, probe_side: ProbeSide
) -> None:
    probe = SigningProbe("ma-rab-0002")
    registry.add_key(store, probe.probe, probe.public_key)
    signed = probe.record(1)

    await probe_side.publish(topics.records(probe.probe), signed)
    first = await probe_side.next_acks(1)
    await probe_side.publish(topics.records(probe.probe), signed)
    second = await probe_side.next_acks(1)

    assert first == [(probe.probe, 1, 1, acks.STORED)]
    assert second == [(probe.probe, 1, 1, acks.DUPLICATE)]
    assert store.count_records() == 1
    assert collector.stats.duplicates == 1


def _deep(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"x": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


def _signed_with_values(probe: SigningProbe, seq: int, values: object) -> bytes:
    """A record signed by probe whose values the schema forbids (record.encode would refuse)."""
    fields = cbor.loads(probe.payload(seq))
    assert isinstance(fields, dict)
    fields[record.K_VALUES] = values
    return probe.sign(cbor.dumps(fields))


async def test_bad_input_is_quarantined_with_its_reason_and_ingest_goes_on(
    store: Store, collector: Collector, probe_side: ProbeSide
) -> None:
    good = SigningProbe("ma-tng-0003")
    other = SigningProbe("ma-fes-0004")
    stranger = SigningProbe("ma-oda-0005")  # never registered
    for p in (good, other):
        registry.add_key(store, p.probe, p.public_key)
    valid = good.record(1)
    tampered = bytearray(valid)
    tampered[-1] ^= 0x01
    dup_key_payload = b"\xa2\x01\x01\x01\x01"  # {1: 1, 1: 1}
    envelope = cbor.loads(valid)
    assert isinstance(envelope, cbor.Tag)
    wrong_tag = cbor.dumps(cbor.Tag(17, envelope.value))
    deep = _signed_with_values(good, 3, _deep(10))
    imsi = _signed_with_values(good, 4, {"imsi": "604000000000001"})
    on_topic = topics.records(good.probe)
    cases: list[tuple[str, bytes, str, bool]] = [
        # (topic, payload, expected words in the reason, acked as QUARANTINED to the topic's probe)
        (on_topic, b"hello, collector", "not a valid COSE_Sign1", False),
        (on_topic, valid[:-10], "truncated", False),
        (on_topic, wrong_tag, "tag 17 is not accepted", False),
        # Unauthenticated: no ack, or a stranger could make a probe drop a genuine record.
        (on_topic, stranger.record(5, probe=good.probe), "unknown kid", False),
        (on_topic, bytes(tampered), "bad signature", False),
        (on_topic, good.sign(dup_key_payload), "duplicate map key", False),
        (on_topic, valid + b"\x00", "trailing bytes", False),
        (on_topic, deep, "deeper", True),
        (on_topic, b"\xd2" + b"\x84" * 20000, "oversized", False),
        (on_topic, good.record(6, probe=other.probe), "registered to probe ma-tng-0003", True),
        # Signed by another probe than the topic's: acking it to the topic's probe could drop
        # that probe's own record of the same seq.
        (topics.records(other.probe), good.record(7), "arrived on the topic of probe", False),
        (on_topic, imsi, "subscriber identity", True),
    ]
    for topic, payload, _, _ in cases:
        await probe_side.publish(topic, payload)
    await probe_side.publish(on_topic, good.record(100))

    acked = await probe_side.next_acks(sum(1 for c in cases if c[3]) + 1)

    seqs = [0, 0, 0, 5, 1, 0, 0, 3, 0, 6, 7, 4]  # the seq each case's payload names, if any
    expected = [
        (topics.probe_of(topic), 1, seq, acks.QUARANTINED)
        for (topic, _, _, is_acked), seq in zip(cases, seqs, strict=True)
        if is_acked
    ]
    assert sorted(acked) == sorted([*expected, (good.probe, 1, 100, acks.STORED)])
    reasons = [q.reason for q in store.quarantine()]
    assert len(reasons) == len(cases)
    for (_, _, words, _), reason in zip(cases, reasons, strict=True):
        assert words in reason
    oversized = next(q for q in store.quarantine() if q.reason.startswith("oversized"))
    assert len(oversized.raw) == cose.MAX_MESSAGE
    assert "(first 16384 of 20001 bytes kept)" in oversized.reason
    assert store.count_records() == 1


async def test_records_sent_while_the_collector_is_away_arrive_when_it_returns(
    store: Store, mosquitto: Mosquitto, probe_side: ProbeSide
) -> None:
    probe = SigningProbe("ma-aga-0006")
    registry.add_key(store, probe.probe, probe.public_key)
    # First run creates the persistent session and its shared subscription, then goes away.
    async with running(Collector(store, broker_of(mosquitto), "returning")):
        pass
    for seq in range(5):
        await probe_side.publish(topics.records(probe.probe), probe.record(seq))

    async with running(Collector(store, broker_of(mosquitto), "returning")):
        got = await probe_side.next_acks(5)

    assert sorted(got) == [(probe.probe, 1, seq, acks.STORED) for seq in range(5)]


async def test_the_collector_reconnects_after_a_broker_restart(
    store: Store, collector: Collector, mosquitto: Mosquitto
) -> None:
    probe = SigningProbe("ma-brk-0007")
    registry.add_key(store, probe.probe, probe.public_key)

    mosquitto.stop()
    mosquitto.start()
    await asyncio.wait_for(collector.wait_until(lambda s: s.connections >= 2), 20)
    async with aiomqtt.Client(
        mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        side = ProbeSide(client)
        await client.subscribe(topics.acks(probe.probe), qos=1)
        receiver = asyncio.create_task(side._receive())
        await side.publish(topics.records(probe.probe), probe.record(1))
        got = await side.next_acks(1, timeout=20)
        receiver.cancel()

    assert got == [(probe.probe, 1, 1, acks.STORED)]


async def test_probe_presence_follows_its_birth_and_death_messages(
    store: Store, collector: Collector, probe_side: ProbeSide
) -> None:
    probe = SigningProbe("ma-pre-0008")
    registry.add_key(store, probe.probe, probe.public_key)
    status_topic = topics.status(probe.probe)
    versions = {"probe": probe.probe, "epoch": 1, "agent": "0.1.0", "board": "b", "firmware": "f"}

    async def then_a_record(seq: int) -> None:
        # Messages of one publisher arrive in order: once this record is acked, the status
        # published before it has been processed too.
        await probe_side.publish(topics.records(probe.probe), probe.record(seq))
        assert await probe_side.next_acks(1) == [(probe.probe, 1, seq, acks.STORED)]

    await probe_side.publish(status_topic, json.dumps({**versions, "state": "online"}).encode())
    await probe_side.publish(status_topic, b'{"state": "sleeping"}')
    await probe_side.publish(status_topic, b"[" * 1020 + b"]" * 1020)  # deeper than json allows
    await then_a_record(1)
    [online] = queries.probe_health(store, probe.probe)
    assert (online["presence"], online["status"]) == ("online", "active")
    sleeping, deep = (q.reason for q in store.quarantine())
    assert sleeping == "status state 'sleeping' is not online or offline"
    assert deep.startswith("status message is not JSON: maximum recursion depth exceeded")

    death = {**versions, "state": "offline", "reason": "connection lost"}
    await probe_side.publish(status_topic, json.dumps(death).encode())
    await then_a_record(2)
    [offline] = queries.probe_health(store, probe.probe)
    assert (offline["presence"], offline["presence_reason"]) == ("offline", "connection lost")


@pytest.mark.postgres
async def test_a_failing_store_acks_nothing_and_the_collector_goes_on(
    mosquitto: Mosquitto, probe_side: ProbeSide
) -> None:
    probe = SigningProbe("ma-fail-0009")
    with postgres_database() as url, open_store(url) as store:
        registry.add_key(store, probe.probe, probe.public_key)
        # A real failure inside the database, as a full disk would raise, for this probe only.
        store.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"
        )
        store.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW"
            " WHEN (NEW.probe = 'ma-fail-0009') EXECUTE FUNCTION refuse()"
        )
        async with running(Collector(store, broker_of(mosquitto), "failing")) as collector:
            await probe_side.publish(topics.records(probe.probe), probe.record(1))
            await asyncio.wait_for(collector.wait_until(lambda s: s.store_failures >= 1), 10)
            store.execute("DROP TRIGGER refuse ON records")
            # The probe resends, as its outbox does when no ack comes.
            await probe_side.publish(topics.records(probe.probe), probe.record(1))
            acked = await probe_side.next_acks(1)

        assert acked == [(probe.probe, 1, 1, acks.STORED)]  # the failed attempt was never acked
        assert store.count_records() == 1
