"""The corpus of real modem answers (`tests/modem/captures/*.toml`), for tests and the emulator.

A capture holds the lines a real module printed, grouped by the command that produced them (see
the corpus README). `answers(capture, commands)` maps the commands a poll sends to those lines:
a block answers the command whose information-line prefix it shares (`AT+COPS?` answers the
combined `AT+COPS=3,2;+COPS?;...`, `AT+CGMI?` answers `AT+CGMI`), so the same capture drives the
parser tests and the emulator without anyone rewriting its lines.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.core import at
from agent.core.errors import InvalidInput

CAPTURE_DIR = Path(__file__).resolve().parents[2] / "tests" / "modem" / "captures"
_REQUIRED = ("dialect", "manufacturer", "model", "kind", "source", "where", "response", "expect")
KINDS = ("field", "test-data")


class CaptureError(InvalidInput):
    """A capture file that cannot be used; the text names the file and the fault."""


def _prefix(command: str) -> str:
    prefix = at.response_prefix(command)
    return prefix if prefix else command.upper()


def _check(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    for key in _REQUIRED:
        if key not in data:
            raise CaptureError(f"{path.name}: no {key!r}")
    if data["kind"] not in KINDS:
        raise CaptureError(f"{path.name}: kind must be one of {', '.join(KINDS)}")
    for block in data["response"]:
        if not isinstance(block.get("command"), str) or not isinstance(block.get("lines"), list):
            raise CaptureError(f"{path.name}: every [[response]] needs command and lines")
        if not all(isinstance(line, str) for line in block["lines"]):
            raise CaptureError(f"{path.name}: lines of {block['command']!r} must be text")
    data["id"] = path.stem
    return data


def load(name: str) -> dict[str, Any]:
    path = CAPTURE_DIR / f"{name}.toml"
    try:
        return _check(path, tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CaptureError(f"{path}: {exc}") from None


def names() -> list[str]:
    return sorted(path.stem for path in CAPTURE_DIR.glob("*.toml"))


def answers(capture: dict[str, Any], commands: list[str]) -> dict[str, list[str]]:
    """command -> the capture's lines that answer it; commands it has no lines for are left out."""
    out: dict[str, list[str]] = {}
    for command in commands:
        prefix = _prefix(command)
        for block in capture["response"]:
            if _prefix(block["command"]) == prefix:
                out.setdefault(command, []).extend(block["lines"])
    return out
