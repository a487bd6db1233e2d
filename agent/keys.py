"""The probe's Ed25519 key: made on the device, kept in a 0600 file, never sent anywhere."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.core.errors import QiyasError
from agent.core.keyid import kid_for


class KeyFileError(QiyasError, OSError):
    """The key file exists but cannot be used (wrong permissions or not a key)."""


class ProbeKey:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key: bytes = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.kid: bytes = kid_for(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)


def load_or_create(path: Path) -> ProbeKey:
    """Load the key at path, or make one there (0600, directory 0700) if there is none.

    O_EXCL makes creation atomic: two processes starting at once end up with one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load(path)
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    return ProbeKey(private)


def _load(path: Path) -> ProbeKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{path}: key file is readable by others (mode {mode:o}); chmod 600 it")
    raw = path.read_bytes()
    if len(raw) != 32:
        raise KeyFileError(f"{path}: not a 32-byte Ed25519 private key ({len(raw)} bytes)")
    return ProbeKey(Ed25519PrivateKey.from_private_bytes(raw))
