"""A probe as the collector sees one: an Ed25519 key that signs records the way the agent does.

Tests and benchmarks use it to publish real signed records without running an agent.
"""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.core import cose, keyid, record

VERSIONS = {"agent": "0.1.0", "board": "test-board", "firmware": "none"}


class SigningProbe:
    def __init__(self, probe: str, private_key: Ed25519PrivateKey | None = None) -> None:
        self.probe = probe
        self.private_key = private_key or Ed25519PrivateKey.generate()
        self.public_key = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = keyid.kid_for(self.public_key)

    def sign(self, payload: bytes, kid: bytes | None = None) -> bytes:
        """payload wrapped in a COSE_Sign1 signed by this probe's key (under kid if given)."""
        signed: bytes = cose.sign1(payload, self.kid if kid is None else kid, self.private_key.sign)
        return signed

    def payload(
        self,
        seq: int,
        epoch: int = 1,
        kind: str = "health",
        values: dict[str, Any] | None = None,
        time_ms: int | None = None,
        context: dict[str, Any] | None = None,
        probe: str | None = None,
    ) -> bytes:
        return record.encode(
            self.probe if probe is None else probe,
            epoch,
            seq,
            time.time_ns() // 1_000_000 if time_ms is None else time_ms,
            True,
            kind,
            {"uptime_s": seq, "outbox_depth": 0} if values is None else values,
            VERSIONS,
            context,
        )

    def record(self, seq: int, **fields: Any) -> bytes:
        """A signed record; fields as for payload()."""
        return self.sign(self.payload(seq, **fields))
