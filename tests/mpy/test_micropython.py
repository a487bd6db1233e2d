"""Every tests/core/test_*.py module, run again under real MicroPython (the wasm port in Node.js).

pytest runs the same modules under CPython; here each module is one test case whose failure
lists the MicroPython tests that failed, with their tracebacks.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MPY_DIR = Path(__file__).resolve().parent
REPO = MPY_DIR.parent.parent
CORE_TESTS = sorted(p.name for p in (REPO / "tests" / "core").glob("test_*.py"))
TIMEOUT_S = 90


def run_micropython(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run tests/mpy/run.mjs; fails the test clearly when Node.js or the port is absent."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: run scripts/setup")
    return subprocess.run(
        [node, str(MPY_DIR / "run.mjs"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def failures(stdout: str) -> list[str]:
    """The FAIL blocks of driver.py's output, each with its indented traceback."""
    blocks: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("FAIL "):
            blocks.append(line[5:])
        elif line.startswith("  ") and blocks:
            blocks[-1] += "\n" + line
    return blocks


def summary(stdout: str) -> tuple[int, int] | None:
    for line in stdout.splitlines():
        if line.startswith("SUMMARY "):
            passed, failed = line.split()[1:3]
            return int(passed), int(failed)
    return None


@pytest.mark.parametrize("module", CORE_TESTS)
def test_core_module_under_micropython(module: str) -> None:
    proc = run_micropython(f"tests/core/{module}")
    counts = summary(proc.stdout)
    assert counts is not None, f"MicroPython did not finish:\n{proc.stdout}\n{proc.stderr}"
    passed, failed = counts
    listing = "\n\n".join(failures(proc.stdout))
    assert failed == 0 and proc.returncode == 0, (
        f"{failed} test(s) of {module} fail under MicroPython:\n\n{listing}"
    )
    assert passed > 0, f"{module} has no test_* functions that MicroPython ran"


def test_harness_reports_failures_by_name(tmp_path: Path) -> None:
    """A failing test is named with its traceback and the run exits 1: the harness cannot pass
    silently."""
    (tmp_path / "test_sample.py").write_text(
        "def test_good():\n    assert 1 + 1 == 2\n\n"
        "def test_bad():\n    assert [1, 2] == [2, 1], 'order matters'\n"
    )
    proc = run_micropython("--tests", str(tmp_path))
    assert proc.returncode == 1
    assert summary(proc.stdout) == (1, 1)
    [block] = failures(proc.stdout)
    assert block.startswith("test_sample::test_bad")
    assert "order matters" in block


def test_harness_reports_a_module_that_does_not_import(tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text("import typing\n\ndef test_x():\n    pass\n")
    proc = run_micropython("--tests", str(tmp_path))
    assert proc.returncode == 1
    [block] = failures(proc.stdout)
    assert block.startswith("test_broken::<import>")
    assert "typing" in block
