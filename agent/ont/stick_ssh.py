"""Run a stick's shell commands over SSH, with the system's OpenSSH client.

Why the `ssh` program and not a Python SSH library: the router already has it, it keeps the
household's known_hosts and ~/.ssh/config (old stick firmwares need legacy algorithms there, e.g.
the MA5671A's `KexAlgorithms +diffie-hellman-group1-sha1`, `HostKeyAlgorithms +ssh-dss`), and it
costs the agent no crypto dependency. BatchMode: never a password prompt, only keys; a host key
that is unknown or changed fails (StrictHostKeyChecking) rather than trusting whoever answers.
Each command is one connection with a bounded time and a bounded output.
"""

from __future__ import annotations

import asyncio
import re
from typing import NamedTuple

from agent.core.errors import QiyasError
from agent.ont.stick_shell import MAX_OUTPUT

MAX_STDERR = 4096
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:%_-]{0,252}")  # a name, IPv4 or IPv6 literal
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,31}")


class StickShellError(QiyasError):
    """The stick's shell could not be reached or the command failed; the text says which."""


class SshTarget(NamedTuple):
    host: str
    user: str = "root"
    port: int = 22
    identity: str | None = None  # private key file; else the client's defaults / agent
    known_hosts: str | None = None  # else the client's ~/.ssh/known_hosts
    ssh_config: str | None = None  # else the client's ~/.ssh/config
    timeout_s: float = 10.0

    def check(self) -> SshTarget:
        """Itself, when every field is usable on an ssh command line (no option injection)."""
        if not _HOST.fullmatch(self.host):
            raise StickShellError(f"{self.host!r} is not a host name or address")
        if not _USER.fullmatch(self.user):
            raise StickShellError(f"{self.user!r} is not a user name")
        if not 1 <= self.port <= 65535:
            raise StickShellError(f"port {self.port} is not 1..65535")
        if not 1 <= self.timeout_s <= 120:
            raise StickShellError(f"timeout {self.timeout_s:g} s is not 1..120")
        return self


def ssh_argv(target: SshTarget, command: str, *, ssh: str = "ssh") -> list[str]:
    connect_s = max(1, int(target.timeout_s))
    argv = [ssh, "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"ConnectTimeout={connect_s}", "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=2", "-p", str(target.port), "-l", target.user]  # fmt: skip
    if target.ssh_config:
        argv[1:1] = ["-F", target.ssh_config]
    if target.identity:
        argv += ["-i", target.identity, "-o", "IdentitiesOnly=yes"]
    if target.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={target.known_hosts}"]
    return [*argv, "--", target.host, command]


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes, and whether there was more (the rest is drained, not kept)."""
    data = bytearray()
    over = False
    while chunk := await stream.read(65536):
        room = limit - len(data)
        data += chunk[:room]
        over = over or len(chunk) > room
    return bytes(data), over


async def run(target: SshTarget, command: str, *, ssh: str = "ssh") -> str:
    """The command's standard output. Raises StickShellError saying why there is none."""
    target.check()
    try:
        proc = await asyncio.create_subprocess_exec(
            *ssh_argv(target, command, ssh=ssh),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise StickShellError(f"cannot run {ssh}: {exc.strerror or exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    reads = asyncio.gather(
        _read_bounded(proc.stdout, MAX_OUTPUT), _read_bounded(proc.stderr, MAX_STDERR)
    )
    where = f"{target.user}@{target.host}:{target.port}"
    try:
        (out, too_long), (err, _) = await asyncio.wait_for(reads, target.timeout_s)
        await asyncio.wait_for(proc.wait(), target.timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise StickShellError(
            f"{command!r} on {where} did not finish in {target.timeout_s:g} s"
        ) from None
    why = err.decode("utf-8", "replace").strip().splitlines()
    if proc.returncode == 255:  # ssh's own failure: unreachable, refused, host key, auth
        raise StickShellError(f"ssh {where}: {why[-1] if why else 'failed (exit 255)'}")
    if proc.returncode != 0:
        detail = why[-1] if why else f"exit {proc.returncode}"
        raise StickShellError(f"{command!r} on {where}: {detail}")
    if too_long:
        raise StickShellError(f"{command!r} on {where}: more than {MAX_OUTPUT} bytes of output")
    return out.decode("utf-8", "replace")


async def read_outputs(
    target: SshTarget, commands: tuple[str, ...], *, ssh: str = "ssh"
) -> dict[str, str]:
    """Each command's output, in order (a stick's shell serves one login at a time well)."""
    return {command: await run(target, command, ssh=ssh) for command in commands}
