"""The key id (COSE `kid`) of a probe key: the first 8 bytes of SHA-256 of the raw public key.

Short enough to cost little in every record, long enough that two probes' keys never collide
in a registry of millions (birthday bound ~2^32 keys).
"""

import hashlib

KID_LEN = 8


def kid_for(public_key):
    # type: (bytes) -> bytes
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes, not %d" % len(public_key))
    return hashlib.sha256(public_key).digest()[:KID_LEN]
