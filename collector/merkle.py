"""The Merkle tree hash of RFC 9162 §2.1 (the same as RFC 6962 §2.1), with SHA-256.

    MTH({})       = SHA-256()
    MTH({d0})     = SHA-256(0x00 || d0)
    MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of 2 < n

`TreeHasher` computes it incrementally over a stream of leaves in O(log n) memory: it keeps the
roots of the complete subtrees seen so far (a "compact range"), merging two when they have the
same size; at the end the remaining roots are folded right to left, which is exactly the
RFC's split (the left subtree is always the largest complete one). Used by the archive, where a
day holds millions of records that should not all be held at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class TreeHasher:
    """Feed leaves in order with add(); root() is MTH of all leaves added so far."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, its hash), sizes decreasing
        self.size = 0

    def add(self, data: bytes) -> None:
        size, digest = 1, leaf_hash(data)
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        self._stack.append((size, digest))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def tree_hash(leaves: Iterable[bytes]) -> bytes:
    """MTH over leaves, in the order given."""
    hasher = TreeHasher()
    for leaf in leaves:
        hasher.add(leaf)
    return hasher.root()
