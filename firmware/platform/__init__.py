"""The platform seam: everything the firmware needs from the machine it runs on.

`agent/core` never touches hardware, sockets or files; the firmware's own modules touch files
and asyncio streams, which MicroPython and CPython share; everything else comes from here:
a platform module provides

    monotonic_ms() -> int             never goes back, never wraps
    rtc_ms() -> int                   the board's clock as UTC ms (unsynchronised)
    open_modem(modem: dict) -> port   port.write(bytes); await port.read(timeout_s) -> bytes
    power_key(modem: dict)            async callable power-cycling the modem, or None
    watchdog(timeout_s) -> .feed()    resets the machine when not fed in time
    mem_free() -> int | None          free heap bytes
    await network_up() / network_down()
    tls_context()                     for the broker connection
    log(text)

`esp32` is the ESP32 boards' (machine.UART, Pin, WDT, network.PPP); `host` runs the firmware
under CPython with the modem on a PTY (the hil emulators), for tests and development.
"""

import sys

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from firmware.types import Platform  # noqa: F401 - in type comments, unread by ruff


def load():
    # type: () -> Platform
    """The platform module for the interpreter we run on."""
    if sys.platform == "esp32":
        from firmware.platform import esp32

        return esp32
    from firmware.platform import host

    return host
