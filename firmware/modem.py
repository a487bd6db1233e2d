"""The firmware's modem driver: the agent's sans-IO AT session and dialect plans over the board's
UART, with recovery by resync and then the board's power key.

The port is the platform's (firmware/platform): `write(bytes)` and `await read(timeout_s)`
returning b"" when nothing came; `monotonic_ms()` is the clock the session's timeouts use.
"""

from agent.core import dialects
from agent.core.at import ATSession
from agent.core.errors import QiyasError
from agent.core.radio import Poller, new_snapshot

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from collections.abc import Awaitable, Callable  # noqa: F401 - in type comments, unread by ruff
    from typing import Any  # noqa: F401 - in type comments, unread by ruff

    from firmware.types import Platform, Port  # noqa: F401 - in type comments, unread by ruff

RESYNC_TIMEOUT_S = 0.5
RESYNC_TRIES = 3
CCLK_TIMEOUT_S = 2.0


class ModemDown(QiyasError):
    """Neither resync nor the power key brought the modem back; the text says what happened."""


def _ignore(snapshot, lines):
    # type: (dict[str, Any], list[str]) -> None
    pass


def _keep_cclk(snapshot, lines):
    # type: (dict[str, Any], list[str]) -> None
    for line in lines:
        if line.startswith("+CCLK:"):
            snapshot["cclk"] = line


class Modem:
    def __init__(self, port, platform, dialect="auto", boot_wait_s=20, power_key=None):
        # type: (Port, Platform, str, float, Callable[[], Awaitable[None]] | None) -> None
        """port and platform: see firmware/platform. power_key: an async callable that
        power-cycles the modem, or None if the board has none."""
        self.port = port
        self.platform = platform
        self.dialect = dialect
        self.boot_wait_s = boot_wait_s
        self.power_key = power_key
        self.session = ATSession()
        self.identity = None  # type: dict[str, Any] | None
        self.recoveries = []  # type: list[str]  # what brought the modem back, since last taken

    def _now(self):
        # type: () -> float
        return self.platform.monotonic_ms() / 1000

    async def _run(self, steps, snapshot, reboot_ends_poll=True):
        # type: (tuple[Any, ...], dict[str, Any], bool) -> Poller
        """Walk steps (a plan of agent/core/dialects) to its end, filling snapshot."""
        poller = Poller(self.session, steps, snapshot, reboot_ends_poll=reboot_ends_poll)
        self.port.write(poller.start(self._now()))
        while not poller.done:
            deadline = self.session.deadline
            wait = 0.05 if deadline is None else max(0.0, deadline - self._now())
            data = await self.port.read(wait)
            now = self._now()
            out = poller.receive(data, now) if data else poller.tick(now)
            if out:
                self.port.write(out)
        return poller

    async def _resync(self, deadline_s):
        # type: (float) -> bool
        while True:
            self.session.reset()
            # An RDY left over from the modem's boot must not end the resync: its AT would be
            # sent again and that OK would answer the next command.
            poller = await self._run((("AT", _ignore, RESYNC_TIMEOUT_S),), {}, False)
            if not poller.failed:
                return True
            if self._now() >= deadline_s:
                return False

    async def _poll_once(self):
        # type: () -> tuple[dict[str, Any] | None, str | None]
        """(snapshot, None), or (None, what failed)."""
        if self.identity is None:
            snapshot = new_snapshot()
            poller = await self._run(dialects.IDENTIFY, snapshot)
            if poller.failed:
                return None, poller.failed
            name = self.dialect
            if name == "auto":
                name = dialects.detect(snapshot["manufacturer"], snapshot["model"])
            self.identity = {
                "dialect": name,
                "manufacturer": snapshot["manufacturer"],
                "model": snapshot["model"],
                "revision": snapshot["revision"],
            }
        snapshot = new_snapshot()
        snapshot.update(self.identity)
        poller = await self._run(dialects.plan(self.identity["dialect"]), snapshot)
        if poller.rebooted:
            self.identity = None
        return (None, poller.failed) if poller.failed else (snapshot, None)

    async def poll(self):
        # type: () -> dict[str, Any]
        """One radio snapshot; recovers the modem if it does not answer, else ModemDown."""
        snapshot, failure = await self._poll_once()
        if snapshot is not None:
            return snapshot
        tried = ["resync"]
        if await self._resync(self._now() + RESYNC_TIMEOUT_S * RESYNC_TRIES):
            snapshot, failure = await self._poll_once()
            if snapshot is not None:
                self.recoveries.append("resync")
                return snapshot
        if self.power_key is None:
            raise ModemDown("%s (tried resync; the board has no power key)" % failure)
        tried.append("power-key")
        await self.power_key()
        self.identity = None
        if await self._resync(self._now() + self.boot_wait_s):
            snapshot, failure = await self._poll_once()
            if snapshot is not None:
                self.recoveries.append("power-key")
                return snapshot
        else:
            failure = "no answer to AT within %gs of the power key" % self.boot_wait_s
        raise ModemDown("%s (tried %s)" % (failure, ", ".join(tried)))

    async def network_time(self):
        # type: () -> str | None
        """The modem's +CCLK line, or None if it does not answer it."""
        found = {}  # type: dict[str, str]
        poller = await self._run((("AT+CCLK?", _keep_cclk, CCLK_TIMEOUT_S),), found)
        return None if poller.failed else found.get("cclk")

    def take_recoveries(self):
        # type: () -> list[str]
        done, self.recoveries = self.recoveries, []
        return done
