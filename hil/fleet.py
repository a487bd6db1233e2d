"""Agents as real processes, for the demo, end-to-end tests and chaos runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Self


def write_agent_config(
    directory: Path,
    probe: str,
    broker_url: str,
    schedule: dict[str, float],
    extra: str = "",
    board: str = "generic-linux",
) -> Path:
    """Write `directory/agent.toml` for one probe whose state lives in `directory/state`."""
    lines = [
        f'probe_id = "{probe}"',
        f'board = "{board}"',
        f'state_dir = "{directory / "state"}"',
        "[broker]",
        f'url = "{broker_url}"',
        "[uplink]",
        "ack_timeout_s = 2",
        "[schedule]",
        *(f"{name} = {seconds}" for name, seconds in schedule.items()),
        extra,
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def qiyas(*args: str) -> list[str]:
    """The argv that runs `qiyas ARGS` with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "tools.cli", *args]


class QiyasProcess:
    """`qiyas ARGV` in its own process group; its log goes to `log`.

    env: the environment to run it in (default: ours).
    """

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log = log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                qiyas(*self.argv),
                stdout=out,
                stderr=out,
                start_new_session=True,
                env=self.env,
            )
        return self

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM: an agent drains briefly, says goodbye and exits; a collector stores what it
        received and exits."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        self.proc = None
        return code

    def kill(self) -> None:
        """kill -9, as a power cut would."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None


class AgentProcess(QiyasProcess):
    """`qiyas agent run -c CONFIG`."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(["agent", "run", "-c", str(config)], log, env)
        self.config = config
