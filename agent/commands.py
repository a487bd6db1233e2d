"""The agent's side of signed commands: verify, persist the counter, act, report the outcome.

Configured by a `[commands]` table; without one the agent does not even subscribe to commands:

    [commands]
    controller_key = "HEX"                       # the controller's Ed25519 public key (32 bytes)
    allowed_servers = ["m1.example.ma:862", ...]  # what a `servers` command may point the probe
                                                  # at; default: the [probe] servers configured

The counter of an accepted command is committed to the outbox database before the command is
acted on, so a crash half-way through cannot make a replay of it acceptable. Every accepted
command ends in a `status` record (event `command`) saying what happened; refusals are logged
each time and reported in a `status` record at most once a minute (with how many there were), so
a flood of garbage cannot flood the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.config import AgentConfig, ConfigError
from agent.control import Control, ControlError, Counters
from agent.core import command
from agent.core.keyid import kid_for

log = logging.getLogger("qiyas.commands")

COUNTER_KEY = "command_counter"
REFUSAL_REPORT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class CommandsConfig:
    controller_key: bytes
    allowed_servers: tuple[str, ...]


def parse_config(config: AgentConfig) -> CommandsConfig | None:
    """The `[commands]` table, checked; None when the probe takes no commands."""
    table = config.section("commands")
    if not table:
        return None
    where = f"{config.origin}: commands."
    raw_key = table.get("controller_key")
    try:
        key = bytes.fromhex(raw_key) if isinstance(raw_key, str) else b""
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(where + "controller_key must be 64 hex digits (an Ed25519 public key)")
    allowed = table.get("allowed_servers", config.section("probe").get("servers", []))
    if not isinstance(allowed, list) or len(allowed) > command.MAX_ITEMS:
        raise ConfigError(where + f"allowed_servers must be a list of at most {command.MAX_ITEMS}")
    for server in allowed:
        try:
            command.server_allowed(server, [server])
        except command.CommandError as exc:
            raise ConfigError(where + f"allowed_servers: {exc}") from None
    return CommandsConfig(key, tuple(allowed))


def handler(config: AgentConfig, agent: Control, counters: Counters) -> CommandHandler | None:
    """The handler the uplink calls with each payload on our commands topic, if configured.

    counters: where the counter of the last accepted command is kept, durably.
    """
    settings = parse_config(config)
    return None if settings is None else CommandHandler(agent, counters, config.probe_id, settings)


class CommandHandler:
    def __init__(
        self, agent: Control, counters: Counters, probe_id: str, settings: CommandsConfig
    ) -> None:
        self.agent = agent
        self.counters = counters
        self.probe_id = probe_id
        self.settings = settings
        self.kid = kid_for(settings.controller_key)
        self._public = Ed25519PublicKey.from_public_bytes(settings.controller_key)
        self._tasks: set[asyncio.Task[None]] = set()
        self._refused = 0
        self._last_refusal_report = -REFUSAL_REPORT_INTERVAL_S
        self.accepted = 0

    def _verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self._public.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    async def __call__(self, data: bytes) -> None:
        """Never raises: a command, good or bad, cannot bring the agent down."""
        try:
            await self._handle(data)
        except Exception:
            log.exception("handling a command failed")

    async def _handle(self, data: bytes) -> None:
        try:
            cmd = command.accept(
                data,
                self.kid,
                self._verify,
                self.probe_id,
                self.counters.meta(COUNTER_KEY),
                int(time.time() * 1000),
                self.settings.allowed_servers,
            )
        except command.CommandError as exc:
            self._refuse(str(exc))
            return
        try:
            self.counters.set_meta(COUNTER_KEY, cmd.counter)
        except Exception as exc:  # a full disk: not acted on, so the controller may resend it
            log.error(
                "command %d not carried out: its counter cannot be kept: %s", cmd.counter, exc
            )
            return
        self.accepted += 1
        try:
            detail = await self._act(cmd)
            outcome = "done"
        except ControlError as exc:
            detail, outcome = str(exc), "failed"
        log.info("command %d (%s): %s: %s", cmd.counter, cmd.action, outcome, detail)
        self.agent.commit("status", command.outcome_values(cmd, outcome, detail))

    def _refuse(self, reason: str) -> None:
        log.warning("refused a command: %s", reason)
        self._refused += 1
        now = time.monotonic()
        if now - self._last_refusal_report < REFUSAL_REPORT_INTERVAL_S:
            return
        self._last_refusal_report = now
        self.agent.commit(
            "status",
            {
                "event": "command",
                "outcome": "refused",
                "detail": reason[:200],
                "refused": self._refused,
            },
        )
        self._refused = 0

    async def _act(self, cmd: command.Command) -> str:
        args: dict[str, Any] = cmd.args
        if cmd.action == command.SCHEDULE:
            return self._schedule(args["intervals"])
        if cmd.action == command.SERVERS:
            return await self._servers(args["servers"])
        if cmd.action == command.LOG_LEVEL:
            logging.getLogger("qiyas").setLevel(args["level"].upper())
            return f"log level {args['level']}"
        if cmd.action == command.REBIRTH:
            self.agent.commit(
                "status", {"event": "birth", "detail": "rebirth on command", **self.state()}
            )
            return "birth re-announced"
        return self._measure_now(args["sources"])

    def _scheduled(self, names: list[str]) -> None:
        missing = [n for n in names if n not in self.agent.status().schedule_s]
        if missing:
            raise ControlError(f"not scheduled on this probe: {', '.join(missing)}")

    def _schedule(self, intervals: dict[str, int]) -> str:
        # The supervisor reads the interval at every turn: the change applies after each
        # source's current wait.
        self.agent.set_intervals({n: float(s) for n, s in intervals.items()})
        return ", ".join(f"{n} every {s}s" for n, s in sorted(intervals.items()))

    async def _servers(self, servers: list[str]) -> str:
        affected = await self.agent.retarget(servers)
        return f"servers {', '.join(servers)} for {', '.join(affected)}"

    def _measure_now(self, names: list[str]) -> str:
        self._scheduled(names)
        for name in names:
            task = asyncio.create_task(self.agent.measure(name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return f"measuring {', '.join(names)} now"

    def state(self) -> dict[str, Any]:
        """What a rebirth announces: the schedule and log level in force."""
        level = logging.getLevelName(logging.getLogger("qiyas").getEffectiveLevel()).lower()
        return {"schedule_s": self.agent.status().schedule_s, "log_level": level}
