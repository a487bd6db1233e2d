"""A real OpenSSH server in front of the emulated stick shell (hil/ont/stick_shell.py).

It runs Debian's `sshd` on a free loopback port with a throwaway host key and one authorised
user key, all in a directory of its own; its ForceCommand is the emulated shell, so whatever the
client asks runs there and nothing else on this machine can be reached through it. The client
side gets an SshTarget with the matching key, known_hosts and an empty ssh_config.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

from agent.ont.stick_ssh import SshTarget

SSHD = "/usr/sbin/sshd"
START_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True, timeout=30)  # fmt: skip


class StickSshd:
    def __init__(self, workdir: Path, captures: Path, scenario: str) -> None:
        self.workdir = workdir
        self.captures = captures
        self.scenario = scenario
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: list[str] = []

    def start(self, *, timeout_s: float = 10.0) -> SshTarget:
        """Starts sshd; returns where and how to reach it once it listens."""
        work = self.workdir
        work.mkdir(parents=True, exist_ok=True)
        _keygen(work / "host_key")
        _keygen(work / "user_key")
        (work / "authorized_keys").write_bytes((work / "user_key.pub").read_bytes())
        (work / "authorized_keys").chmod(0o600)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation
        port = _free_port()
        force = (f"{sys.executable} -m hil.ont.stick_shell"
                 f" --captures {self.captures} --scenario {self.scenario}")  # fmt: skip
        (work / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1:{port}\n"
            f"HostKey {work / 'host_key'}\n"
            f"AuthorizedKeysFile {work / 'authorized_keys'}\n"
            "PidFile none\nUsePAM no\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nAllowTcpForwarding no\nX11Forwarding no\n"
            "PermitTTY no\nMaxStartups 20\n"
            f"ForceCommand {force}\n"
        )
        host_key = (work / "host_key.pub").read_text().split()
        (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        (work / "ssh_config").write_text("")  # none of this machine's client settings
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(work / "sshd_config")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._wait_listening()
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
        return SshTarget("127.0.0.1", user, port, identity=str(work / "user_key"),
                         known_hosts=str(work / "known_hosts"),
                         ssh_config=str(work / "ssh_config"), timeout_s=timeout_s)  # fmt: skip

    def _wait_listening(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stderr, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(left):
                    break
                line = self.proc.stderr.readline().decode("utf-8", "replace").strip()
                if not line:  # sshd exited
                    break
                self.log.append(line)
                if line.startswith("Server listening on"):
                    return
        self.close()
        raise RuntimeError(f"sshd did not start: {' | '.join(self.log[-3:])}")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
