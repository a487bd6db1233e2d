"""Deployment: the systemd unit as systemd reads it, the agent's readiness and watchdog over a real
notify socket, and the install scripts' shell."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import provision

from agent import sdnotify
from hil.fleet import AgentProcess
from hil.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "qiyas-agent.service"
INSTALLED_QIYAS = "/opt/qiyas/venv/bin/qiyas"
MAX_EXPOSURE = 3.0  # systemd-analyze security: 0 = locked down, 10 = unprotected

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's qiyas (systemd checks it exists)."""
    here = shutil.which("qiyas", path=str(Path(sys.executable).parent))
    assert here is not None
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED_QIYAS, here))
    return unit


@needs_systemd
def test_unit_is_what_systemd_accepts(tmp_path: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit_here(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Unknown or misspelt keys are only warnings: there must be none.
    assert done.stderr.strip() == ""


@needs_systemd
def test_unit_is_hardened(tmp_path: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit_here(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(15)
    try:
        yield sock
    finally:
        sock.close()


def receive_until(sock: socket.socket, wanted: str) -> list[str]:
    """Messages up to and including `wanted` (socket timeout if it never comes)."""
    seen = []
    while wanted not in seen:
        seen.append(sock.recv(4096).decode())
    return seen


def test_agent_says_ready_feeds_the_watchdog_and_says_stopping(
    tmp_path: Path, mosquitto: Mosquitto, notify_socket: socket.socket
) -> None:
    config, _ = provision(tmp_path, mosquitto.url, None, "--board", "generic-linux")
    # As systemd runs it: notify socket, a 1 s watchdog (pings every 0.5 s), journal logging.
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000",
           "JOURNAL_STREAM": "8:1234"}  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log", env=env).start()
    try:
        assert receive_until(notify_socket, "READY=1")[-1] == "READY=1"
        pings = [notify_socket.recv(4096).decode() for _ in range(3)]
        assert pings == ["WATCHDOG=1"] * 3
    finally:
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in receive_until(notify_socket, "STOPPING=1")
        assert agent.stop() == 0
    # The journal stamps lines itself: no timestamp of our own.
    first = (tmp_path / "agent.log").read_text().splitlines()[0]
    assert re.match(r"(INFO|WARNING|ERROR|DEBUG)\s+qiyas\.", first), first


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"qiyas-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("STATUS=measuring")
        assert sock.recv(64) == b"STATUS=measuring"


def test_no_systemd_no_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # another process's watchdog
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.watchdog_interval() is None


@pytest.mark.parametrize("script", ["deploy/install.sh", "deploy/openwrt/qiyas"])
def test_scripts_parse(script: str) -> None:
    done = subprocess.run(["sh", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_installer_refuses_what_is_not_a_checkout(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(ROOT / "deploy" / "install.sh"), str(tmp_path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert "not a Qiyas checkout" in done.stderr or "run as root" in done.stderr
