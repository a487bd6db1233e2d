"""The probe key registry: which public key speaks for which probe, and since/until when.

A key is registered once (kid = `agent.core.keyid.kid_for(public_key)`); re-registering the same
key for the same probe is a no-op, so provisioning scripts can be re-run. A probe may hold several
keys (rotation); each key belongs to exactly one probe.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.core import keyid, record
from collector.store import KeyRow, Store


class RegistryError(ValueError):
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
