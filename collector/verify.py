"""Verify one signed record against the key registry: the collector's single gate for input.

`check_message` never raises on bad input: it returns `Verified` or `Rejected` with a reason that
names what was wrong. Both the MQTT ingest and `qiyas verify` go through it, so a record accepted
live is exactly a record accepted offline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.core import cbor, cose, record
from collector import fastcbor
from collector.store import KeyRow

# Columns are signed 64-bit in both SQLite and PostgreSQL.
_INT64_MAX = 2**63 - 1

KeyLookup = Callable[[bytes], KeyRow | None]

# The window a synchronised clock's measurement time must lie in, around its arrival. The past
# bound is longer than an outbox holds records (20 000 by default: 69 days of the default
# schedule), so a probe offline for months still delivers its genuine records; before 2020 no
# Qiyas agent measured. Ahead: NTP keeps a synchronised clock within seconds, so minutes ahead is
# flagged and more than a day is no clock at all.
EARLIEST_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_AGE_MS = 400 * 86_400_000
FLAG_AHEAD_MS = 5 * 60_000
MAX_AHEAD_MS = 86_400_000
# An unsynchronised clock counts from 1970 (or its build date) on; past 9999 no calendar holds it,
# and the store converts times to Casablanca's clock, which needs the year's last day as margin.
_CALENDAR_END_MS = 253_402_214_400_000  # 9999-12-31T00:00:00Z


@dataclass(frozen=True)
class Verified:
    kid: bytes
    record: dict[str, Any]  # decoded and checked: agent.core.record.decode's named fields
    flag: str | None = None  # why this genuine record looks wrong, if it does
    # Of the signed payload (collector.schema.payload_sha256), taken here while it is at hand:
    # the store would otherwise parse the envelope a second time for it.
    payload_sha256: bytes | None = None


@dataclass(frozen=True)
class Rejected:
    """reason: what was wrong. epoch/seq: set only for a record its own probe signed, read from its
    payload when it could be, so that probe can be told to stop resending it."""

    reason: str
    epoch: int | None = None
    seq: int | None = None


@lru_cache(maxsize=65536)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def _signature_ok(public_key: bytes, signature: bytes, data: bytes) -> bool:
    try:
        _public_key(public_key).verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _peek_identity(payload: bytes) -> tuple[int | None, int | None]:
    """(epoch, seq) of a payload that failed a check, if it is a map that has them."""
    try:
        # cbor's default bounds, looser than the schema's: a too-deep record can still be named.
        fields = cbor.loads(payload, tags=())
    except cbor.CBORError:
        return None, None
    if not isinstance(fields, dict):
        return None, None
    epoch, seq = fields.get(record.K_EPOCH), fields.get(record.K_SEQ)
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (epoch, seq)):
        return None, None
    return epoch, seq


def time_problem(time_ms: int, synced: bool, received_at_ms: int) -> tuple[str | None, str | None]:
    """(why the record must be refused, why it is flagged), each None if not.

    An unsynchronised clock is judged by arrival time, which is always plausible: its own time
    is kept as the probe said (marked synced false) unless no calendar holds it.
    """
    if not synced:
        if not 0 <= time_ms < _CALENDAR_END_MS:
            return (
                f"time_ms {time_ms} of an unsynchronised clock: no calendar day 1970..9999-12-30",
                None,
            )
        return None, None
    if time_ms < EARLIEST_MS:
        return f"time_ms {time_ms} is before 2020, when no Qiyas agent measured", None
    if time_ms < received_at_ms - MAX_AGE_MS:
        days = MAX_AGE_MS // 86_400_000
        return f"time_ms {time_ms} is older than {days} days before its arrival", None
    ahead = time_ms - received_at_ms
    if ahead > MAX_AHEAD_MS:
        return (
            f"time_ms {time_ms} is {ahead} ms ahead of its arrival (at most {MAX_AHEAD_MS})",
            None,
        )
    if ahead > FLAG_AHEAD_MS:
        return None, f"time {ahead} ms ahead of arrival"
    return None, None


def _key_problem(key: KeyRow, time_ms: int, received_at_ms: int) -> str | None:
    """Why key may not vouch for a record measured at time_ms and received at received_at_ms.

    Revocation is judged on arrival time (a stolen key can claim any measurement time); the
    validity window on the measurement time (a record measured under the old key may arrive late,
    after a rotation, from the outbox).
    """
    kid = key.kid.hex()
    if key.revoked_at_ms is not None and received_at_ms >= key.revoked_at_ms:
        return f"key {kid} of probe {key.probe} was revoked at {key.revoked_at_ms} ms"
    if key.not_before_ms is not None and time_ms < key.not_before_ms:
        return f"key {kid} of probe {key.probe} is not valid before {key.not_before_ms} ms"
    if key.not_after_ms is not None and time_ms >= key.not_after_ms:
        return f"key {kid} of probe {key.probe} expired at {key.not_after_ms} ms"
    return None


def open_envelope(raw: bytes, lookup: KeyLookup) -> tuple[cose.Sign1, KeyRow] | Rejected:
    """Parse a COSE_Sign1 and check its signature with the registered key its kid names."""
    if len(raw) > cose.MAX_MESSAGE:
        return Rejected(f"oversized: {len(raw)} bytes exceeds {cose.MAX_MESSAGE}")
    try:
        msg = cose.parse_sign1(raw)
    except cose.COSEError as exc:
        return Rejected(f"not a valid COSE_Sign1: {exc}")
    # Unauthenticated: never named for an acknowledgement, or anyone able to publish on a
    # probe's topic could make it drop a genuine record it has not delivered yet. A probe whose
    # key is not registered yet keeps resending, and is stored once the key is added.
    key = lookup(msg.kid)
    if key is None:
        return Rejected(f"unknown kid {msg.kid.hex()}")
    if not _signature_ok(key.public_key, msg.signature, msg.to_be_signed()):
        return Rejected(f"bad signature for kid {msg.kid.hex()} (probe {key.probe})")
    return msg, key


def check_message(
    raw: bytes, lookup: KeyLookup, received_at_ms: int, topic_probe: str | None = None
) -> Verified | Rejected:
    """Parse, verify and decode one COSE_Sign1 record.

    topic_probe: the probe named by the MQTT topic it arrived on (None offline): it must match.
    """
    opened = open_envelope(raw, lookup)
    if isinstance(opened, Rejected):
        return opened
    msg, key = opened

    def reject(reason: str) -> Rejected:
        # Acknowledged only to the probe that signed it, for the same reason as above.
        if topic_probe is not None and key.probe != topic_probe:
            return Rejected(reason)
        return Rejected(reason, *_peek_identity(msg.payload))

    try:
        # The envelope is a few small items, which the portable decoder reads faster than cbor2
        # plus the check; the payload is where the fast path pays (see collector.fastcbor).
        rec = record.decode(msg.payload, fastcbor.loads)
    except record.RecordError as exc:
        return reject(f"payload does not follow the record schema: {exc}")
    if rec["probe"] != key.probe:
        return reject(
            f"record names probe {rec['probe']} but kid {msg.kid.hex()} "
            f"is registered to probe {key.probe}"
        )
    if topic_probe is not None and rec["probe"] != topic_probe:
        return reject(
            f"record names probe {rec['probe']} but arrived on the topic of probe {topic_probe}"
        )
    if rec["seq"] > _INT64_MAX:
        return reject(f"seq {rec['seq']} exceeds the largest storable {_INT64_MAX}")
    # The window also keeps every stored time within the signed 64-bit columns.
    problem, flag = time_problem(rec["time_ms"], rec["synced"], received_at_ms)
    if problem is None:
        problem = _key_problem(key, rec["time_ms"], received_at_ms)
    if problem is not None:
        return reject(problem)
    return Verified(
        kid=msg.kid, record=rec, flag=flag, payload_sha256=hashlib.sha256(msg.payload).digest()
    )
