"""Build the subscribe-ACL plugin (subscribe_acl.c) that the generated Mosquitto config loads.

Mosquitto's acl_file checks deliveries, not subscriptions, and a delivery check cannot protect a
shared subscription: the plugin refuses every SUBSCRIBE except a probe's own acks and commands
and the collectors' (see the C file). It is compiled where the config is written, against the
broker's own headers (Debian: mosquitto-dev, libmosquitto-dev), so it always matches the broker.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from agent.core.errors import QiyasError

SOURCE = Path(__file__).with_name("subscribe_acl.c")
LIBRARY_NAME = "qiyas_subscribe_acl.so"


class PluginBuildError(QiyasError, RuntimeError):
    """The plugin could not be compiled here; the text says what to install."""


def build(out_dir: Path) -> Path:
    """Compile the plugin into out_dir; returns the library's absolute path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise PluginBuildError("no C compiler (cc) to build the subscribe-ACL plugin")
    library = (out_dir / LIBRARY_NAME).resolve()
    done = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(library), str(SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PluginBuildError(
            "cannot build the subscribe-ACL plugin (install mosquitto-dev and libmosquitto-dev, "
            f"or pass --subscribe-plugin): {done.stderr.strip()[-400:]}"
        )
    return library
