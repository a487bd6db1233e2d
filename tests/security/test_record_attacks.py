"""The attack list against a running collector, as real processes over the production broker
config: every forged or malformed record is quarantined with a reason that names what was wrong,
nothing of it is stored, and the collector stays up and goes on storing genuine records.

The attacker holds probe A's device certificate (a compromised or cloned probe): the broker lets
it publish on A's records topic only, so everything arrives there.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from mtls import Client, SecureBroker

from agent.core import cbor, cose, record, topics
from agent.core.keyid import kid_for
from collector import registry
from collector.registry import KeyCache
from collector.store import open_store
from hil.fleet import QiyasProcess
from hil.pki import PKI

VERSIONS = {"agent": "0.1.0", "board": "test", "firmware": "none"}


class Signer:
    def __init__(self, probe: str) -> None:
        self.probe = probe
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = kid_for(self.public)

    def payload(self, seq: int, probe: str | None = None) -> bytes:
        now = time.time_ns() // 1_000_000
        return record.encode(
            probe or self.probe, 1, seq, now, True, "health", {"uptime_s": seq}, VERSIONS
        )

    def sign(self, payload: bytes, kid: bytes | None = None) -> bytes:
        return cose.sign1(payload, kid or self.kid, self.key.sign)

    def record(self, seq: int) -> bytes:
        return self.sign(self.payload(seq))

    def envelope(
        self, protected: dict[int, Any], unprotected: dict[int, Any], payload: bytes
    ) -> bytes:
        """A COSE_Sign1 with these headers, really signed by this key."""
        raw_protected = cbor.dumps(protected)
        signature = self.key.sign(cbor.dumps(["Signature1", raw_protected, b"", payload]))
        return cbor.dumps(
            cbor.Tag(cose.TAG_SIGN1, [raw_protected, unprotected, payload, signature])
        )


A, B = Signer("probe-a"), Signer("probe-b")


def with_duplicate_key(payload: bytes) -> bytes:
    """The payload's map with its seq entry written twice (a second, different seq)."""
    fields = cbor.loads(payload)
    assert isinstance(fields, dict)
    body = b"".join(cbor.dumps(k) + cbor.dumps(v) for k, v in fields.items())
    return bytes([0xA0 + len(fields) + 1]) + body + cbor.dumps(record.K_SEQ) + cbor.dumps(999)


def with_indefinite_map(payload: bytes) -> bytes:
    """The same map, framed with an indefinite length (0xbf ... 0xff)."""
    head = 1  # a map of fewer than 24 entries has a one-byte head
    return b"\xbf" + payload[head:] + b"\xff"


def attacks() -> dict[str, tuple[bytes, str]]:
    """name → (message published on probe A's records topic, what the reason must say)."""
    forged = bytearray(A.record(101))
    forged[-1] ^= 0x01
    protected = {cose.HDR_ALG: cose.ALG_EDDSA, cose.HDR_KID: A.kid}
    return {
        "forged signature": (bytes(forged), "bad signature"),
        "unknown kid": (Signer("probe-a").record(102), "unknown kid"),
        "alg in the unprotected header": (
            A.envelope({cose.HDR_KID: A.kid}, {cose.HDR_ALG: cose.ALG_EDDSA}, A.payload(103)),
            "alg must be in the protected header",
        ),
        "alg none": (
            A.envelope({cose.HDR_ALG: "none", cose.HDR_KID: A.kid}, {}, A.payload(104)),
            "is not EdDSA",
        ),
        "ES256 for a pinned Ed25519 key": (
            A.envelope({cose.HDR_ALG: -7, cose.HDR_KID: A.kid}, {}, A.payload(105)),
            "alg -7 is not EdDSA",
        ),
        "duplicate map keys": (A.sign(with_duplicate_key(A.payload(106))), "duplicate map key"),
        "trailing bytes": (A.record(107) + b"\x00", "trailing bytes"),
        "indefinite lengths": (
            A.sign(with_indefinite_map(A.payload(108))),
            "indefinite length is not accepted",
        ),
        "nesting bomb in the payload": (A.sign(b"\x81" * 5000 + b"\x00"), "nesting deeper"),
        "nesting bomb as the message": (b"\xd2" + b"\x81" * 5000 + b"\x00", "nesting deeper"),
        "oversized": (A.record(109) + b"\x00" * 17_000, "oversized"),
        "probe A naming probe B": (
            A.sign(A.payload(110, probe="probe-b")),
            "is registered to probe probe-a",
        ),
        "probe A under probe B's kid": (
            A.sign(A.payload(111, probe="probe-b"), kid=B.kid),
            "bad signature",
        ),
        "unsigned payload": (A.payload(112), "not a valid COSE_Sign1"),
        "protected and unprotected kid": (
            A.envelope(protected, {cose.HDR_KID: B.kid}, A.payload(113)),
            "both protected and unprotected",
        ),
    }


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return found


@pytest.fixture
def registered(tls_collector: tuple[QiyasProcess, str]) -> tuple[QiyasProcess, str]:
    _, db = tls_collector
    with open_store(str(db)) as store:
        for signer in (A, B):
            registry.add_key(store, signer.probe, signer.public)
    return tls_collector


def test_every_attack_is_quarantined_with_its_reason_and_nothing_is_stored(
    registered: tuple[QiyasProcess, str], secure_broker: SecureBroker, pki: PKI
) -> None:
    process, db = registered
    cases = attacks()
    attacker = Client(secure_broker, pki.device("probe-a"), "attacker")
    assert attacker.connect()[0] == "connect"
    try:
        genuine = A.record(1)
        attacker.publish(topics.records("probe-a"), genuine)
        for data, _ in cases.values():
            attacker.publish(topics.records("probe-a"), data)
        attacker.publish(topics.records("probe-a"), genuine)  # replayed: stored once
        attacker.publish(topics.records("probe-a"), A.record(2))  # last: all before it is in
    finally:
        attacker.close()

    with open_store(str(db)) as store:
        stored = wait_for(
            lambda: (rows := list(store.records())) and len(rows) >= 2 and rows, 30, "record 2"
        )
        quarantine = {q.raw: q for q in store.quarantine()}
    assert sorted((r.probe, r.seq) for r in stored) == [("probe-a", 1), ("probe-a", 2)]
    for name, (data, reason) in cases.items():
        kept = data[: cose.MAX_MESSAGE]  # the quarantine keeps the first 16 KiB of a message
        assert kept in quarantine, f"{name}: not quarantined"
        assert reason in quarantine[kept].reason, f"{name}: {quarantine[kept].reason}"
    assert len(quarantine) == len(cases)
    assert process.proc is not None and process.proc.poll() is None, "the collector died"


def test_a_revoked_key_is_refused_once_the_collector_key_cache_expires(
    registered: tuple[QiyasProcess, str], secure_broker: SecureBroker, pki: PKI
) -> None:
    process, db = registered
    ttl_ms = 1000 * inspect.signature(KeyCache).parameters["ttl_s"].default
    thief = Client(secure_broker, pki.device("probe-a"), "thief")
    assert thief.connect()[0] == "connect"
    try:
        thief.publish(topics.records("probe-a"), A.record(1))
        with open_store(str(db)) as store:
            wait_for(lambda: list(store.records()), 30, "the record before revocation")
            revoked_at = time.time_ns() // 1_000_000
            store.set_key_validity(A.kid, None, None, revoked_at)
            sent = iter(range(2, 10_000))

            def refused() -> bool:
                thief.publish(topics.records("probe-a"), A.record(next(sent)))
                return any("revoked" in q.reason for q in store.quarantine())

            wait_for(refused, 30, "a record refused as revoked")
            after = next(sent)  # from now on, every record must be refused
            thief.publish(topics.records("probe-a"), A.record(after))
            wait_for(
                lambda: any(_seq_of(q.raw) == after for q in store.quarantine()),
                30,
                "the last record quarantined",
            )
            late = [
                r.received_at_ms - revoked_at
                for r in store.records()
                if r.received_at_ms >= revoked_at
            ]
            seqs = {r.seq for r in store.records()}
    finally:
        thief.close()
    assert all(delay < ttl_ms for delay in late), late
    assert after not in seqs
    assert process.proc is not None and process.proc.poll() is None


def _seq_of(raw: bytes) -> int:
    return int(record.decode(cose.parse_sign1(raw).payload)["seq"])
