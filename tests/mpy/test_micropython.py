"""Every tests/core/test_*.py module (and the firmware's portable tests), run again under real
MicroPython (the wasm port in Node.js).

pytest runs the same modules under CPython; here each module is one test case whose failure
lists the MicroPython tests that failed, with their tracebacks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
# (test folder, run.mjs options): agent/core's tests, and the firmware's portable modules' tests.
SUITES = {"tests/core": (), "tests/firmware/portable": ("--lib", "firmware")}
MODULES = [
    (folder, p.name) for folder in SUITES for p in sorted((TESTS.parent / folder).glob("test_*.py"))
]


@pytest.mark.parametrize(("folder", "module"), MODULES)
def test_module_under_micropython(folder: str, module: str, micropython) -> None:
    run = micropython("--tests", folder, *SUITES[folder], module)
    counts = run.summary()
    assert counts is not None, f"MicroPython did not finish:\n{run.stdout}\n{run.stderr}"
    passed, failed = counts
    listing = "\n\n".join(run.failures())
    assert failed == 0 and run.returncode == 0, (
        f"{failed} test(s) of {module} fail under MicroPython:\n\n{listing}"
    )
    assert passed > 0, f"{module} has no test_* functions that MicroPython ran"


def test_harness_reports_failures_by_name(tmp_path: Path, micropython) -> None:
    """A failing test is named with its traceback and the run exits 1: no silent pass."""
    (tmp_path / "test_sample.py").write_text(
        "def test_good():\n    assert 1 + 1 == 2\n\n"
        "def test_bad():\n    assert [1, 2] == [2, 1], 'order matters'\n"
    )
    run = micropython("--tests", str(tmp_path))
    assert run.returncode == 1
    assert run.summary() == (1, 1)
    [block] = run.failures()
    assert block.startswith("test_sample::test_bad")
    assert "order matters" in block


def test_harness_reports_a_module_that_does_not_import(tmp_path: Path, micropython) -> None:
    (tmp_path / "test_broken.py").write_text("import typing\n\ndef test_x():\n    pass\n")
    run = micropython("--tests", str(tmp_path))
    assert run.returncode == 1
    [block] = run.failures()
    assert block.startswith("test_broken::<import>")
    assert "typing" in block
