"""Type checks of the code that runs on the board, against MicroPython's own stubs.

The project's mypy run checks agent/ and collector/ against CPython's typeshed; code that runs
under MicroPython must also type-check against what MicroPython provides: its stdlib subset
(micropython-stdlib-stubs as the typeshed) and the ESP32 modules (`machine`, `network`, from
micropython-esp32-stubs). Those ship as top-level .pyi files, which mypy only reads from a
MYPYPATH folder, hence the folder of links built here.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
# Host-only modules: CPython code (threads, PTYs), checked against CPython's typeshed below.
HOST_ONLY = {"firmware/host.py", "firmware/platform/host.py"}
# Run by MicroPython's image build (it defines include() and module()), never on a board.
BUILD_ONLY = {"firmware/manifest.py"}


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_board_code_type_checks_against_micropython_stubs(tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for stub in SITE.glob("*.pyi"):
        (stubs / stub.name).symlink_to(stub)
    (stubs / "_mpy_shed").symlink_to(SITE / "_mpy_shed")
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\n"
        f"custom_typeshed_dir = {SITE}\n"
        f"mypy_path = {stubs}\n"
        "check_untyped_defs = True\n"
        f"cache_dir = {tmp_path / 'cache'}\n"
        "[mypy-firmware.platform.host]\n"
        "follow_imports = skip\n"
        # The stubs' own faults are theirs, not ours.
        "[mypy-machine,network,_mpy_shed.*,vfs,esp32,esp]\n"
        "ignore_errors = True\n"
    )
    files = sorted(
        str(p.relative_to(REPO))
        for p in [*(REPO / "firmware").rglob("*.py"), *(REPO / "agent" / "core").rglob("*.py")]
        if str(p.relative_to(REPO)) not in HOST_ONLY | BUILD_ONLY
    )
    done = _mypy("--config-file", str(config), *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_host_build_type_checks_strictly() -> None:
    # The portable modules it imports are checked above, against MicroPython's stubs.
    done = _mypy("--strict", "--follow-imports=silent", *sorted(HOST_ONLY))
    assert done.returncode == 0, done.stdout + done.stderr
