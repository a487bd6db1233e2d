"""The published key registry: every probe key with its validity, signed by the regulator.

A minimal stand-in for issue 21's `collector keys export`, made so that an archive can be
re-verified with no database: a JSON document and, beside it (`FILE.sig`), the regulator's
Ed25519 signature over its exact bytes. The document names the regulator's public key; a verifier
compares that key with the one the regulator publishes (or pins it with `--regulator-key`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.core.errors import InvalidInput
from collector.store import KeyRow, Store
from collector.times import iso_ms

FORMAT = "qiyas-key-registry"
VERSION = 1

Sign = Callable[[bytes], bytes]


class RegistryFileError(InvalidInput):
    """A registry file that is unreadable, malformed or not signed by the key it names."""


@dataclass(frozen=True)
class Registry:
    regulator_key: bytes  # raw Ed25519 public key that signed it
    keys: dict[bytes, KeyRow]  # by kid

    def lookup(self, kid: bytes) -> KeyRow | None:
        return self.keys.get(kid)


def export(
    store: Store, regulator_public_key: bytes, sign: Sign, now_ms: int
) -> tuple[bytes, bytes]:
    """(document, detached signature) of every key in the store's registry."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "issued_at": iso_ms(now_ms),
        "regulator_key": regulator_public_key.hex(),
        "keys": [
            {
                "probe": k.probe,
                "kid": k.kid.hex(),
                "public_key": k.public_key.hex(),
                "not_before_ms": k.not_before_ms,
                "not_after_ms": k.not_after_ms,
                "revoked_at_ms": k.revoked_at_ms,
            }
            for k in store.probe_keys()
        ],
    }
    data = json.dumps(doc, indent=1, sort_keys=True).encode()
    return data, sign(data)


def verify_signature(public_key: bytes, data: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def load(data: bytes, signature: bytes, pinned_key: bytes | None = None) -> Registry:
    """The registry in data, once its signature is checked (against pinned_key if given)."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise RegistryFileError(f"not a {FORMAT} version {VERSION} document")
        regulator = bytes.fromhex(doc["regulator_key"])
        keys = {bytes.fromhex(k["kid"]): _key(k) for k in doc["keys"]}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, RegistryFileError):
            raise
        raise RegistryFileError(f"malformed key registry: {exc!r}") from None
    if pinned_key is not None and regulator != pinned_key:
        raise RegistryFileError(
            f"signed by {regulator.hex()}, not by the pinned regulator key {pinned_key.hex()}"
        )
    if not verify_signature(regulator, data, signature):
        raise RegistryFileError("the regulator's signature over the key registry does not verify")
    return Registry(regulator, keys)


def _key(entry: dict[str, Any]) -> KeyRow:
    for name in ("not_before_ms", "not_after_ms", "revoked_at_ms"):
        if entry[name] is not None and not isinstance(entry[name], int):
            raise TypeError(f"{name} must be an integer or null")
    return KeyRow(
        probe=str(entry["probe"]),
        kid=bytes.fromhex(entry["kid"]),
        public_key=bytes.fromhex(entry["public_key"]),
        not_before_ms=entry["not_before_ms"],
        not_after_ms=entry["not_after_ms"],
        revoked_at_ms=entry["revoked_at_ms"],
        added_at_ms=0,
    )
