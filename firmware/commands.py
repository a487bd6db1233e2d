"""Signed commands on the board: the Linux agent's protocol (agent.core.command.accept checks
envelope, controller kid, signature, addressee, counter, expiry and arguments), verified with
the pure Ed25519; the counter is kept on flash before the command is acted on, so a reset
half-way cannot make a replay acceptable. Every accepted command ends in a `status` record
(event `command`); refusals are reported at most once a minute, with how many there were.

What a board can do: `schedule` and `measure-now` for its sources (radio, health), `rebirth`,
`log-level` (accepted; the firmware has one level). `servers` is refused: no source here
measures towards servers.
"""

import json

from agent.core import command, ed25519
from agent.core.errors import QiyasError
from agent.core.keyid import kid_for
from firmware.outbox import write_atomic

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from typing import Any  # noqa: F401 - in type comments, unread by ruff

    from firmware.types import App  # noqa: F401 - in type comments, unread by ruff

COUNTER_FILE = "command.json"
REFUSAL_REPORT_MS = 60000
SOURCES = ("radio", "health")


class ActionError(QiyasError):
    """A verified command this board cannot carry out."""


class Commands:
    def __init__(self, app, controller_key):
        # type: (App, bytes) -> None
        """app: the firmware App; controller_key: the controller's 32-byte public key."""
        self.app = app
        self.public = controller_key
        self.kid = kid_for(controller_key)
        self.path = app.settings.state_dir + "/" + COUNTER_FILE
        self.last_counter = self._load()
        self._refused = 0
        self._last_report = None  # type: int | None

    def _load(self):
        # type: () -> int
        try:
            with open(self.path, "rb") as f:
                counter = json.loads(f.read(64))["counter"]
        except (OSError, ValueError, KeyError, TypeError):
            return 0  # none accepted yet (a lost file: the controller's expiry still bounds it)
        return counter if isinstance(counter, int) else 0

    def _verify(self, signature, data):
        # type: (bytes, bytes) -> bool
        return ed25519.verify(self.public, signature, data)

    def handle(self, data):
        # type: (bytes) -> None
        app = self.app
        try:
            cmd = command.accept(data, self.kid, self._verify, app.probe, self.last_counter,
                                 app.clock.now_ms(), ())  # fmt: skip
        except command.CommandError as exc:
            self._refuse(str(exc))
            return
        try:
            write_atomic(self.path, json.dumps({"counter": cmd.counter}).encode())
        except OSError as exc:  # not acted on: the controller may send it again
            app.platform.log("command %d not carried out: %s" % (cmd.counter, exc))
            return
        self.last_counter = cmd.counter
        try:
            detail = self._act(cmd)
            outcome = "done"
        except ActionError as exc:
            detail, outcome = str(exc), "failed"
        app.emit("status", command.outcome_values(cmd, outcome, detail))

    def _refuse(self, reason):
        # type: (str) -> None
        self._refused += 1
        now = self.app.platform.monotonic_ms()
        if self._last_report is not None and now - self._last_report < REFUSAL_REPORT_MS:
            return
        self._last_report = now
        values = {"event": "command", "outcome": "refused", "detail": reason[:200]}  # type: dict[str, Any]
        values["refused"] = self._refused
        self._refused = 0
        self.app.emit("status", values)

    def _sources(self, names):
        # type: (list[str]) -> None
        missing = [n for n in names if n not in SOURCES]
        if missing:
            raise ActionError("not scheduled on this probe: %s" % ", ".join(missing))

    def _act(self, cmd):
        # type: (command.Command) -> str
        """What was done, for the status record; ActionError if this board cannot do it."""
        app = self.app
        args = cmd.args
        if cmd.action == command.SCHEDULE:
            intervals = args["intervals"]
            self._sources(list(intervals))
            app.settings.schedule.update(intervals)
            return ", ".join("%s every %ds" % (n, intervals[n]) for n in sorted(intervals))
        if cmd.action == command.MEASURE_NOW:
            self._sources(args["sources"])
            app.measure_soon(args["sources"])
            return "measuring %s now" % ", ".join(args["sources"])
        if cmd.action == command.REBIRTH:
            app.emit("status", {"event": "birth", "detail": "rebirth on command",
                                "schedule_s": dict(app.settings.schedule)})  # fmt: skip
            return "birth re-announced"
        if cmd.action == command.LOG_LEVEL:
            return "log level %s (the firmware logs at one level)" % args["level"]
        raise ActionError("no source on this probe measures towards servers")
