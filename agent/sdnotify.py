"""systemd's notify protocol (sd_notify(3)) over a plain datagram socket: READY, WATCHDOG, STOPPING.

Outside systemd (no NOTIFY_SOCKET) every call is a no-op, so the agent runs the same by hand,
under procd or in tests. The watchdog is fed from the event loop itself: if the loop stalls, the
pings stop and systemd restarts the agent (WatchdogSec in deploy/qiyas-agent.service).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket


def _address() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path or path[0] not in "/@":
        return None
    # A leading '@' names a socket in the abstract namespace (a leading NUL byte).
    return "\0" + path[1:] if path[0] == "@" else path


def notify(state: str) -> bool:
    """Send one state line ("READY=1", "WATCHDOG=1", "STATUS=…"); True if systemd got it."""
    address = _address()
    if address is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between pings systemd expects (half of WatchdogSec), or None if it expects none."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def keep_alive(stop: asyncio.Event) -> None:
    """Ping the watchdog until stop is set; returns at once if there is no watchdog."""
    interval = watchdog_interval()
    if interval is None:
        return
    while not stop.is_set():
        notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
