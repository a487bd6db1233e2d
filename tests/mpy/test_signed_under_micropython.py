"""A record signed under real MicroPython (wasm) is accepted by the CPython collector's verifier."""

from __future__ import annotations

import os
import time
from pathlib import Path

from agent.core import ed25519
from agent.core.keyid import kid_for
from collector.store import KeyRow
from collector.verify import Verified, check_message

SIGN_SCRIPT = """
from agent.core import cose, ed25519, keyid, record
key = ed25519.SigningKey(bytes.fromhex("{seed}"))
payload = record.encode(
    "esp32-bench-1", 7, 1234, {time_ms}, True, "health",
    {{"uptime_s": 61, "outbox_depth": 0, "mem_free_kb": 83.5}},
    {{"agent": "0.1.0", "board": "lilygo-t-sim7600", "firmware": "mpy-test"}},
)
print("PUBLIC", key.public_key.hex())
print("RECORD", cose.sign1(payload, keyid.kid_for(key.public_key), key.sign).hex())
"""


def test_record_signed_under_micropython_verifies_on_cpython(tmp_path: Path, micropython) -> None:
    seed = os.urandom(32)
    now_ms = int(time.time() * 1000)
    script = tmp_path / "sign.py"
    script.write_text(SIGN_SCRIPT.format(seed=seed.hex(), time_ms=now_ms))
    run = micropython("--script", str(script))
    assert run.returncode == 0, run.stderr
    [public_hex] = run.tagged("PUBLIC")
    [record_hex] = run.tagged("RECORD")
    public = bytes.fromhex(public_hex)
    assert public == ed25519.SigningKey(seed).public_key
    key = KeyRow(probe="esp32-bench-1", kid=kid_for(public), public_key=public)
    result = check_message(
        bytes.fromhex(record_hex), lambda kid: key if kid == key.kid else None, now_ms
    )
    assert isinstance(result, Verified), result
    assert result.record["seq"] == 1234
    assert result.record["values"]["mem_free_kb"] == 83.5
