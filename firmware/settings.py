"""The device's settings file (`/qiyas.json`, written by `qiyas flash`), parsed with bounds.

JSON rather than TOML because MicroPython has a JSON parser and no TOML one; `qiyas flash`
composes it from the agent config and the board profile, both validated on the host already,
but the device checks it again: a file on flash is input like any other.
"""

import json

from agent.core.dialects import NAMES
from agent.core.errors import InvalidInput
from agent.core.record import valid_probe_id

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from typing import Any  # noqa: F401 - in type comments, unread by ruff

MAX_BYTES = 8192
MAX_OUTBOX = 400
# schedule name -> (default seconds, lowest allowed)
SCHEDULE = {"radio": (300, 1), "health": (3600, 1)}


class SettingsError(InvalidInput):
    """The settings file is wrong; the text names the key."""


def _pick(table, key, kinds, lo=None, hi=None, default=None, where=""):
    # type: (dict[str, Any], str, type | tuple[type, ...], float | None, float | None, Any, str) -> Any
    """table[key] (a JSON value, hence Any) when it is one of kinds and within lo..hi."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    value = table.get(key, default)
    name = where + key
    if value is None:
        raise SettingsError("%s is missing" % name)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise SettingsError("%s has the wrong type" % name)
    if (
        lo is not None
        and hi is not None
        and isinstance(value, (int, float))
        and not lo <= value <= hi
    ):
        raise SettingsError("%s must be in %s..%s" % (name, lo, hi))
    return value


def _table(data, key):
    # type: (dict[str, Any], str) -> dict[str, Any]
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError("%s must be an object" % key)
    return value


class Settings:
    def __init__(self, data):
        # type: (object) -> None
        if not isinstance(data, dict):
            raise SettingsError("settings must be a JSON object")
        probe = data.get("probe_id", "")
        if not valid_probe_id(probe):
            raise SettingsError("probe_id must be 1..64 of letters, digits, '.', '_', '-'")
        self.probe_id = probe  # type: str
        self.board = _pick(data, "board", str)  # type: str
        self.state_dir = _pick(data, "state_dir", str, default="/qiyas")  # type: str
        self.key_file = _pick(data, "key_file", str, default="/probe.key")  # type: str
        # Each record is a file, and littlefs gives a file of this size a 4 KiB block: 200 take
        # 800 KiB of a ~2 MiB filesystem, and hold ~15 hours of records through an outage.
        self.outbox_max_records = _pick(data, "outbox_max_records", int, 10, MAX_OUTBOX, 200)  # type: int
        self.ack_timeout_s = _pick(data, "ack_timeout_s", int, 1, 3600, 30)  # type: int
        self.watchdog_s = _pick(data, "watchdog_s", int, 10, 3600, 120)  # type: int
        # The controller's Ed25519 public key: commands are taken only when it is given.
        key = data.get("controller_key")
        self.controller_key = None  # type: bytes | None
        if key is not None:
            try:
                self.controller_key = bytes.fromhex(key) if isinstance(key, str) else b""
            except ValueError:
                self.controller_key = b""
            if len(self.controller_key) != 32:
                raise SettingsError("controller_key must be 64 hex digits (a public key)")
        # Bench use: every signed record also goes to the console, for the hardware tests.
        self.echo_records = _pick(data, "echo_records", bool, default=False)  # type: bool

        broker = _table(data, "broker")
        self.broker_host = _pick(broker, "host", str, where="broker.")  # type: str
        self.broker_port = _pick(broker, "port", int, 1, 65535, 1883, "broker.")  # type: int
        self.broker_tls = _pick(broker, "tls", bool, default=False, where="broker.")  # type: bool

        schedule = _table(data, "schedule")
        self.schedule = {}  # type: dict[str, int]
        for name in schedule:
            if name not in SCHEDULE:
                raise SettingsError("schedule.%s is not one of %s" % (name, ", ".join(SCHEDULE)))
        for name in SCHEDULE:
            default, lowest = SCHEDULE[name]
            self.schedule[name] = _pick(
                schedule, name, int, lowest, 7 * 86400, default, "schedule."
            )

        # The board's [modem] section as it is (checked by agent.boards on the host), plus the
        # host build's `port` and `power_signal_pid`.
        self.modem = _table(data, "modem")  # type: dict[str, Any]
        _pick(self.modem, "baud", int, 1200, 4000000, 115200, "modem.")
        _pick(self.modem, "boot_wait_s", (int, float), 0, 120, 20, "modem.")
        dialect = _pick(self.modem, "dialect", str, default="auto", where="modem.")
        if dialect != "auto" and dialect not in NAMES:
            raise SettingsError("modem.dialect must be auto or one of %s" % ", ".join(NAMES))


def parse(raw):
    # type: (bytes) -> Settings
    if len(raw) > MAX_BYTES:
        raise SettingsError("settings larger than %d bytes" % MAX_BYTES)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SettingsError("settings are not valid JSON: %s" % exc) from None
    return Settings(data)


def load(path):
    # type: (str) -> Settings
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SettingsError("cannot read %s: %s" % (path, exc)) from None
    return parse(raw)
