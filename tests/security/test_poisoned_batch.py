"""One bad message never decides other probes' fate.

The attack (issue 19): a probe signs a record whose text holds a NUL (it passes the schema), or
publishes a status message whose `reason` holds one. PostgreSQL refuses NUL in text and in JSONB
("unsupported Unicode escape sequence"), so the whole batch's transaction failed: no record of any
probe in it was stored or acknowledged, and the poisoned message came back for ever. SQLite stored
it, so the two engines did not even agree on what a valid record is.

Now such texts are refused at validation, on both engines alike, and a batch the database still
refuses is retried row by row: the refused rows are quarantined with the database's reason, the
rest stored and acknowledged.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mtls import Client, SecureBroker
from probe_signing import SigningProbe  # tests/collector, on the path by this folder's conftest

from agent.core import acks, cbor, record, topics
from collector import batch, registry
from collector.store import Store, now_ms, open_store
from hil.fleet import QiyasProcess
from hil.pki import PKI

HONEST, ATTACKER = "probe-a", "probe-b"


def signed_unchecked(attacker: SigningProbe, seq: int, key: int, value: dict[str, Any]) -> bytes:
    """A record signed by attacker with field `key` set to value, past the agent's own checks
    (which would refuse it): what a modified agent can send."""
    fields = cbor.loads(attacker.payload(seq))
    assert isinstance(fields, dict)
    fields[key] = value
    return attacker.sign(cbor.dumps(fields))


def poisons(attacker: SigningProbe, first_seq: int) -> list[tuple[str, bytes, str]]:
    """(topic, message, what the quarantine reason must say) of each poisoned message: signed
    records whose texts or keys a store refuses, and status messages carrying the same."""
    records = topics.records(attacker.probe)
    status = topics.status(attacker.probe)
    values, context = record.K_VALUES, record.K_CONTEXT
    return [
        (records, signed_unchecked(attacker, first_seq, values, {"note": "a\x00b"}), "NUL"),
        (
            records,
            signed_unchecked(attacker, first_seq + 1, values, {"up\x00time_s": 1}),
            "control character",
        ),
        (
            records,
            signed_unchecked(attacker, first_seq + 2, values, {"up\ntime_s": 1}),
            "control character",
        ),
        (
            records,
            signed_unchecked(attacker, first_seq + 3, context, {"radio": {"cell": "604\x00"}}),
            "NUL",
        ),
        (status, json.dumps({"state": "offline", "reason": "x\x00y"}).encode(), "NUL"),
        (status, json.dumps({"state": "online", "agent": "0.1\x00"}).encode(), "NUL"),
    ]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def test_poisoned_messages_in_a_batch_are_quarantined_alone_and_the_rest_is_stored(
    store: Store,
) -> None:
    honest, attacker = SigningProbe(HONEST), SigningProbe(ATTACKER)
    for probe in (honest, attacker):
        registry.add_key(store, probe.probe, probe.public_key)
    bad = poisons(attacker, 100)
    messages = []
    for seq in range(20):
        messages.append((topics.records(HONEST), honest.record(seq)))
        topic, raw, _ = bad[seq % len(bad)]
        messages.append((topic, raw))

    outcome = batch.process(store, store.key, messages, now_ms())

    assert sorted(outcome.acks[HONEST]) == [(1, seq, acks.STORED) for seq in range(20)]
    assert sorted(r.seq for r in store.records()) == list(range(20))
    reasons = {q.raw: q.reason for q in store.quarantine()}
    for _, raw, says in bad:
        assert raw in reasons, "a poisoned message was not quarantined"
        assert says in reasons[raw], reasons[raw]
    # The attacker's signed records are acknowledged as quarantined, so it need not resend them.
    assert {seq for _, seq, status in outcome.acks[ATTACKER] if status == acks.QUARANTINED} == {
        100,
        101,
        102,
        103,
    }


@pytest.fixture
def collector_db(store_url: str) -> str:
    return store_url


def test_with_a_poisoned_message_in_every_batch_an_honest_probe_gets_every_record_stored(
    tls_collector: tuple[QiyasProcess, str], secure_broker: SecureBroker, pki: PKI
) -> None:
    """End to end: the production broker config, `qiyas collector run` on each engine, the honest
    probe and the attacker each with their own device certificate, publishing at once."""
    process, db = tls_collector
    honest, attacker = SigningProbe(HONEST), SigningProbe(ATTACKER)
    with open_store(db) as store:
        for probe in (honest, attacker):
            registry.add_key(store, probe.probe, probe.public_key)
    honest_client = Client(secure_broker, pki.device(HONEST), "honest")
    attacker_client = Client(secure_broker, pki.device(ATTACKER), "attacker")
    assert honest_client.connect()[0] == "connect"
    assert attacker_client.connect()[0] == "connect"
    try:
        assert not honest_client.subscribe(topics.acks(HONEST)).is_failure
        rounds = 20
        for seq in range(rounds):
            for topic, raw, _ in poisons(attacker, 1000 + 10 * seq):
                attacker_client.paho.publish(topic, raw, qos=1)
            honest_client.paho.publish(topics.records(HONEST), honest.record(seq), qos=1)
        acked: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while len(acked) < rounds and time.monotonic() < deadline:
            try:
                topic, payload = honest_client.messages.get(timeout=1)
            except queue.Empty:
                continue
            acked.update((seq, status) for _, seq, status in acks.decode(payload))
    finally:
        honest_client.close()
        attacker_client.close()
    assert acked == {seq: acks.STORED for seq in range(rounds)}
    with open_store(db) as store:
        assert sorted(r.seq for r in store.records() if r.probe == HONEST) == list(range(rounds))
        assert not [r for r in store.records() if r.probe == ATTACKER]
    assert process.proc is not None and process.proc.poll() is None, "the collector died"


def refuse_probe_in_the_database(store: Store, probe: str) -> None:
    """A rule of the database itself, which the collector's validation knows nothing of (as a
    constraint or a partition bound added later would be): it refuses every record of probe."""
    if store.dialect == "sqlite":
        store.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.probe = '{probe}'"
            " BEGIN SELECT RAISE(ABORT, 'refused by a database rule'); END"
        )
    else:
        store.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " RAISE EXCEPTION 'refused by a database rule' USING ERRCODE = 'check_violation';"
            " END $$"
        )
        store.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW"
            f" WHEN (NEW.probe = '{probe}') EXECUTE FUNCTION refuse()"
        )


def test_a_record_the_database_refuses_at_commit_is_quarantined_and_the_batch_stored(
    store: Store,
) -> None:
    honest, refused = SigningProbe(HONEST), SigningProbe(ATTACKER)
    for probe in (honest, refused):
        registry.add_key(store, probe.probe, probe.public_key)
    refuse_probe_in_the_database(store, ATTACKER)
    messages = [(topics.records(HONEST), honest.record(seq)) for seq in range(10)]
    bad = refused.record(7)
    messages.insert(5, (topics.records(ATTACKER), bad))
    messages.append((topics.records(ATTACKER), bad))  # its resend in the same batch

    outcome = batch.process(store, store.key, messages, now_ms())

    assert sorted(outcome.acks[HONEST]) == [(1, seq, acks.STORED) for seq in range(10)]
    assert outcome.acks[ATTACKER] == [(1, 7, acks.QUARANTINED)] * 2
    assert (outcome.stored, outcome.quarantined, outcome.duplicates) == (10, 1, 0)
    assert sorted(r.seq for r in store.records()) == list(range(10))
    [kept] = store.quarantine()
    assert kept.raw == bad and kept.probe == ATTACKER
    assert "the database refused it" in kept.reason
    assert "refused by a database rule" in kept.reason
