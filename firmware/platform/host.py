"""The host platform: the firmware under CPython, its UART mapped onto a PTY.

The modem is the `hil` emulator's PTY (`modem.port`); its power key is SIGUSR1 to the emulator
process (`modem.power_signal_pid`), which power-cycles it exactly as the board's PWRKEY would.
The watchdog is a real one in software: a thread that ends the process with status 3 when not
fed in time, as the ESP32's hardware watchdog resets the chip.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import ssl
import sys
import termios
import threading
import time
import tty
from collections.abc import Awaitable, Callable
from typing import Any

WATCHDOG_EXIT = 3


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


def rtc_ms() -> int:
    return int(time.time() * 1000)


class PtyPort:
    """A serial port on a PTY path, read through the running loop's reader callbacks."""

    def __init__(self, path: str, baud: int) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        speed = getattr(termios, f"B{baud}", termios.B115200)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:  # the PTY's buffer is full: wait until the emulator drains it
                select.select([], [self.fd], [], 1.0)

    async def read(self, timeout_s: float) -> bytes:
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            pass
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, readable)
        try:
            await asyncio.wait_for(ready, timeout_s)
        except TimeoutError:
            return b""
        finally:
            loop.remove_reader(self.fd)
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, OSError):
            return b""  # the emulator went away mid-read (a power cycle re-opens its PTY)


def open_modem(modem: dict[str, Any]) -> PtyPort:
    return PtyPort(modem["port"], modem.get("baud", 115200))


def power_key(modem: dict[str, Any]) -> Callable[[], Awaitable[None]] | None:
    pid = modem.get("power_signal_pid")
    if not isinstance(pid, int):
        return None

    async def press() -> None:
        os.kill(pid, signal.SIGUSR1)

    return press


class Watchdog:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._fed = threading.Event()
        threading.Thread(target=self._guard, daemon=True, name="watchdog").start()

    def feed(self) -> None:
        self._fed.set()

    def _guard(self) -> None:
        while self._fed.wait(self.timeout_s):
            self._fed.clear()
        log(f"watchdog: not fed for {self.timeout_s}s, resetting")
        os._exit(WATCHDOG_EXIT)


def watchdog(timeout_s: float) -> Watchdog:
    return Watchdog(timeout_s)


def mem_free() -> int | None:
    return None  # no MicroPython heap here


async def network_up() -> None:
    return None  # the host is always on its network


async def network_down() -> None:
    return None


def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
