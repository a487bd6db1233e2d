"""The MicroPython runner (tests/mpy/run.mjs, the wasm port in Node.js) as a fixture."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

MPY_DIR = Path(__file__).resolve().parent
REPO = MPY_DIR.parent.parent
TIMEOUT_S = 90


class MicroPythonRun:
    """A finished run.mjs, with driver.py's PASS/FAIL/SUMMARY lines read back."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def failures(self) -> list[str]:
        """Each FAIL block: the test's name, then its indented traceback."""
        blocks: list[str] = []
        for line in self.stdout.splitlines():
            if line.startswith("FAIL "):
                blocks.append(line[5:])
            elif line.startswith("  ") and blocks:
                blocks[-1] += "\n" + line
        return blocks

    def summary(self) -> tuple[int, int] | None:
        """(passed, failed), or None when the run did not get to its summary."""
        for line in self.stdout.splitlines():
            if line.startswith("SUMMARY "):
                passed, failed = line.split()[1:3]
                return int(passed), int(failed)
        return None

    def tagged(self, tag: str) -> list[str]:
        """What a script printed after `TAG ` on its own lines (how scripts hand back results)."""
        prefix = tag + " "
        return [line[len(prefix) :] for line in self.stdout.splitlines() if line.startswith(prefix)]


RunMicroPython = Callable[..., MicroPythonRun]


def run_micropython(*args: str, timeout: float = TIMEOUT_S) -> MicroPythonRun:
    """Run run.mjs with args; fails the test clearly when Node.js is absent."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: run scripts/setup")
    try:
        proc = subprocess.run(
            [node, str(MPY_DIR / "run.mjs"), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        pytest.fail(f"MicroPython did not finish within {timeout:g} s; it printed:\n{partial}")
    return MicroPythonRun(proc)


@pytest.fixture
def micropython() -> RunMicroPython:
    return run_micropython
