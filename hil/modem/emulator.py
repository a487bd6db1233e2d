"""An emulated cellular modem on a real PTY pair, answering AT commands from a scenario.

The agent's serial driver opens the PTY's slave side (`port`) exactly as it opens a USB AT port.
Faults come from the scenario's behaviour: echo, slow answers, URC floods, line noise, a hang
that only a power cycle clears, a spontaneous reboot, and USB re-enumeration (a new PTY after a
power cycle, reachable through the stable `link` path, as /dev/serial/by-id/ is on a board).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path

from hil.modem.scenario import Scenario, answer_lines

MAX_COMMAND = 1024  # a line longer than this is noise: dropped
MAX_OUTPUT = 1 << 20  # what a reader that stopped reading may leave queued


class ModemEmulator:
    def __init__(self, scenario: Scenario, link: Path | None = None) -> None:
        self.scenario = scenario
        self.link = link
        self.port = ""
        self.commands = 0  # commands received since power-on
        self.answered = 0
        self.power_cycles = 0
        self._master = -1
        self._slave = -1
        self._input = b""
        self._output = bytearray()
        self._writing = False
        self._timers: list[asyncio.TimerHandle] = []
        self._hang_done = False  # the one-shot faults, once per emulator run
        self._reboot_done = False
        self.reboots = 0  # reboots done, for tests
        self._reset_power_state()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._open_pty()
        self._boot()

    async def aclose(self) -> None:
        self._cancel_timers()
        self._close_pty()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def power_cycle(self) -> None:
        """What the board's power-cycle hook does to a real modem: everything in flight is
        lost, the modem boots again (on a new PTY if it re-enumerates) and says so."""
        self.power_cycles += 1
        self._cancel_timers()
        self._input = b""
        self._output.clear()
        self._reset_power_state()
        if self.scenario.behaviour["reenumerate"]:
            # the new device appears before the old one is released, so it gets another
            # number (ttyUSB2 -> ttyUSB3): only the stable link still leads to the modem
            old = (self._master, self._slave)
            self._open_pty()
            self._release(*old)
        self._boot()

    # -- PTY -------------------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no line discipline between driver and modem, as on a USB ACM port
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._readable)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.port)
            tmp.replace(self.link)

    def _close_pty(self) -> None:
        if self._master >= 0:
            self._release(self._master, self._slave)
        self._master = self._slave = -1

    def _release(self, master: int, slave: int) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(master)
        if self._writing:
            loop.remove_writer(master)
            self._writing = False
        os.close(master)
        os.close(slave)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # no reader on the slave side right now
        self._receive(data)

    def _write(self, data: bytes) -> None:
        if self._master < 0 or not data:
            return
        if len(self._output) + len(data) > MAX_OUTPUT:
            return  # the reader is gone or stuck; a real UART drops too
        self._output += data
        self._flush()

    def _flush(self) -> None:
        while self._output:
            try:
                sent = os.write(self._master, self._output)
            except BlockingIOError:
                break
            except OSError:
                self._output.clear()
                break
            del self._output[:sent]
        loop = asyncio.get_running_loop()
        if self._output and not self._writing:
            loop.add_writer(self._master, self._flush)
            self._writing = True
        elif not self._output and self._writing:
            loop.remove_writer(self._master)
            self._writing = False

    # -- modem behaviour -------------------------------------------------------------------

    def reboot_again(self, after: int) -> None:
        """Arm the one-shot reboot once more: the `after`-th command from now is lost to it."""
        self.scenario.behaviour["reboot_after"] = after
        self.commands = 0
        self._reboot_done = False

    def _reset_power_state(self) -> None:
        self.second_act = False  # the scenario's [then] answers apply
        self.echo: bool = self.scenario.behaviour["echo"]
        self.state = dict(self.scenario.state)
        self.hung = False
        self.booting = True
        self.commands = 0

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _later(self, delay_s: float, callback: object, *args: object) -> None:
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(loop.call_later(delay_s, callback, *args))  # type: ignore[arg-type]

    def _boot(self) -> None:
        self.booting = True
        self._later(self.scenario.behaviour["boot_ms"] / 1000, self._booted)

    def _booted(self) -> None:
        self.booting = False
        then_after_s = self.scenario.behaviour["then_after_s"]
        if then_after_s and self.scenario.then:
            self._later(then_after_s, self._second_act)
        self._write(
            b"".join(b"\r\n%s\r\n" % line.encode() for line in self.scenario.behaviour["boot_urcs"])
        )

    def _receive(self, data: bytes) -> None:
        self._input += data
        while True:
            cut = min(
                (i for i in (self._input.find(b"\r"), self._input.find(b"\n")) if i >= 0),
                default=-1,
            )
            if cut < 0:
                if len(self._input) > MAX_COMMAND:
                    self._input = b""
                return
            raw, self._input = self._input[:cut], self._input[cut + 1 :]
            line = raw.decode("ascii", "replace").strip()
            if line and len(line) <= MAX_COMMAND:
                self._command(line)

    def _command(self, line: str) -> None:
        behaviour = self.scenario.behaviour
        if self.hung or self.booting:
            return  # a hung or booting modem hears nothing
        self.commands += 1
        if (
            behaviour["reboot_after"]
            and not self._reboot_done
            and self.commands >= behaviour["reboot_after"]
        ):
            self._reboot_done = True
            self.reboots += 1
            self._cancel_timers()
            self._reset_power_state()
            self._boot()
            return
        if (
            behaviour["hang_after"]
            and not self._hang_done
            and self.commands > behaviour["hang_after"]
        ):
            self._hang_done = True
            self.hung = True
            return
        if self.echo:
            self._write(line.encode() + b"\r")
        lines = self._answer(line)
        delay = behaviour["delay_ms"] / 1000
        if delay:
            self._later(delay, self._send_answer, lines)
        else:
            self._send_answer(lines)

    def _send_answer(self, lines: list[str]) -> None:
        behaviour = self.scenario.behaviour
        flood = self._flood(behaviour["urc_burst"])
        half = len(flood) // 2
        body = lines[:-1]
        middle = len(body) // 2
        framed = flood[:half] + body[:middle] + flood[half:] + body[middle:] + lines[-1:]
        out = bytes.fromhex(behaviour["garbage_hex"])
        out += b"".join(b"\r\n%s\r\n" % line.encode() for line in framed)
        self.answered += 1
        self._write(out)

    def _flood(self, count: int) -> list[str]:
        urcs: list[str] = self.scenario.behaviour["urc_flood"]
        if not urcs or count <= 0:
            return []
        return [urcs[i % len(urcs)] for i in range(count)]

    def _answer(self, line: str) -> list[str]:
        """Answer lines for a command line, which may chain commands: AT+A;+B?."""
        parts = line.split(";")
        info: list[str] = []
        for index, part in enumerate(parts):
            command = part.strip() if index == 0 else "AT" + part.strip()
            lines = self._one(command)
            if lines[-1] != "OK":
                return info + lines
            info += lines[:-1]
        return [*info, "OK"]

    def _second_act(self) -> None:
        """The scenario's [then] answers from now on (until a power cycle starts it again)."""
        self.second_act = True

    def _one(self, command: str) -> list[str]:
        upper = command.upper()
        if upper in ("AT", "ATZ"):
            return ["OK"]
        if upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            return ["OK"]
        answer = self.scenario.then.get(upper) if self.second_act else None
        if answer is None:
            answer = self.scenario.responses.get(upper)
        if isinstance(answer, str):
            return answer_lines(answer)
        base, _, args = upper[2:].partition("=")
        if answer is None and upper.endswith("?") and not args:
            return ["ERROR"]
        if isinstance(answer, dict):
            name = upper[2:].rstrip("?")
            chosen = answer.get(self.state.get(name, ""), answer.get("default"))
            return answer_lines(chosen) if chosen is not None else ["ERROR"]
        if args and base[:1] in "+^!#$%":
            self.state[base] = args  # a setting: remembered for the queries that depend on it
            return ["OK"]
        return ["ERROR"]
