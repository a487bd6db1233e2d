"""Start the firmware: settings, probe key, platform, then the app's loop forever."""

import asyncio
import os

from agent.core.ed25519 import SEED_LEN, SigningKey
from agent.core.errors import QiyasError
from firmware import platform as platforms
from firmware import settings as settings_file
from firmware.app import App

FIRMWARE_VERSION_FILE = "firmware.version"  # written by `qiyas firmware build`, next to the app


class StartError(QiyasError):
    """The firmware cannot start; the text says which file is wrong."""


def load_key(path):
    # type: (str) -> SigningKey
    """The probe key at path; made there on first start if there is none, from the chip's
    hardware random generator (os.urandom), so the key never exists anywhere else."""
    try:
        with open(path, "rb") as f:
            seed = f.read(SEED_LEN + 1)
    except OSError:
        seed = os.urandom(SEED_LEN)
        try:
            with open(path, "wb") as f:
                f.write(seed)
        except OSError as exc:
            raise StartError("cannot create the probe key %s: %s" % (path, exc)) from None
    if len(seed) != SEED_LEN:
        raise StartError("probe key %s must hold a %d-byte seed" % (path, SEED_LEN))
    return SigningKey(seed)


def firmware_version(directory):
    # type: (str) -> str
    try:
        with open(directory + "/" + FIRMWARE_VERSION_FILE) as f:
            return f.read(64).strip() or "unknown"
    except OSError:
        return "unbuilt"


def build(settings_path, version_dir):
    # type: (str, str) -> App
    try:
        settings = settings_file.load(settings_path)
    except settings_file.SettingsError as exc:
        raise StartError("%s: %s" % (settings_path, exc)) from None
    key = load_key(settings.key_file)
    return App(settings, platforms.load(), key, firmware_version(version_dir))


def main(settings_path, version_dir):
    # type: (str, str) -> None
    app = build(settings_path, version_dir)
    asyncio.run(app.run())
