"""A private Mosquitto broker on a free loopback port, for tests, the demo and benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


class Mosquitto:
    """Runs `mosquitto -c <own config>`; `stop()`/`start()` keep the port and the persistence file.

    extra_config: lines appended to the generated config (TLS listeners, ACLs, limits).
    """

    def __init__(
        self,
        workdir: Path | None = None,
        port: int | None = None,
        extra_config: str = "",
        persistence: bool = True,
        listener_config: str | None = None,
    ) -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed: run scripts/setup")
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="qiyas-mosq-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.url = f"mqtt://{self.host}:{self.port}"
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        listener = (
            listener_config
            if listener_config is not None
            else f"listener {self.port} {self.host}\nallow_anonymous true\n"
        )
        lines = [
            # Run as root, mosquitto drops to the `mosquitto` user, which cannot write its log
            # and persistence file into our root-owned work dir: a restart would lose sessions.
            "user root" if os.geteuid() == 0 else "",
            listener,
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            "log_dest file " + str(self.log),
            "log_type error",
            "log_type warning",
            "log_type notice",
            extra_config,
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{log}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
