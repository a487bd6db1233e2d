"""API keys for the collector's HTTP API: `read` for regulators' tools, `admin` for writes.

A key is shown once when created; the database keeps only its SHA-256, which is enough to check
a presented key and useless to whoever steals the database.
"""

from __future__ import annotations

import hashlib
import secrets

from collector.store import Store

SCOPES = ("read", "admin")
PREFIX = "qk_"


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def create(store: Store, name: str, scope: str) -> str:
    """A new key of scope for name; returns the key itself (not stored anywhere)."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    if not name or len(name) > 128:
        raise ValueError("an API key needs a name of 1..128 characters")
    key = PREFIX + secrets.token_urlsafe(32)
    store.insert_api_key(key_hash(key), name, scope)
    return key


def scope_of(store: Store, key: str | None) -> str | None:
    """The scope a presented key grants, or None for no key, an unknown or a revoked one."""
    if not key or len(key) > 256:
        return None
    return store.api_key_scope(key_hash(key))
