"""The `radio` source: polls the modem on the `[schedule] radio` interval, records the snapshot
as a `radio` record, and keeps the latest as the access-link context every other record carries.

When the modem is down nothing is invented: the link context is cleared, one `status` record
says why (once, not on every interval), and the next answer is announced as `modem-recovered`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from agent.config import ConfigError
from agent.core import dialects
from agent.core.radio import link_context, record_values
from agent.modem.driver import ModemDown, ModemDriver, ModemSettings
from agent.sources import LinkState, Measurement

if TYPE_CHECKING:
    from agent.boards import Board
    from agent.config import AgentConfig

log = logging.getLogger("qiyas.modem")

MIN_BAUD, MAX_BAUD = 1200, 4_000_000


class RadioDriver(Protocol):
    """What RadioSource polls: the AT driver (driver.py) or ModemManager's (modemmanager.py)."""

    async def poll(self) -> dict[str, Any]: ...

    def take_recoveries(self) -> list[str]: ...

    async def aclose(self) -> None: ...


def settings(config: AgentConfig, board: Board) -> ModemSettings:
    """The board's [modem] section, with `port`, `dialect` and `baud` overridable by the
    agent config's [modem] section; every fault names the file and key."""
    merged: dict[str, Any] = dict(board.section("modem"))
    local = config.section("modem")
    for key in local:
        if key not in ("port", "dialect", "baud", "command_timeout_s"):
            allowed = "port, dialect, baud, command_timeout_s"
            raise ConfigError(
                f"{config.origin}: modem.{key} unknown; the agent config may set {allowed}"
            )
        merged[key] = local[key]

    def fault(key: str, what: str) -> ConfigError:
        where = config.origin if key in local else f"board {board.name}"
        return ConfigError(f"{where}: modem.{key} {what}")

    port = merged.get("port")
    if not isinstance(port, str) or not port or len(port) > 4096:
        raise fault(
            "port", "must name the AT port (a device path, /dev/serial/by-id/…, or a pyserial URL)"
        )
    baud = merged.get("baud", 115200)
    if isinstance(baud, bool) or not isinstance(baud, int) or not MIN_BAUD <= baud <= MAX_BAUD:
        raise fault("baud", f"must be an integer in {MIN_BAUD}..{MAX_BAUD}")
    dialect = merged.get("dialect", "auto")
    if dialect != "auto" and dialect not in dialects.NAMES:
        raise fault("dialect", f"must be auto or one of {', '.join(dialects.NAMES)}")
    command = merged.get("power_cycle_command")
    if command is not None and (
        not isinstance(command, list)
        or not command
        or not all(isinstance(a, str) and a for a in command)
    ):
        raise fault("power_cycle_command", "must be a non-empty list of arguments")
    boot_wait = merged.get("boot_wait_s", 30)
    if (
        isinstance(boot_wait, bool)
        or not isinstance(boot_wait, (int, float))
        or not 0 <= boot_wait <= 600
    ):
        raise fault("boot_wait_s", "must be a number of seconds in 0..600")
    cap = merged.get("command_timeout_s")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0.1 <= cap <= 300
    ):
        raise fault("command_timeout_s", "must be a number of seconds in 0.1..300")
    return ModemSettings(
        port, baud, dialect, command, float(boot_wait), None if cap is None else float(cap)
    )


class RadioSource:
    def __init__(self, driver: RadioDriver) -> None:
        self.driver = driver
        self._down = False

    async def measure(self, link: LinkState) -> list[Measurement]:
        try:
            snapshot = await self.driver.poll()
        except ModemDown as exc:
            link.radio = None  # the link state is unknown now; an old one would mislead
            log.error("modem: not answering: %s", exc)
            if self._down:
                return []
            self._down = True
            return [Measurement("status", {"event": "modem-down", "detail": str(exc)[:200]})]
        out = [Measurement("radio", record_values(snapshot))]
        for level in self.driver.take_recoveries():
            out.append(Measurement("status", {"event": "modem-recovered", "detail": f"by {level}"}))
        if self._down and not any(m.kind == "status" for m in out):
            out.append(
                Measurement("status", {"event": "modem-recovered", "detail": "answering again"})
            )
        self._down = False
        link.radio = link_context(snapshot)
        return out

    async def aclose(self) -> None:
        await self.driver.aclose()


def make(config: AgentConfig, board: Board) -> RadioSource:
    modem = settings(config, board)
    if board.section("modem").get("source", "at") == "modemmanager":
        from agent.modem.modemmanager import ModemManagerDriver, ModemManagerSettings

        return RadioSource(ModemManagerDriver(ModemManagerSettings(modem.port)))
    return RadioSource(ModemDriver(modem))
