"""Board profiles (`boards/*.toml`): one declarative file per supported board, checked on load.

The schema (documented in docs/boards.md) is one table of known keys per section; a key that is
unknown, of the wrong type, out of range or meant for the other platform is an error naming the
file and the key, so a typo in a profile fails at load, not in the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.core.dialects import NAMES as DIALECT_NAMES
from agent.core.errors import InvalidInput

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
MAX_PROFILE_BYTES = 16 * 1024
PLATFORMS = ("linux", "esp32")
CHIPS = ("esp32", "esp32s3")
# [modem] source, who talks to the modem (docs/modems.md): our AT driver, or ModemManager (D-Bus)
MODEM_SOURCES = ("at", "modemmanager")
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 3000000)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ONT_TRANSPORT = re.compile(r"(udp://[A-Za-z0-9.:\[\]-]+:[0-9]{1,5}|eth:[A-Za-z0-9._-]{1,15})")


class BoardError(InvalidInput):
    """A profile that is missing or wrong; the message names the board and the key."""


Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None


def _text(value: Any) -> str | None:
    ok = isinstance(value, str) and 0 < len(value) <= 256
    return None if ok else "must be a non-empty text of at most 256 characters"


def _integer(lo: int, hi: int) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        return None if ok else f"must be an integer in {lo}..{hi}"

    return check


def _number(lo: float, hi: float) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi
        return None if ok else f"must be a number in {lo:g}..{hi:g}"

    return check


def _one_of(*choices: Any) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(map(str, choices))

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _argv(value: Any) -> str | None:
    ok = (
        isinstance(value, list)
        and 0 < len(value) <= 32
        and all(isinstance(a, str) and 0 < len(a) <= 256 for a in value)
    )
    return None if ok else 'must be a command as a list of texts, e.g. ["uhubctl", "-a", "cycle"]'


def _ont_transport(value: Any) -> str | None:
    ok = isinstance(value, str) and _ONT_TRANSPORT.fullmatch(value) is not None
    return None if ok else "must be udp://HOST:PORT or eth:IFACE"


_GPIO = _integer(0, 48)  # ESP32 GPIOs 0..39, ESP32-S3 0..48
_BOTH = ("linux", "esp32")

# section → key → (check, platforms where the key applies, required there)
SCHEMA: dict[str, dict[str, tuple[Check, tuple[str, ...], bool]]] = {
    "": {
        "description": (_text, _BOTH, True),
        "platform": (_one_of(*PLATFORMS), _BOTH, True),
    },
    "modem": {
        "source": (_one_of(*MODEM_SOURCES), ("linux",), False),
        "port": (_text, ("linux",), True),
        "uart": (_integer(1, 2), ("esp32",), True),
        "tx_pin": (_GPIO, ("esp32",), True),
        "rx_pin": (_GPIO, ("esp32",), True),
        "baud": (_one_of(*BAUDS), _BOTH, True),
        "dialect": (_one_of("auto", *DIALECT_NAMES), _BOTH, True),
        "boot_wait_s": (_number(0, 120), _BOTH, True),
        "power_cycle_command": (_argv, ("linux",), False),
        "power_key_pin": (_GPIO, ("esp32",), False),
        "power_key_pulse_ms": (_integer(50, 5000), ("esp32",), False),
        "power_key_active_high": (_flag, ("esp32",), False),
        "power_on_pin": (_GPIO, ("esp32",), False),
    },
    "ont": {
        # where the optics are read (docs/ont.md): the ONT over OMCI, an SFP stick's own
        # diagnostics, or the stick's readings through its shell; omci needs `transport`, sfp
        # `iface`, stick-shell `host` and `dialect` (its SSH user and key: the agent config)
        "source": (_one_of("omci", "sfp", "stick-shell"), ("linux",), False),
        "transport": (_ont_transport, _BOTH, False),
        "iface": (_text, ("linux",), False),
        "host": (_text, ("linux",), False),
        "dialect": (_one_of("lantiq", "realtek"), ("linux",), False),
        "timeout_s": (_number(0.05, 30), _BOTH, False),
        "retries": (_integer(0, 10), _BOTH, False),
        "extended": (_flag, _BOTH, False),
    },
    "esp32": {
        "chip": (_one_of(*CHIPS), ("esp32",), True),
        "psram": (_flag, ("esp32",), True),
    },
}
# Sections a platform must have (a board without a modem or ONT simply leaves those out).
REQUIRED_SECTIONS = {"linux": (), "esp32": ("esp32", "modem")}


def validate(name: str, data: dict[str, Any]) -> None:
    """Raise BoardError naming the first key of data that does not follow SCHEMA."""
    platform = data.get("platform")
    if platform not in PLATFORMS:
        raise BoardError(f"board {name}: platform must be one of {', '.join(PLATFORMS)}")
    for key in data:
        if key not in SCHEMA and key not in SCHEMA[""]:
            raise BoardError(f"board {name}: unknown key or section {key!r}")
    for needed in REQUIRED_SECTIONS[platform]:
        if needed not in data:
            raise BoardError(f"board {name}: a {platform} board needs a [{needed}] section")
    for section, keys in SCHEMA.items():
        table = data if section == "" else data.get(section)
        if table is None:
            continue
        where = f"board {name}: " + (f"{section}." if section else "")
        if not isinstance(table, dict):
            raise BoardError(f"board {name}: [{section}] must be a table")
        for key, value in table.items():
            if section == "" and key in SCHEMA:
                continue  # a section, checked in its own turn
            if key not in keys:
                raise BoardError(f"{where}{key} is not a known key")
            check, applies_to, _ = keys[key]
            if platform not in applies_to:
                raise BoardError(f"{where}{key} does not apply to {platform} boards")
            problem = check(value)
            if problem:
                raise BoardError(f"{where}{key} {problem}")
        for key, (_, applies_to, required) in keys.items():
            if required and platform in applies_to and key not in table:
                raise BoardError(f"{where}{key} is missing")
    ont = data.get("ont")
    if ont is not None:
        needs = {"sfp": ("iface",), "stick-shell": ("host", "dialect")}
        for needed in needs.get(ont.get("source", "omci"), ("transport",)):
            if needed not in ont:
                raise BoardError(f"board {name}: ont.{needed} is missing")
    modem = data.get("modem", {})
    if "power_key_pulse_ms" in modem and "power_key_pin" not in modem:
        raise BoardError(f"board {name}: modem.power_key_pulse_ms needs modem.power_key_pin")


class Board:
    """A loaded, validated profile: `name`, `platform`, and the raw sections (`modem`, `ont`, …)."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.data = data
        self.platform: str = str(data.get("platform", "linux"))
        self.description: str = str(data.get("description", name))

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise BoardError(f"board {self.name}: [{name}] must be a table")
        return value


def available() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def parse(name: str, text: str) -> Board:
    """A board from the text of its profile; raises BoardError."""
    if len(text.encode()) > MAX_PROFILE_BYTES:
        raise BoardError(f"board {name}: profile larger than {MAX_PROFILE_BYTES} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"board {name}: not valid TOML: {exc}") from None
    validate(name, data)
    return Board(name, data)


def load(name: str) -> Board:
    if not _NAME.fullmatch(name):
        raise BoardError(f"board name {name!r} must be 1..64 of a-z, 0-9, '-'")
    path = BOARDS_DIR / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(available())}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(f"board {name}: cannot read {path}: {exc}") from None
    return parse(name, text)
