"""On a technician's bench: the firmware on a real ESP32 board, given with
`pytest --board NAME --board-port PORT tests/firmware/test_board_hil.py`.

`qiyas flash` puts the bundle on the board with the board's records echoed on its console;
the test reads signed records from the console and checks them with the collector's verifier
against the public key the board reported. Skipped when no board is given.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import serial

from agent.core.keyid import kid_for
from collector.store import KeyRow
from collector.verify import Verified, check_message
from tools.cli import main

PROBE = "bench-esp32"
RECORD_WAIT_S = 300  # modem boot, registration and a first poll on a real network


def test_real_board_signs_records_the_collector_accepts(
    real_board, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if real_board is None:
        pytest.skip("no board given: pass --board NAME --board-port PORT")
    config = tmp_path / "agent.toml"
    config.write_text(f'probe_id = "{PROBE}"\nboard = "{real_board.name}"\n'
                      '[broker]\nurl = "mqtt://127.0.0.1:1883"\n'
                      "[schedule]\nradio = 60\nhealth = 60\n")  # fmt: skip
    code = main(["flash", "--board", real_board.name, "--port", real_board.port,
                 "--config", str(config), "--console-records", "--json"])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    public = bytes.fromhex(result["public_key"])
    key = KeyRow(probe=PROBE, kid=kid_for(public), public_key=public)

    kinds: set[str] = set()
    deadline = time.monotonic() + RECORD_WAIT_S
    with serial.Serial(real_board.port, 115200, timeout=1) as console:
        while {"radio", "health"} - kinds and time.monotonic() < deadline:
            line = console.readline().decode("ascii", "replace").strip()
            if not line.startswith("QIYAS-RECORD "):
                continue
            raw = bytes.fromhex(line.split()[1])
            verdict = check_message(raw, lambda k: key if k == key.kid else None,
                                    int(time.time() * 1000))  # fmt: skip
            assert isinstance(verdict, Verified), verdict
            kinds.add(verdict.record["kind"])
    assert {"radio", "health"} <= kinds, f"records seen on the console: {sorted(kinds)}"
