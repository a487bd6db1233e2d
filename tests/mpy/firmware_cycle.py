# One firmware measurement cycle under MicroPython (the wasm port), run by test_firmware_cycle.py:
# a modem transcript in, a signed record out (printed as hex for CPython to verify), and the heap
# the cycle used. Reads cycle_input.json next to this file.
import gc
import json
import time

from agent.core.ed25519 import SigningKey
from firmware.app import App
from firmware.settings import Settings


class TranscriptPort:
    """The modem's side of the UART, from a recorded transcript: each command the firmware
    writes must be the next one in the transcript, and gets the bytes that answered it."""

    def __init__(self, transcript):
        self.transcript = transcript
        self.line = b""
        self.answer = b""

    def write(self, data):
        self.line += data
        while b"\r" in self.line:
            command, _, self.line = self.line.partition(b"\r")
            command = command.strip().decode()
            if not self.transcript:
                raise AssertionError(f"the firmware sent {command!r} past the transcript")
            expected, answer_hex = self.transcript.pop(0)
            if command != expected:
                raise AssertionError(f"the firmware sent {command!r}, not {expected!r}")
            self.answer += bytes.fromhex(answer_hex)

    async def read(self, timeout_s):
        if not self.answer:
            raise AssertionError("the firmware waits for an answer the transcript does not have")
        out, self.answer = self.answer, b""
        return out


class WasmWatchdog:
    """Stand-in: the wasm port has no watchdog peripheral (the one mock in this cycle)."""

    def feed(self):
        pass


class WasmPlatform:
    def __init__(self, transcript):
        self.port = TranscriptPort(transcript)

    def monotonic_ms(self):
        return time.ticks_ms()

    def rtc_ms(self):
        return int(time.time() * 1000)

    def open_modem(self, modem):
        return self.port

    def power_key(self, modem):
        return None

    def watchdog(self, timeout_s):
        return WasmWatchdog()

    def mem_free(self):
        return gc.mem_free()

    def log(self, text):
        print("LOG", text)


def run_sync(coro):
    """Drive a coroutine that never waits on the event loop (the transcript answers at once);
    this port's asyncio has no run()."""
    try:
        while True:
            coro.send(None)
            raise AssertionError("the cycle waited on the event loop")
    except StopIteration as done:
        return done.value


with open(__file__.rsplit("/", 1)[0] + "/cycle_input.json") as f:
    given = json.load(f)
platform = WasmPlatform(given["transcript"])
app = App(Settings(given["settings"]), platform, SigningKey(bytes.fromhex(given["seed"])), "wasm")

gc.collect()
gc.disable()  # so mem_alloc() grows by everything the cycle allocates
allocated_before = gc.mem_alloc()
start = time.ticks_ms()
raw = run_sync(app.measure_radio())
elapsed = time.ticks_diff(time.ticks_ms(), start)
allocated = gc.mem_alloc() - allocated_before
gc.enable()
print("RECORD", raw.hex())
print("OUTBOX", json.dumps(app.outbox.pending()))
# Allocated with the collector off: what one cycle asks of the heap (the GC reclaims it as it
# goes on a board). No live-heap figure: this port's gc.collect() keeps garbage that its wasm
# stack scan still sees.
print("HEAP", json.dumps({"allocated_bytes": allocated, "cycle_ms": elapsed}))
