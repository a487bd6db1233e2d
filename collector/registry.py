"""The probe key registry: which public key speaks for which probe, and since/until when.

A key is registered once (kid = `agent.core.keyid.kid_for(public_key)`); re-registering the same
key for the same probe is a no-op, so provisioning scripts can be re-run. A probe may hold several
keys (rotation); each key belongs to exactly one probe.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from agent.core import keyid, record
from agent.core.errors import InvalidInput
from collector.regions import REGIONS, TECHNOLOGIES
from collector.store import KeyRow, ProbeRow, Store, now_ms
from collector.times import iso_ms


class RegistryError(InvalidInput):
    """A key or bundle that cannot be registered; the text says what was wrong."""


def add_key(
    store: Store,
    probe: str,
    public_key: bytes,
    not_before_ms: int | None = None,
    not_after_ms: int | None = None,
) -> KeyRow:
    """Register public_key (raw 32-byte Ed25519) for probe; returns the registered row."""
    if not record.valid_probe_id(probe):
        raise RegistryError(f"probe id {probe!r} is not 1..64 of letters, digits, '.', '_', '-'")
    if len(public_key) != 32:
        raise RegistryError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    kid = keyid.kid_for(public_key)
    existing = store.key(kid)
    if existing is not None:
        if existing.probe != probe:
            raise RegistryError(f"key {kid.hex()} is already registered to probe {existing.probe}")
        return existing
    row = KeyRow(
        probe=probe,
        kid=kid,
        public_key=public_key,
        not_before_ms=not_before_ms,
        not_after_ms=not_after_ms,
    )
    store.insert_key(row)
    return row


def rotate_key(store: Store, probe: str, public_key: bytes, at_ms: int | None = None) -> KeyRow:
    """Register a new key for probe, valid from at_ms (default now); the probe's current keys
    stop being valid for records measured from then on."""
    at = now_ms() if at_ms is None else at_ms
    current = [
        k for k in store.probe_keys(probe) if k.not_after_ms is None and k.revoked_at_ms is None
    ]
    if not current:
        raise RegistryError(f"probe {probe} has no current key to rotate from; use keys add")
    new = add_key(store, probe, public_key, not_before_ms=at)
    for old in current:
        if old.kid != new.kid:
            store.set_key_validity(old.kid, old.not_before_ms, at, old.revoked_at_ms)
    return new


def revoke_key(store: Store, kid: bytes, at_ms: int | None = None) -> KeyRow:
    """Revoke a key: records signed with it that arrive from at_ms on are quarantined."""
    key = store.key(kid)
    if key is None:
        raise RegistryError(f"no key with kid {kid.hex()} is registered")
    at = now_ms() if at_ms is None else at_ms
    store.set_key_validity(kid, key.not_before_ms, key.not_after_ms, at)
    return dataclasses.replace(key, revoked_at_ms=at)


def set_probe(store: Store, row: ProbeRow) -> ProbeRow:
    """Record (or update) what is known of a probe; checks region, technology and date."""
    if not record.valid_probe_id(row.probe):
        raise RegistryError(
            f"probe id {row.probe!r} is not 1..64 of letters, digits, '.', '_', '-'"
        )
    if row.technology is not None and row.technology not in TECHNOLOGIES:
        raise RegistryError(
            f"technology {row.technology!r} is not one of {', '.join(TECHNOLOGIES)}"
        )
    if row.region is not None and row.region not in REGIONS:
        raise RegistryError(f"region {row.region!r} is not one of MA-01 … MA-12")
    if row.consent_date is not None:
        try:
            date.fromisoformat(row.consent_date)
        except ValueError:
            raise RegistryError(f"consent date {row.consent_date!r} is not YYYY-MM-DD") from None
    for name in ("operator", "commune", "board", "firmware"):
        value = getattr(row, name)
        if value is not None and (not isinstance(value, str) or len(value) > 128):
            raise RegistryError(f"{name} must be a text of at most 128 characters")
    existing = store.probe(row.probe)
    if existing is not None:
        # Fields not given keep their value: updating the operator does not erase the region.
        given = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
        row = dataclasses.replace(existing, **{k: v for k, v in given.items() if v is not None})
    store.upsert_probe(row)
    return row


def describe_key(k: KeyRow) -> dict[str, Any]:
    """A key as the CLI and the API show it: hex ids, ISO times."""

    def when(ms: int | None) -> str | None:
        return None if ms is None else iso_ms(ms)

    return {
        "probe": k.probe,
        "kid": k.kid.hex(),
        "public_key": k.public_key.hex(),
        "not_before": when(k.not_before_ms),
        "not_after": when(k.not_after_ms),
        "revoked_at": when(k.revoked_at_ms),
    }


@dataclass(frozen=True)
class Bundle:
    """What `qiyas provision` prints for a probe: enough to register it at the collector."""

    probe: str
    kid: bytes
    public_key: bytes
    extra: dict[str, Any]


def _hex_field(data: dict[str, Any], name: str, where: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise RegistryError(f"{where}: {name} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise RegistryError(f"{where}: {name} is not valid hex") from None


def load_bundle(path: Path) -> Bundle:
    """Read and check a provisioning bundle (JSON with probe, kid, public_key hex, ...)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read bundle {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: a bundle is a JSON object")
    probe = data.get("probe")
    if not isinstance(probe, str):
        raise RegistryError(f"{path}: probe must be a string")
    public_key = _hex_field(data, "public_key", str(path))
    if len(public_key) != 32:
        raise RegistryError(f"{path}: public_key is {len(public_key)} bytes, not 32")
    kid = _hex_field(data, "kid", str(path))
    if kid != keyid.kid_for(public_key):
        raise RegistryError(
            f"{path}: kid {kid.hex()} does not match the public key "
            f"(expected {keyid.kid_for(public_key).hex()})"
        )
    extra = {k: v for k, v in data.items() if k not in ("probe", "kid", "public_key")}
    return Bundle(probe=probe, kid=kid, public_key=public_key, extra=extra)


class KeyCache:
    """kid → key row, read through to the store, so ingest does not query per message.

    Entries expire after ttl_s so a revocation made by another process takes effect within ttl_s.
    Unknown kids are not cached: a probe registered a moment ago is accepted at once.
    """

    def __init__(self, store: Store, ttl_s: float = 5.0) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._entries: dict[bytes, tuple[float, KeyRow]] = {}

    def __call__(self, kid: bytes) -> KeyRow | None:
        now = time.monotonic()
        hit = self._entries.get(kid)
        if hit is not None and now - hit[0] < self._ttl_s:
            return hit[1]
        row = self._store.key(kid)
        if row is not None:
            self._entries[kid] = (now, row)
        return row
