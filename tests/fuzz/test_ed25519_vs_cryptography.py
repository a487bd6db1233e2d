"""Pure Ed25519/SHA-512 (agent.core, what MicroPython probes run) against CPython's peers.

Ed25519 is deterministic, so for any seed and message the pure code must produce the very bytes
`cryptography` (OpenSSL) produces, and each must accept the other's signatures.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import ed25519, sha512

seeds = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=600)


@settings(max_examples=60, deadline=None)
@given(seeds, messages)
def test_same_public_key_and_signature_as_cryptography(seed: bytes, message: bytes) -> None:
    ours = ed25519.SigningKey(seed)
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    public = theirs.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert ours.public_key == public
    signature = ours.sign(message)
    assert signature == theirs.sign(message)
    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)


@settings(max_examples=40, deadline=None)
@given(seeds, messages, st.integers(0, 63), st.integers(1, 255))
def test_verify_agrees_with_cryptography_on_corrupted_signatures(
    seed: bytes, message: bytes, index: int, flip: int
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    corrupted = bytearray(key.sign(message))
    corrupted[index] ^= flip
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes(corrupted), message)
        theirs = True
    except InvalidSignature:
        theirs = False
    assert ed25519.verify(public, bytes(corrupted), message) == theirs


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1000))
def test_sha512_matches_hashlib(data: bytes) -> None:
    assert sha512.digest(data) == hashlib.sha512(data).digest()
