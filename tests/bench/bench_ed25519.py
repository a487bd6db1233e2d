"""Benchmark: signing a record in pure Python (agent.core.ed25519, what ESP32 probes run) under
CPython and under MicroPython (the wasm port in Node.js), against `cryptography` (OpenSSL) on
CPython as the reference measured in the same run; plus the firmware bundle's size.

    .venv/bin/python tests/bench/bench_ed25519.py

Not pass/fail. Prints medians and ratios.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from agent.core import cose, ed25519, record, sha512  # noqa: E402
from agent.core.keyid import kid_for  # noqa: E402
from tools.firmware import build  # noqa: E402

SEED = bytes(range(32))
# A radio record as the firmware makes it from a SIMCom modem (values of agent.core.radio).
VALUES = {
    "dialect": "simcom", "model": "SIMCOM_SIM7600E-H", "revision": "LE20B04SIM7600M22",
    "sim": {"ready": True, "status": "READY"},
    "registration": {"state": "home", "tech": "LTE"},
    "operator": {"mcc": "262", "mnc": "01", "name": "Telekom.de"},
    "serving_cell": {"tech": "LTE", "cell_id": 27447299, "pci": 123, "tac": 11100,
                     "arfcn": 1300, "band": "B3", "bandwidth_mhz": 10, "rsrp_dbm": -95.1,
                     "rsrq_db": -9.4, "sinr_db": 12.0, "rssi_dbm": -65.2},
    "nr": None, "ca": None, "temperature_c": 37,
}  # fmt: skip
CONTEXT = {"radio": {"tech": "LTE", "mcc": "262", "mnc": "01",
                     "serving_cell": {"pci": 123, "rsrp_dbm": -95.1, "sinr_db": 12.0}}}  # fmt: skip
VERSIONS = {"agent": "0.1.0", "board": "lilygo-t-sim7600", "firmware": "0.1.0+bench"}
# Calibration for a rough ESP32 estimate: a 1,000,000-step Leibniz loop (float arithmetic that
# allocates on every operation, as our big-int arithmetic does) took 26 s on a pyboard v1.1
# (STM32F405, 168 MHz; Espruino forum, 2017), and S. Russell's 2025 MicroPython table has an
# ESP32 at 160 MHz 1.18x slower than a pyboard; so an ESP32 at 240 MHz: 26 x 1.18 x 160/240.
ESP32_240_LEIBNIZ_S = 26 * 1.18 * 160 / 240

MPY_BENCH = """
import gc, json, time
from agent.core import cose, ed25519, record, sha512
from agent.core.keyid import kid_for
VALUES = json.loads(%r)
CONTEXT = json.loads(%r)
VERSIONS = json.loads(%r)
def median_ms(fn, n):
    # This port's clock ticks in whole ms: time batches of n calls, take the median of 9.
    times = []
    for _ in range(9):
        t = time.ticks_ms()
        for _ in range(n):
            fn()
        times.append(time.ticks_diff(time.ticks_ms(), t) / n)
    times.sort()
    return times[4]
def alloc(fn):
    gc.collect(); gc.disable(); a = gc.mem_alloc(); fn(); b = gc.mem_alloc(); gc.enable()
    return b - a
t = time.ticks_ms(); key = ed25519.SigningKey(bytes(range(32)))
setup_ms = time.ticks_diff(time.ticks_ms(), t)
kid = kid_for(key.public_key)
def payload():
    return record.encode("esp32-bench", 1, 1, 1764400000000, True, "radio", VALUES, VERSIONS,
                         CONTEXT)
tbs = cose.Sign1(b"", kid, payload(), b"").to_be_signed()
def leibniz(iterations):
    x = 1
    pi = 1
    for i in range(2, iterations + 2):
        x = x * -1
        pi = pi + (x / (2 * i - 1))
    return pi * 4
leibniz_ms = median_ms(lambda: leibniz(300000), 1) / 0.3
print("RESULT", json.dumps({
    "leibniz_1m_ms": leibniz_ms,
    "key_setup_ms": setup_ms,
    "record_encode_ms": median_ms(payload, 100),
    "sha512_ms": median_ms(lambda: sha512.digest(tbs), 20),
    "sign_ms": median_ms(lambda: key.sign(tbs), 10),
    "record_encode_sign_ms": median_ms(lambda: cose.sign1(payload(), kid, key.sign), 10),
    "sign_alloc_bytes": alloc(lambda: key.sign(tbs)),
    "tbs_bytes": len(tbs),
}))
"""


def median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def payload() -> bytes:
    return record.encode("esp32-bench", 1, 1, 1764400000000, True, "radio", VALUES, VERSIONS,
                         CONTEXT)  # fmt: skip


def cpython() -> dict[str, float]:
    start = time.perf_counter()
    ed25519._table.clear()  # measure the table's build too
    key = ed25519.SigningKey(SEED)
    setup_ms = (time.perf_counter() - start) * 1000
    reference = Ed25519PrivateKey.from_private_bytes(SEED)
    kid = kid_for(key.public_key)
    tbs = cose.Sign1(b"", kid, payload(), b"").to_be_signed()
    return {
        "key_setup_ms": setup_ms,
        "record_encode_ms": median_ms(payload, 500),
        "sha512_ms": median_ms(lambda: sha512.digest(tbs), 200),
        "sign_ms": median_ms(lambda: key.sign(tbs), 200),
        "record_encode_sign_ms": median_ms(lambda: cose.sign1(payload(), kid, key.sign), 200),
        "cryptography_sign_ms": median_ms(lambda: reference.sign(tbs), 2000),
        "cryptography_encode_sign_ms": median_ms(
            lambda: cose.sign1(payload(), kid, reference.sign), 500
        ),
        "tbs_bytes": len(tbs),
    }


def micropython() -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None:
        print("Node.js missing: no MicroPython figures (run scripts/setup)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.py"
        script.write_text(MPY_BENCH % (json.dumps(VALUES), json.dumps(CONTEXT),
                                       json.dumps(VERSIONS)))  # fmt: skip
        done = subprocess.run([node, str(REPO / "tests/mpy/run.mjs"), "--script", str(script)],
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, float] = json.loads(line[7:])
            return result
    print("MicroPython run failed:", done.stdout, done.stderr)
    return None


def bundle() -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = build("lilygo-t-sim7600", Path(tmp))
    files = manifest["files"]
    return {
        "files": len(files),
        "total_bytes": manifest["total_bytes"],
        "ed25519_mpy_bytes": files["lib/agent/core/ed25519.mpy"]["bytes"],
        "sha512_mpy_bytes": files["lib/agent/core/sha512.mpy"]["bytes"],
    }


def main() -> None:
    cp = cpython()
    mp = micropython()
    print(f"to-be-signed bytes of a radio record: {cp['tbs_bytes']}")
    print(f"{'median, ms':<28}{'CPython pure':>14}{'MicroPython wasm':>18}{'wasm/CPython':>14}")
    for name in ("key_setup_ms", "record_encode_ms", "sha512_ms", "sign_ms",
                 "record_encode_sign_ms"):  # fmt: skip
        wasm = mp[name] if mp else float("nan")
        print(f"{name:<28}{cp[name]:>14.3f}{wasm:>18.3f}{wasm / cp[name]:>14.1f}")
    print(f"reference: cryptography sign {cp['cryptography_sign_ms']:.4f} ms, "
          f"encode+sign {cp['cryptography_encode_sign_ms']:.4f} ms")  # fmt: skip
    print(f"pure/cryptography sign ratio (CPython): "
          f"{cp['sign_ms'] / cp['cryptography_sign_ms']:.0f}x")  # fmt: skip
    if mp:
        print(f"MicroPython wasm/cryptography sign ratio: "
              f"{mp['sign_ms'] / cp['cryptography_sign_ms']:.0f}x; heap allocated per signature "
              f"{mp['sign_alloc_bytes'] / 1024:.0f} KiB")  # fmt: skip
    if mp:
        factor = ESP32_240_LEIBNIZ_S * 1000 / mp["leibniz_1m_ms"]
        print(f"ESP32 @240 MHz, rough estimate (wasm x {factor:.0f}, from a published loop "
              f"benchmark): sign {mp['sign_ms'] * factor / 1000:.2f} s, record encode+sign "
              f"{mp['record_encode_sign_ms'] * factor / 1000:.2f} s, key setup "
              f"{mp['key_setup_ms'] * factor / 1000:.1f} s, plus garbage collection")  # fmt: skip
    print("bundle:", json.dumps(bundle()))


if __name__ == "__main__":
    main()
