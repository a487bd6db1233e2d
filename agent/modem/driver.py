"""The serial driver: moves bytes between a modem's AT port and the sans-IO poller, and brings a
modem that stops answering back, escalating: resync with `AT`, reopen the port (it may have
re-enumerated), then the board's power-cycle hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import serial
import serial_asyncio_fast

from agent.core import dialects
from agent.core.at import ATSession, Timeout
from agent.core.errors import QiyasError
from agent.core.radio import Poller, new_snapshot

log = logging.getLogger("qiyas.modem")

READ_SIZE = 4096
RESYNC_TIMEOUT_S = 0.5  # one `AT`: a modem that answers at all answers this fast
RESYNC_TRIES = 3
REOPEN_RETRY_S = 0.1  # how often to look for a port that is re-enumerating
LEVELS = ("resync", "reopen", "power-cycle")


class PortError(QiyasError):
    """The port could not be opened, or went away under us."""


class PollFailed(QiyasError):
    """The modem did not answer a poll (a timeout, a reboot in the middle)."""


class ModemDown(QiyasError):
    """Every recovery step failed; the text says what was tried and what happened."""


class ModemSettings:
    """Where the modem is and how to reach it; from the board profile's [modem] section,
    overridden by the agent config's [modem] section (port, dialect, baud)."""

    def __init__(
        self,
        port: str,
        baud: int = 115200,
        dialect: str = "auto",
        power_cycle_command: list[str] | None = None,
        boot_wait_s: float = 30.0,
        command_timeout_s: float | None = None,
    ) -> None:
        if not port:
            raise ValueError("modem port is empty")
        if dialect != "auto" and dialect not in dialects.NAMES:
            raise ValueError(
                f"dialect {dialect!r} unknown; use auto or one of {', '.join(dialects.NAMES)}"
            )
        self.port = port
        self.baud = baud
        self.dialect = dialect
        self.power_cycle_command = power_cycle_command
        self.boot_wait_s = boot_wait_s
        self.command_timeout_s = command_timeout_s

    @property
    def is_url(self) -> bool:
        return "://" in self.port


class ModemDriver:
    def __init__(
        self, settings: ModemSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.session = ATSession()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.identity: dict[str, Any] | None = None
        self.bytes_out = 0
        self.bytes_in = 0
        self.last_poll: Poller | None = None
        self._recovered: list[str] = []

    # -- public ----------------------------------------------------------------------------

    async def poll(self) -> dict[str, Any]:
        """One full snapshot, recovering the modem if it does not answer; ModemDown if nothing
        brings it back."""
        tried: list[str] = []
        try:
            return await self._poll_once()
        except (PortError, PollFailed) as exc:
            failure = str(exc)
        for level in LEVELS:
            if level == "power-cycle" and not self.settings.power_cycle_command:
                tried.append("power-cycle (no hook in the board profile)")
                break
            log.warning("modem: %s; recovering by %s", failure, level)
            tried.append(level)
            try:
                await self._recover(level)
                snapshot = await self._poll_once()
            except (PortError, PollFailed) as exc:
                failure = str(exc)
                continue
            log.warning("modem: answering again after %s", level)
            self._recovered.append(level)
            return snapshot
        raise ModemDown(f"{failure} (tried {', '.join(tried)})")

    def take_recoveries(self) -> list[str]:
        """The recovery levels that brought the modem back since the last call."""
        done, self._recovered = self._recovered, []
        return done

    async def aclose(self) -> None:
        await self._close()

    # -- polling ---------------------------------------------------------------------------

    async def _poll_once(self) -> dict[str, Any]:
        if self._writer is None:
            await self._open(wait_s=0.0)
            await self._resync(self._clock() + RESYNC_TIMEOUT_S * RESYNC_TRIES)
        await self._settle()
        if self.identity is None:
            await self._identify()
        assert self.identity is not None
        snapshot = new_snapshot()
        snapshot.update(self.identity)
        poller = await self._run(dialects.plan(self.identity["dialect"]), snapshot)
        if poller.rebooted:
            self.identity = None  # a rebooted modem may come back with other firmware
        if poller.failed:
            raise PollFailed(poller.failed)
        for note in poller.notes:
            log.debug("modem: %s", note)
        return snapshot

    async def _identify(self) -> None:
        for attempt in (1, 2):
            snapshot = new_snapshot()
            poller = await self._run(dialects.IDENTIFY, snapshot)
            if poller.failed:
                raise PollFailed(poller.failed)
            if snapshot["manufacturer"] and snapshot["model"]:
                break
            if attempt == 1:
                # an empty answer is most likely the late OK of a command that timed out before
                # the resync: by now the line is quiet, so ask once more
                log.info("modem: identification came back incomplete; asking again")
        configured = self.settings.dialect
        name = (
            configured
            if configured != "auto"
            else dialects.detect(snapshot["manufacturer"], snapshot["model"])
        )
        self.identity = {
            "dialect": name,
            "manufacturer": snapshot["manufacturer"],
            "model": snapshot["model"],
            "revision": snapshot["revision"],
        }
        log.info(
            "modem: %s %s (%s), dialect %s",
            snapshot["manufacturer"],
            snapshot["model"],
            snapshot["revision"],
            name,
        )

    async def _run(
        self, steps: tuple[Any, ...], snapshot: dict[str, Any], resync: bool = False
    ) -> Poller:
        """Walk a plan: write what the poller says, feed it what the modem says, until done."""
        poller = Poller(self.session, steps, snapshot, self.settings.command_timeout_s, not resync)
        self.last_poll = poller
        # If this is cancelled (the supervisor's timeout) with a command in flight, its answer
        # is still coming: the session keeps the command, and the next poll waits it out
        # (`_settle`) rather than take that answer for its own first command.
        self._write(poller.start(self._clock()))
        while not poller.done:
            deadline = self.session.deadline
            wait = 0.0 if deadline is None else max(0.0, deadline - self._clock())
            data = await self._read(wait)
            now = self._clock()
            self._write(poller.receive(data, now) if data else poller.tick(now))
        return poller

    async def _settle(self) -> None:
        """Wait out the command a cancelled poll left in flight: its answer, or its timeout."""
        while self.session.busy:
            deadline = self.session.deadline
            assert deadline is not None
            data = await self._read(max(0.0, deadline - self._clock()))
            now = self._clock()
            for event in self.session.receive(data, now) if data else self.session.tick(now):
                if isinstance(event, Timeout):
                    raise PollFailed(f"no answer to {event.command}")

    async def _resync(self, deadline: float) -> None:
        """Send `AT` until the modem answers OK or the deadline passes (it may be booting)."""
        while True:
            poller = await self._run((("AT", _ignore, RESYNC_TIMEOUT_S),), {}, resync=True)
            if not poller.failed and not poller.notes:
                return
            if self._clock() >= deadline:
                raise PollFailed(f"no answer to AT on {self.settings.port}")

    # -- recovery --------------------------------------------------------------------------

    async def _recover(self, level: str) -> None:
        if level == "resync":
            if self._writer is None:
                await self._open(wait_s=0.0)
            self.session.reset()
            await self._resync(self._clock() + RESYNC_TIMEOUT_S * RESYNC_TRIES)
        elif level == "reopen":
            await self._close()
            await self._open(wait_s=self.settings.boot_wait_s)
            await self._resync(self._clock() + RESYNC_TIMEOUT_S * RESYNC_TRIES)
        else:
            await self._close()
            await self._power_cycle()
            await self._reopen_after_power_cycle(self._clock() + self.settings.boot_wait_s)
        self.identity = None  # after any recovery, ask who it is again

    async def _reopen_after_power_cycle(self, deadline: float) -> None:
        """Open the port and resync, again and again until the boot deadline: a hook may return
        before the modem has gone, so the node first opened can be the old one, which vanishes
        under us when the modem re-enumerates."""
        while True:
            try:
                await self._open(wait_s=max(0.0, deadline - self._clock()))
                await self._resync(max(deadline, self._clock() + RESYNC_TIMEOUT_S))
                return
            except PortError:
                if self._clock() >= deadline:
                    raise
                await self._close()
                await asyncio.sleep(REOPEN_RETRY_S)

    async def _power_cycle(self) -> None:
        command = self.settings.power_cycle_command
        assert command
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            raise PortError(
                f"power-cycle command {command[0]!r} could not start: {exc.strerror}"
            ) from None
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PortError(f"power-cycle command {command[0]!r} did not finish in 30 s") from None
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip()[:200]
            raise PortError(
                f"power-cycle command {command[0]!r} failed ({proc.returncode}): {text}"
            )

    # -- port ------------------------------------------------------------------------------

    async def _open(self, wait_s: float) -> None:
        """Open the port; a re-enumerating USB modem's device node may take `wait_s` to appear,
        so look for it again every REOPEN_RETRY_S until then."""
        deadline = self._clock() + wait_s
        while True:
            try:
                self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.settings.port, baudrate=self.settings.baud
                )
            except (OSError, serial.SerialException, ValueError) as exc:
                if self._clock() >= deadline:
                    raise PortError(f"cannot open {self.settings.port}: {_reason(exc)}") from None
                await asyncio.sleep(REOPEN_RETRY_S)
                continue
            self.session.reset()
            return

    async def _close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        # a port that is already gone has nothing more to release
        with contextlib.suppress(OSError, serial.SerialException, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), timeout=2)

    async def _read(self, timeout: float) -> bytes:
        reader = self._reader
        if reader is None:
            raise PortError(f"{self.settings.port} is not open")
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
        except TimeoutError:
            return b""
        except (OSError, serial.SerialException) as exc:
            await self._close()
            raise PortError(f"{self.settings.port} went away: {_reason(exc)}") from None
        if not data:
            await self._close()
            raise PortError(
                f"{self.settings.port} closed (the modem re-enumerated or was unplugged)"
            )
        self.bytes_in += len(data)
        return data

    def _write(self, data: bytes) -> None:
        if not data:
            return
        if self._writer is None or self._writer.is_closing():
            raise PortError(f"{self.settings.port} is not open")
        self._writer.write(data)
        self.bytes_out += len(data)


def _ignore(snapshot: dict[str, Any], lines: list[str]) -> None:
    """Resync needs the OK, not what came with it."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def port_exists(port: str) -> bool:
    return "://" in port or os.path.exists(port)
