"""The shapes the firmware's modules hand each other, for mypy only: never imported on a board.

MicroPython has no `typing` module, so the firmware's modules name these in type comments and
import them under `if False:`, which mypy reads and mpy-cross drops (docs/development.md). This
module imports none of ours but the leaves clock and settings, so such imports cannot make a
loop in the import graph (tests/structure).
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from firmware.clock import Clock
from firmware.settings import Settings


class Port(Protocol):
    """The modem's serial port."""

    def write(self, data: bytes) -> None: ...

    async def read(self, timeout_s: float) -> bytes: ...


class Watchdog(Protocol):
    def feed(self) -> None: ...


class Platform(Protocol):
    """A platform module (firmware/platform/__init__.py says what each one provides)."""

    def monotonic_ms(self) -> int: ...

    def rtc_ms(self) -> int: ...

    def open_modem(self, modem: dict[str, Any]) -> Port: ...

    def power_key(self, modem: dict[str, Any]) -> Callable[[], Awaitable[None]] | None: ...

    def watchdog(self, timeout_s: float) -> Watchdog: ...

    def mem_free(self) -> int | None: ...

    async def network_up(self) -> None: ...

    async def network_down(self) -> None: ...

    def tls_context(self) -> Any: ...  # ssl.SSLContext; MicroPython's ssl has its own

    def log(self, text: str) -> None: ...


class App(Protocol):
    """What the firmware's App (firmware/app.py) offers the modules it drives, which cannot
    import it: it imports them."""

    settings: Settings
    platform: Platform
    clock: Clock
    probe: str

    def emit(self, kind: str, values: dict[str, Any]) -> bytes | None: ...

    def measure_soon(self, names: list[str]) -> None: ...
