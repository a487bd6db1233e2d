"""A firmware cycle under real MicroPython (wasm): a transcript recorded from the `hil` SIMCom
emulator goes in, a signed radio record comes out, and the CPython collector's verifier accepts
it with the same values the host build reads from the same modem.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from agent.core.ed25519 import SigningKey
from agent.core.keyid import kid_for
from agent.core.radio import record_values
from collector.store import KeyRow
from collector.verify import Verified, check_message
from firmware.modem import Modem
from firmware.platform import host
from hil.modem.emulator import ModemEmulator
from hil.modem.scenario import load as load_scenario
from tools.firmware import build

SCRIPT = Path(__file__).resolve().parent / "firmware_cycle.py"
PROBE = "esp32-wasm-1"


class RecordingPort:
    """The host build's PTY port, keeping each command with the raw bytes that answered it."""

    def __init__(self, port: host.PtyPort) -> None:
        self.port = port
        self.transcript: list[list[str]] = []

    def write(self, data: bytes) -> None:
        for command in data.decode().split("\r"):
            if command.strip():
                self.transcript.append([command.strip(), ""])
        self.port.write(data)

    async def read(self, timeout_s: float) -> bytes:
        data = await self.port.read(timeout_s)
        if data and self.transcript:
            self.transcript[-1][1] += data.hex()
        return data


async def record_transcript() -> tuple[list[list[str]], dict[str, object]]:
    emulator = ModemEmulator(load_scenario("simcom", "healthy"))
    await emulator.start()
    try:
        pty = host.PtyPort(emulator.port, 115200)
        boot = b""
        while b"RDY" not in boot:  # a modem that has booted, as the firmware finds it at power-on
            chunk = await pty.read(5.0)
            assert chunk, "the emulator did not boot"
            boot += chunk
        port = RecordingPort(pty)
        modem = Modem(port, host, "auto", 5)
        snapshot = await modem.poll()
        await modem.network_time()
        os.close(port.port.fd)
    finally:
        await emulator.aclose()
    return port.transcript, snapshot


@pytest.mark.parametrize("code", ["sources", "bundle"])
def test_firmware_cycle_under_micropython_signs_a_record_cpython_verifies(
    code: str, tmp_path: Path, micropython
) -> None:
    """code: the repository's sources, or the bundle `qiyas firmware build` makes (mpy-cross
    bytecode, what a board runs)."""
    if code == "bundle":
        build("lilygo-t-sim7600", tmp_path / "build")
        where = ("--bundle", str(tmp_path / "build" / "lilygo-t-sim7600"))
    else:
        where = ("--lib", "firmware")
    transcript, snapshot = asyncio.run(record_transcript())
    seed = os.urandom(32)
    settings = {
        "probe_id": PROBE,
        "board": "lilygo-t-sim7600",
        "state_dir": "/flash",
        "broker": {"host": "127.0.0.1"},
        "modem": {"uart": 1, "tx_pin": 27, "rx_pin": 26, "dialect": "auto"},
    }
    shutil.copy(SCRIPT, tmp_path / SCRIPT.name)
    (tmp_path / "cycle_input.json").write_text(
        json.dumps({"seed": seed.hex(), "settings": settings, "transcript": transcript})
    )
    run = micropython("--script", str(tmp_path / SCRIPT.name), *where)
    assert run.returncode == 0, run.stdout + run.stderr

    [record_hex] = run.tagged("RECORD")
    public = SigningKey(seed).public_key
    key = KeyRow(probe=PROBE, kid=kid_for(public), public_key=public)
    now_ms = int(time.time() * 1000)
    result = check_message(bytes.fromhex(record_hex), lambda k: key if k == key.kid else None,
                           now_ms)  # fmt: skip
    assert isinstance(result, Verified), result
    rec = result.record
    assert (rec["kind"], rec["seq"]) == ("radio", 1)
    assert 1 <= rec["epoch"] < 2**31  # a new outbox's first epoch is random
    assert rec["values"] == json.loads(json.dumps(record_values(snapshot)))
    assert rec["context"]["radio"]["serving_cell"]["rsrp_dbm"] == -95.1
    assert rec["synced"] is False  # the emulator has no network time (AT+CCLK? → ERROR)
    assert json.loads(run.tagged("OUTBOX")[0]) == [[rec["epoch"], 1]]  # committed, awaiting its ack
    heap = json.loads(run.tagged("HEAP")[0])
    print(f"\nMicroPython firmware cycle ({code}): {heap}")
    assert heap["allocated_bytes"] > 0
