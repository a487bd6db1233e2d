"""`qiyas flash`: the plan it would carry out, the settings it writes, and clear failures when
the board does not answer — against a real PTY that never answers, as a dead board does."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import boards
from agent.config import parse as parse_config
from firmware import settings as device_settings_parser
from tools.cli import main
from tools.flash import device_settings

CONFIG = """
probe_id = "esp32-field-7"
board = "lilygo-t-sim7600"
[broker]
url = "mqtts://collector.example:8883"
[schedule]
radio = 300
health = 3600
[commands]
controller_key = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A PTY whose far end reads everything and answers nothing: a board that is dead, held in
    reset, or not running MicroPython."""
    master, slave = os.openpty()
    stop = threading.Event()

    def swallow() -> None:
        while not stop.is_set():
            try:
                os.read(master, 4096)
            except OSError:
                return

    reader = threading.Thread(target=swallow, daemon=True)
    reader.start()
    yield os.ttyname(slave)
    stop.set()
    os.close(slave)
    os.close(master)
    reader.join(5)


def test_device_settings_are_what_the_device_accepts() -> None:
    board = boards.load("lilygo-t-sim7600")
    made = device_settings(parse_config(CONFIG), board)
    parsed = device_settings_parser.parse(json.dumps(made).encode())
    assert (parsed.probe_id, parsed.broker_host, parsed.broker_port, parsed.broker_tls) == (
        "esp32-field-7", "collector.example", 8883, True)  # fmt: skip
    assert parsed.schedule == {"radio": 300, "health": 3600}
    assert parsed.modem == board.section("modem")
    assert parsed.controller_key == bytes.fromhex(
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")  # fmt: skip


def test_dry_run_prints_the_plan_and_touches_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(4095))
    args = ["flash", "--board", "esp32s3-sim7600", "--port", "/dev/nonexistent-port",
            "--config", str(config), "--image", str(image), "--dry-run", "--json"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    steps = [s["step"] for s in doc["plan"]]
    assert steps[0] == "write MicroPython micropython.bin at 0x0 (erasing flash)"  # S3 offset
    assert doc["plan"][0]["argv"][3:6] == ["--chip", "esp32s3", "--port"]
    assert steps.index("park main.py (the probe stops at the next reset), make /lib") < steps.index(
        "copy the bundle's lib/"
    )
    for name in ("copy boot.py", "copy qiyas.json", "copy main.off"):
        assert name in steps
    assert "copy probe.key" not in steps  # no --key: the board makes its own
    assert steps[-3:] == [
        "verify every copied file by its SHA-256 on the board",
        "make or read the probe key; put main.py back",
        "reset into the probe",
    ]
    assert doc["version"].startswith("0.1.0+")


def test_a_board_that_never_answers_fails_clearly(
    config: Path, silent_port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code = main(["flash", "--board", "lilygo-t-sim7600", "--port", silent_port,
                 "--config", str(config), "--wait", "1.5", "--json"])  # fmt: skip
    assert code == 1
    assert time.monotonic() - started < 20
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is False
    assert f"the board does not answer on {silent_port}" in err
    assert "Traceback" not in err


def test_esptool_that_gets_no_answer_fails_clearly(
    config: Path, silent_port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(4095))
    code = main(["flash", "--board", "lilygo-t-sim7600", "--port", silent_port,
                 "--config", str(config), "--image", str(image)])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "Failed to connect to ESP32" in err and "BOOT" in err
    assert "Traceback" not in err


def test_bad_input_is_a_usage_error(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["flash", "--port", "/dev/ttyUSB0", "--dry-run"]
    assert main([*base, "--board", "rpi4-rm520n", "--config", str(config)]) == 2
    assert main([*base, "--board", "lilygo-t-sim7600", "--config", str(tmp_path / "no")]) == 2
    short_key = tmp_path / "probe.key"
    short_key.write_bytes(b"short")
    assert main([*base, "--board", "lilygo-t-sim7600", "--config", str(config),
                 "--key", str(short_key)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "runs the Linux agent" in err and "cannot read" in err and "32-byte" in err
