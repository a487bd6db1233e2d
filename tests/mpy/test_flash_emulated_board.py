"""`qiyas flash` end to end against real MicroPython: the WebAssembly port's REPL on a PTY
(tests/mpy/board.mjs), driven by the real mpremote. Only esptool's step needs a chip; every
other step runs as it would on a board: park, reset, copy, on-board SHA-256 verification, key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import boards
from agent.config import parse as parse_config
from agent.core.ed25519 import SigningKey
from tools.cli import main
from tools.flash import device_settings

MPY_DIR = Path(__file__).resolve().parent
CONFIG = """
probe_id = "esp32-bench-3"
board = "lilygo-t-a7670"
[broker]
url = "mqtt://collector.example:1883"
[schedule]
radio = 300
health = 3600
"""


@pytest.fixture
def board_port() -> Iterator[str]:
    """The serial port of an emulated board running MicroPython."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: run scripts/setup")
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    proc = subprocess.Popen([node, str(MPY_DIR / "board.mjs")], stdin=master, stdout=master)
    try:
        yield os.ttyname(slave)
    finally:
        proc.kill()
        proc.wait(10)
        os.close(master)
        os.close(slave)


def on_board(port: str, code: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", code],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_flash_copies_verifies_and_reports_the_key(
    board_port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "probe.toml"
    config.write_text(CONFIG)
    key = tmp_path / "probe.key"
    key.write_bytes(os.urandom(32))
    args = ["flash", "--board", "lilygo-t-a7670", "--port", board_port, "--config", str(config),
            "--key", str(key), "--json"]  # fmt: skip

    assert main(args) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    assert first["ok"] and first["public_key"] == SigningKey(key.read_bytes()).public_key.hex()

    # What is on the board: the settings made from the config, the bundle's version, main.py
    # back in place, and the app importable from /lib.
    listing = on_board(board_port, "import os\nprint(sorted(os.listdir('/')))")
    assert "'main.py'" in listing and "'main.off'" not in listing
    settings = json.loads(on_board(board_port, "print(open('/qiyas.json').read())"))
    expected = device_settings(parse_config(CONFIG), boards.load("lilygo-t-a7670"))
    assert settings == json.loads(json.dumps(expected))
    version = on_board(board_port, "import firmware.app\n"
                       "print(open('/lib/firmware/firmware.version').read())")  # fmt: skip
    assert version.strip() == first["version"]

    # Flashing a board that already runs the probe: main.py is parked, then put back.
    assert main(args) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["ok"]
